"""The exports the CLI wrote, offered for download from the group's exports folder.

A signed-in facilitator is offered their group's folder: `[console] exports_dir` of the
settings narrowed to the group (`Settings.for_group`), which is the group's own
`exports_dir`, else the console's in a service of that one group, else none.

The export commands write owner-only files (mode 0600, `storage.billing.private_file`) to
the folder given with `--out`. The console lists that one folder (no sub-folders, no
symbolic links) and offers a file only if it still is what the exports make: a regular file
owned by the user the console runs as, readable by no one else, with an export's name (a
claims file `H?nnnnnn.nnn`, or a CSV). Anything else is listed with the reason it is not
offered, so the physician can see what to fix. A download names a file of the listing by its
name only, is opened without following links and re-checked on the open descriptor.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import BalintError

__all__ = ["DownloadError", "ExportFile", "list_exports", "read_export"]

_CLAIMS = re.compile(r"^H[A-L]\d{6}\.\d{3}$")
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
_LARGEST = 50 * 1024 * 1024


class DownloadError(BalintError):
    """The file asked for is not an export the console offers (the message says why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportFile:
    """One file of the exports folder."""

    name: str
    kind: str
    size: int
    modified: datetime
    offered: bool
    why_not: str


def _kind(name: str) -> str | None:
    if _CLAIMS.match(name):
        return "claims file"
    lower = name.lower()
    if lower.endswith(".csv"):
        if "cme" in lower:
            return "CME hours"
        return "billing worksheet" if "worksheet" in lower or "billing" in lower else "CSV"
    return None


def _refusal(info: os.stat_result) -> str:
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_uid != os.geteuid():
        return "owned by another user"
    if info.st_mode & 0o077:
        return "readable by others: make it owner-only (chmod 600)"
    if info.st_size > _LARGEST:
        return "larger than an export"
    return ""


def list_exports(folder: Path) -> tuple[ExportFile, ...]:
    """The export files in `folder`, newest first (empty if the folder is missing)."""
    found: list[ExportFile] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return ()
    for entry in entries:
        kind = _kind(entry.name)
        if kind is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        why = "a symbolic link" if entry.is_symlink() else _refusal(info)
        found.append(
            ExportFile(
                name=entry.name,
                kind=kind,
                size=info.st_size,
                modified=datetime.fromtimestamp(info.st_mtime, UTC),
                offered=not why,
                why_not=why,
            )
        )
    return tuple(sorted(found, key=lambda f: (f.modified, f.name), reverse=True))


def read_export(folder: Path, name: str) -> bytes:
    """The content of the offered export `name` in `folder`.

    Raises:
        DownloadError: no such export, or it is not offered (see `list_exports`).
    """
    listed = {f.name: f for f in list_exports(folder)}
    chosen = listed.get(name)
    if chosen is None or "/" in name or name in (".", ".."):
        raise DownloadError("no such export")
    if not chosen.offered:
        raise DownloadError(f"{name} is not offered: {chosen.why_not}")
    try:
        descriptor = os.open(folder / name, _FLAGS)
    except OSError as failed:
        raise DownloadError(f"{name} cannot be opened ({failed.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        why = _refusal(os.fstat(handle.fileno()))
        if why:
            raise DownloadError(f"{name} is not offered: {why}")
        return handle.read(_LARGEST + 1)[:_LARGEST]
