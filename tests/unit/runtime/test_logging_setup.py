"""The log formatter: structured JSON fields, and PHI or chat text never written."""

from __future__ import annotations

import io
import json
import logging

from bot.config import LogSettings
from bot.logging_setup import JsonFormatter, configure_logging


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.runtime", logging.INFO, __file__, 1, "event fed", None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_carries_structured_fields_and_drops_phi_and_chat_text() -> None:
    line = JsonFormatter().format(
        _record(
            meeting_id="4118UHIiRCAAAtBlDkcVyw==",
            phase="meditation",
            event_type="meeting.participant_joined",
            delivery_id=17,
            health_number="9876543217",
            birth_date="1970-01-01",
            text="my patient said ...",
            message_content="private",
            email="someone@example.org",
        )
    )
    entry = json.loads(line)
    assert entry["message"] == "event fed"
    assert entry["level"] == "INFO"
    assert entry["meeting_id"] == "4118UHIiRCAAAtBlDkcVyw=="
    assert entry["phase"] == "meditation"
    assert entry["delivery_id"] == 17
    for leaked in ("9876543217", "1970-01-01", "my patient", "private", "example.org"):
        assert leaked not in line


def test_configure_logging_switches_format_and_replaces_its_handler() -> None:
    root = logging.getLogger()
    level = root.level
    try:
        first = configure_logging(LogSettings(format="json", level="DEBUG"))
        second = configure_logging(LogSettings(format="text", level="INFO"))
        assert first not in root.handlers
        assert second in root.handlers
        assert isinstance(first.formatter, JsonFormatter)
        stream = io.StringIO()
        assert isinstance(second, logging.StreamHandler)
        second.setStream(stream)
        logging.getLogger("bot.test").info("hello", extra={"phase": "social", "text": "no"})
        assert "phase=social" in stream.getvalue()
        assert "text=" not in stream.getvalue()
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_balint", False)]:
            root.removeHandler(handler)
        root.setLevel(level)
