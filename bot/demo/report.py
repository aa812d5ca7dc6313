"""The demo's printed output: a coloured timeline, the attendance table and where the files are.

Pure formatting: records and the report go in, text comes out. Colour is ANSI escapes, used
only when asked (the command asks when stdout is a terminal, or with `--color`). Webhook
lines are many and repetitive, so they are left out unless `webhooks` is true; the summary
still counts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.demo.session import AttendanceRow, DemoReport
from bot.simulation.timeline import format_offset

__all__ = ["Palette", "render_attendance", "render_records", "render_summary"]

_RESET = "\x1b[0m"
_STYLES = {
    "phase": "\x1b[1;35m",
    "action": "\x1b[32m",
    "refused": "\x1b[1;31m",
    "person": "\x1b[36m",
    "zoom": "\x1b[2m",
    "head": "\x1b[1m",
    "warn": "\x1b[33m",
}


class Palette:
    """Wraps text in a style's colour, or leaves it alone when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        if not self.color:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"


def _describe(record: Mapping[str, Any]) -> tuple[str, str]:
    """The style and text of one timeline record."""
    kind = record["kind"]
    if kind == "phase":
        return "phase", f"== {str(record['to']).upper()} ==  (from {record['from']})"
    if kind == "zoom":
        name = record.get("name")
        return "zoom", f"webhook {record['event']}" + (f" ({name})" if name else "")
    if kind == "person":
        text = f"{record['name']} {str(record['do']).replace('_', ' ')}"
        if record["do"] == "say":
            text += f" ({record['to']}): {record['text']}"
        return "person", text + ("" if record["ok"] else "  [Zoom did not allow it]")
    text = str(record["action"])
    if record.get("target"):
        text += f" {record['target']}"
    if record["action"] == "send_chat":
        text += f" -> {record['to']}: {record['text']}"
    if record["action"] == "allow_self_media":
        text += f" unmute={record.get('unmute')} video={record.get('video')}"
    if not record["ok"]:
        return "refused", text + f"  REFUSED ({record.get('error', '')})"
    return "action", text


def render_records(
    records: Iterable[Mapping[str, Any]], *, palette: Palette, webhooks: bool = False
) -> list[str]:
    """Timeline lines for timed records (attendance and summary records are skipped)."""
    lines: list[str] = []
    for record in records:
        if "t" not in record or (record["kind"] == "zoom" and not webhooks):
            continue
        style, text = _describe(record)
        label = {"phase": "phase", "zoom": "zoom", "person": "people"}.get(style, "bot")
        lines.append(f"{format_offset(record['t'])}  {label:<6} {palette(style, text)}")
    return lines


def _clock(offset: float | None) -> str:
    return "-" if offset is None else format_offset(offset).strip()


def render_attendance(
    rows: Sequence[AttendanceRow],
    *,
    palette: Palette,
    zoom_minutes: Mapping[str, float],
    leave_out: Iterable[str] = (),
) -> list[str]:
    """The stored attendance as a table, with the simulated Zoom's own minutes beside it.

    Args:
        rows: the service's finalised attendance.
        palette: colours.
        zoom_minutes: name -> minutes in the meeting per the simulator's presence log.
        leave_out: names not to list (the bot itself).
    """
    skip = set(leave_out)
    shown = [row for row in rows if row.name not in skip]
    order = {"facilitator": 0, "member": 1, "guest": 2}
    shown.sort(key=lambda r: (order.get(r.role, 3), r.first_join is None, r.first_join or 0.0))
    width = max([len("name")] + [len(row.name) for row in shown])
    head = (
        f"  {'name':<{width}}  {'role':<11} {'minutes':>7} {'waiting':>7}  "
        f"{'first in':>8} {'last out':>8}  {'zoom':>6}  notes"
    )
    lines = [palette("head", "Attendance (stored by the service; minutes in the meeting)"), head]
    for row in shown:
        notes = []
        if row.late:
            notes.append("late")
        if not row.present:
            notes.append("not present")
        if row.first_join is None and row.waiting_minutes:
            notes.append("held in the waiting room, never admitted")
        zoom = zoom_minutes.get(row.name)
        agrees = zoom is not None and abs(zoom - row.minutes) <= 1.0
        if zoom is not None and not agrees:
            notes.append(palette("warn", "differs from Zoom"))
        zoom_text = "-" if zoom is None else f"{zoom:.1f}"
        lines.append(
            f"  {row.name:<{width}}  {row.role:<11} {row.minutes:>7} {row.waiting_minutes:>7}  "
            f"{_clock(row.first_join):>8} {_clock(row.last_leave):>8}  {zoom_text:>6}  "
            + ", ".join(notes)
        )
    return lines


def render_summary(report: DemoReport, *, palette: Palette) -> list[str]:
    """Figures and the files the run wrote."""
    run = report.run
    ok = run.webhooks_failed == 0
    delivered = (
        f"{run.webhooks_sent} webhooks signed and posted over HTTP to {run.url}, "
        + ("all answered 200" if ok else palette("refused", f"{run.webhooks_failed} failed"))
        + f"; {run.journaled} journaled"
    )
    actions = [r for r in run.timeline.records if r["kind"] == "action"]
    refused = sum(1 for r in actions if not r["ok"])
    lines = [
        palette("head", "Summary"),
        f"  {delivered}",
        f"  {len(actions)} bot actions carried out in the simulated meeting"
        + (f", {refused} refused by Zoom" if refused else ""),
        f"  phases: {' -> '.join(run.phases)}",
        "",
        palette("head", "Files"),
        f"  output directory   {report.out_dir}",
        f"  database (SQLite)  {report.database}",
    ]
    if report.worksheet is not None:
        lines.append(
            f"  billing worksheet  {report.worksheet}  ({report.worksheet_rows} rows, "
            "owner-only permissions: it holds synthetic PHI)"
        )
    else:
        lines.append(palette("warn", f"  billing worksheet  not written: {report.worksheet_error}"))
    if report.generated_key:
        lines.append(
            "  data key           a throw-away key made for this run (BALINT_DATA_KEY was not "
            "set); the people and health numbers are synthetic"
        )
    return lines
