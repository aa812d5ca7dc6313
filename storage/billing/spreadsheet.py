"""`cell`: text for a CSV cell that a spreadsheet opens as text, never as a formula.

The worksheet and the CME reports are CSV files a physician or a billing agent opens in a
spreadsheet, and their cells hold names. A cell that begins with `=`, `+`, `-` or `@` is
taken as a formula by Excel, LibreOffice and Google Sheets (CSV injection), and so is one
that begins with a tab or a carriage return before such a character, or with the full-width
forms of those signs that some locales accept. Such a cell is written with a leading
apostrophe, which the spreadsheet shows as text and hides.
"""

from __future__ import annotations

__all__ = ["cell"]

_FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def cell(value: str) -> str:
    """`value`, with an apostrophe first if a spreadsheet would run it as a formula."""
    return "'" + value if value[:1] in _FORMULA_STARTS else value
