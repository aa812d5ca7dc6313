"""A small PDF writer for text documents (certificates), with no dependency beyond the stdlib.

Pure: lines of text in, PDF 1.4 bytes out. Letter pages, the PDF base-14 fonts Helvetica and
Helvetica-Bold (every reader has them, nothing is embedded) in WinAnsiEncoding; characters
outside it are written as `?`. Long lines are wrapped, pages break when full. The output is
deterministic (no creation date): the same lines give the same bytes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["Line", "text_pdf"]

_WIDTH: Final = 612  # US Letter, in points
_HEIGHT: Final = 792
_MARGIN: Final = 72


@dataclass(frozen=True, slots=True)
class Line:
    """One paragraph: its text, size in points, and whether it is bold."""

    text: str
    size: int = 11
    bold: bool = False


def _escape(text: str) -> bytes:
    encoded = text.encode("cp1252", errors="replace")
    return encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _pages(lines: Sequence[Line]) -> list[bytes]:
    """Content streams: each paragraph wrapped to the text width, pages filled top down."""
    streams: list[bytes] = []
    body: list[bytes] = []
    y = _HEIGHT - _MARGIN
    for line in lines:
        # Helvetica averages about half an em per character: a safe wrapping width
        width = max(20, int((_WIDTH - 2 * _MARGIN) / (line.size * 0.5)))
        pieces = textwrap.wrap(line.text, width=width) or [""]
        for piece in pieces:
            leading = int(line.size * 1.5)
            if y - leading < _MARGIN:
                streams.append(b"\n".join(body))
                body, y = [], _HEIGHT - _MARGIN
            y -= leading
            font = b"/F2" if line.bold else b"/F1"
            body.append(
                b"BT "
                + font
                + f" {line.size} Tf {_MARGIN} {y} Td (".encode()
                + _escape(piece)
                + b") Tj ET"
            )
    streams.append(b"\n".join(body))
    return streams


def text_pdf(lines: Sequence[Line], *, title: str) -> bytes:
    """A PDF document of `lines` (see the module docstring), titled `title`."""
    contents = _pages(lines)
    count = len(contents)
    first_page = 5
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{first_page + 2 * i} 0 R".encode() for i in range(count))
        + f"] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for index, stream in enumerate(contents):
        content_id = first_page + 2 * index + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_WIDTH} {_HEIGHT}] ".encode()
            + b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
            + f"/Contents {content_id} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(b"<< /Title (" + _escape(title) + b") /Producer (balint-bot) >>")
    info_id = len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)
