"""Logging for `balint-bot serve`: stdlib logging, text for people or JSON for collectors.

`configure_logging(settings.log)` installs one handler on the root logger. With
`format = "json"` each record is one JSON object with the time, level, logger, message and
the structured fields modules pass in `extra=` (`meeting_id`, `phase`, `event_type`,
`delivery_id`, ...). PHI and chat text never belong in a log: as a second line of defence,
extra fields whose name suggests them (health numbers, birth dates, e-mail, message text,
bodies, payloads) are dropped by the formatter whatever a caller passes.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from bot.config import LogSettings

__all__ = ["JsonFormatter", "configure_logging", "safe_extras"]

#: Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
#: Extra field names that are never written (PHI, contact data, chat text, raw bodies).
_FORBIDDEN = re.compile(
    r"health|(^|_)hin($|_)|birth|(^|_)dob($|_)|email|e_mail|text|content|body|payload|secret|token|password",
    re.IGNORECASE,
)


def safe_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of `record` that may be logged, JSON-safe."""
    fields: dict[str, Any] = {}
    for name, value in vars(record).items():
        if name in _STANDARD or name.startswith("_") or _FORBIDDEN.search(name):
            continue
        fields[name] = value if isinstance(value, str | int | float | bool | None) else str(value)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message and the safe extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(safe_extras(record))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, sort_keys=False)


class _TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` with the same safe extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = safe_extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def configure_logging(settings: LogSettings) -> logging.Handler:
    """Install the configured formatter on the root logger; returns the handler installed.

    Calling it again replaces the handler it installed before (tests and restarts).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_balint", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler._balint = True  # type: ignore[attr-defined]
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.level)
    return handler
