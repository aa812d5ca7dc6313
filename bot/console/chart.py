"""The attendance chart: each member's share of the module's sessions against one third.

Server-rendered SVG (no JavaScript): one horizontal bar per member, a dashed line at one
third (the group's rule), bars under the line drawn in the warning colour and labelled so
that colour is never the only sign. Pure; names are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from storage.attendance import ModuleStanding

__all__ = ["attendance_chart"]

_ROW = 28
_LABEL = 140
_BAR = 260
_RIGHT = 90
_TOP = 28


def attendance_chart(standings: Sequence[ModuleStanding], *, module: str) -> str:
    """An `<svg>` element charting `standings` (see the module docstring)."""
    width = _LABEL + _BAR + _RIGHT
    height = _TOP + _ROW * max(1, len(standings)) + 8
    third = _LABEL + _BAR / 3
    under = sum(1 for s in standings if s.under_third)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">Attendance in module {escape(module)}</title>',
        f'<desc id="chart-desc">Share of the sessions held that each member attended; the '
        f"dashed line is one third. {under} of {len(standings)} members are under it.</desc>",
        f'<text x="{third:.1f}" y="14" class="chart-axis" text-anchor="middle">1/3</text>',
    ]
    for index, standing in enumerate(standings):
        y = _TOP + index * _ROW
        length = _BAR * min(1.0, max(0.0, standing.rate))
        css = "bar under" if standing.under_third else "bar"
        label = f"{standing.attended}/{standing.held}" + (" under" if standing.under_third else "")
        name = escape(standing.name)
        parts.append(
            f"<g><title>{name}: {standing.attended} of {standing.held} sessions "
            f"({standing.rate:.0%}){' - under one third' if standing.under_third else ''}</title>"
            f'<text x="{_LABEL - 8}" y="{y + 17}" text-anchor="end" class="chart-name">'
            f"{name}</text>"
            f'<rect x="{_LABEL}" y="{y + 5}" width="{_BAR}" height="16" class="track"/>'
            f'<rect x="{_LABEL}" y="{y + 5}" width="{length:.1f}" height="16" class="{css}"/>'
            f'<text x="{_LABEL + _BAR + 8}" y="{y + 17}" class="chart-value">{label}</text></g>'
        )
    if not standings:
        parts.append(f'<text x="{_LABEL}" y="{_TOP + 17}">No members yet.</text>')
    bottom = _TOP + _ROW * max(1, len(standings))
    parts.append(
        f'<line x1="{third:.1f}" y1="{_TOP - 6}" x2="{third:.1f}" y2="{bottom}" class="third"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
