"""The record of a simulated session, as JSON lines or as a readable timeline.

Records, in time order (`t` = seconds from the scheduled start):

- `{"t", "kind": "phase", "from", "to"}` for each phase change;
- `{"t", "kind": "action", "action", "target", "ok"[, "error"]}` for each meeting action the
  bot carried out; `send_chat` adds `"to"` (everyone | NAME | facilitators | waiting_room)
  and `"text"`; `allow_self_media` adds `"unmute"` / `"video"`;
- `{"t", "kind": "zoom", "event", "name"}` for each webhook Zoom would send (`name` is the
  participant or chat sender; absent for meeting events);
- `{"t", "kind": "person", "name", "do", "ok"}` for each scenario event (with `"text"` and
  `"to"` for say); `ok` is false when Zoom did not let it happen (e.g. unmuting while
  self-unmute is forbidden);
- then one `{"kind": "attendance", "name", "role", "minutes", "first_join", "last_leave",
  "late"}` per scenario person, and one `{"kind": "summary", ...}`.

Attendance comes from the simulated meeting's own presence log (minutes in the meeting
proper, not the waiting room, rejoins summed), so it is an independent check on whatever the
bot or the storage layer derives from webhooks. `late` means the person first arrived
(waiting room or meeting) after the scheduled start.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.meeting.simulated import Presence

__all__ = ["Timeline", "attendance_records", "format_offset"]


def format_offset(seconds: float) -> str:
    """Seconds from the start as a signed `[-]M:SS` clock (e.g. -12:00, 10:00, 105:30)."""
    sign = "-" if seconds < 0 else ""
    whole = int(round(abs(seconds)))
    return f"{sign}{whole // 60}:{whole % 60:02d}".rjust(7)


@dataclass(slots=True)
class Timeline:
    """An append-only list of records of one run, relative to `start`."""

    start: datetime
    records: list[dict[str, Any]] = field(default_factory=list)

    def offset(self, at: datetime) -> float:
        """`at` as seconds from the scheduled start."""
        return round((at - self.start).total_seconds(), 3)

    def add(self, at: datetime, kind: str, **fields: Any) -> dict[str, Any]:
        """Append a timed record and return it."""
        record: dict[str, Any] = {"t": self.offset(at), "kind": kind, **fields}
        self.records.append(record)
        return record

    def add_untimed(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append a record without `t` (attendance, summary)."""
        record: dict[str, Any] = {"kind": kind, **fields}
        self.records.append(record)
        return record

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every record of one kind, in order."""
        return [r for r in self.records if r["kind"] == kind]

    def to_jsonl(self) -> str:
        """One JSON object per line."""
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records)

    def to_text(self) -> str:
        """The same records as a readable timeline."""
        lines: list[str] = []
        attendance = self.of_kind("attendance")
        for record in self.records:
            kind = record["kind"]
            if kind in ("attendance", "summary"):
                continue
            lines.append(f"{format_offset(record['t'])}  {kind:<7} {_describe(record)}")
        if attendance:
            lines.append("")
            lines.append("Attendance (minutes in the meeting, waiting room excluded)")
            width = max(len(r["name"]) for r in attendance)
            for r in attendance:
                first = "-" if r["first_join"] is None else format_offset(r["first_join"]).strip()
                last = "-" if r["last_leave"] is None else format_offset(r["last_leave"]).strip()
                late = "  late" if r["late"] else ""
                lines.append(
                    f"  {r['name']:<{width}}  {r['role']:<11} {r['minutes']:6.1f} min  "
                    f"first {first:>7}  last {last:>7}{late}"
                )
        for summary in self.of_kind("summary"):
            lines.append("")
            lines.append(
                "Summary: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "kind")
            )
        return "\n".join(lines) + "\n"


def _describe(record: dict[str, Any]) -> str:
    kind = record["kind"]
    if kind == "phase":
        return f"{record['from']} -> {record['to']}"
    if kind == "zoom":
        name = record.get("name")
        return str(record["event"]) + (f"  ({name})" if name else "")
    if kind == "person":
        text = f"{record['name']} {record['do']}"
        if record["do"] == "say":
            text += f" to {record['to']}: {record['text']}"
        return text + ("" if record["ok"] else "  [no effect]")
    if kind == "action":
        text = str(record["action"])
        if record.get("target"):
            text += f" {record['target']}"
        if record["action"] == "send_chat":
            text += f" to {record['to']}: {record['text']}"
        if record["action"] == "allow_self_media":
            text += f" unmute={record.get('unmute')} video={record.get('video')}"
        if not record["ok"]:
            text += f"  REFUSED ({record.get('error', '')})"
        return text
    return json.dumps(record)


def attendance_records(
    presence: Sequence[Presence],
    *,
    persons: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
) -> list[dict[str, Any]]:
    """Attendance per person from the meeting's presence log.

    Args:
        presence: the simulated meeting's stays.
        persons: `(name, role)` for each scenario person, in scenario order.
        start: the scheduled start (offsets and lateness are relative to it).
        end: closes stays still open (the end of the run).
    """
    records: list[dict[str, Any]] = []
    for name, role in persons:
        stays = [s for s in presence if s.handle == name]
        in_meeting = [s for s in stays if s.place == "meeting"]
        seconds = sum(((s.end or end) - s.start).total_seconds() for s in in_meeting)
        first_arrival = min((s.start for s in stays), default=None)
        records.append(
            {
                "kind": "attendance",
                "name": name,
                "role": role,
                "minutes": round(seconds / 60, 2),
                "first_join": _offset(min((s.start for s in in_meeting), default=None), start),
                "last_leave": _offset(max((s.end or end for s in in_meeting), default=None), start),
                "late": None if first_arrival is None else first_arrival > start,
            }
        )
    return records


def _offset(at: datetime | None, start: datetime) -> float | None:
    return None if at is None else round((at - start).total_seconds(), 3)
