"""Raw webhook bytes to typed Zoom events, and what the journal needs to know about a body.

Pure functions, no I/O. Parsing happens only after the signature was checked on the raw
bytes (`webhooks.verify`). In steps, so the receiver can journal a body that is JSON but does
not fit our models: `decode_json` (not readable JSON: `NotJsonError`), `event_name` (not an
event: `PayloadError`) and `parse_document` (does not fit its event's model: `PayloadError`).
The receiver does the first two before it acknowledges and journals those failures as
unparsed; the full parse is the meeting worker's, which marks an entry that fails it unparsed
(`storage.journal.mark_unreadable`). `describe` reads the journal's columns from any JSON
document on a best-effort basis, so it never fails.

Whatever a signed body holds, nothing here raises anything but these two errors: bodies
nested deeper than `MAX_DEPTH` are refused by `decode_json` (so no later step can exhaust the
stack), numbers of any size are read, text that cannot be stored (NUL, lone surrogates,
control characters) is replaced in the columns, and `event_ts` outside years 1970-9999 is
not an event time. JSON is read as RFC 8259 allows (UTF-8, with or without a byte order
mark, or UTF-16/32); anything else is `NotJsonError`.

The dedupe key: Zoom's retries are full duplicates of the original delivery and Zoom gives no
stable delivery id (`zoom-reference.md` §1.3), so the key is the event name, `event_ts` and a
SHA-256 of the document in canonical JSON (sorted keys, no whitespace). Two deliveries of the
same event therefore share a key even if their bytes differ in key order or spacing, while two
different events never do. A body that is not JSON is keyed by the SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from storage.text import display_text
from webhooks.errors import NotJsonError, PayloadError
from webhooks.models import EVENT_MODELS, MAX_EVENT_TS, UnknownEvent, ZoomEvent

__all__ = [
    "MAX_DEPTH",
    "BodyInfo",
    "NotJsonError",
    "PayloadError",
    "column_text",
    "decode_json",
    "dedupe_key",
    "describe",
    "event_name",
    "is_known_event",
    "parse_document",
    "parse_event",
    "raw_dedupe_key",
]

#: Deepest nesting of arrays and objects accepted (Zoom's bodies are 4 to 5 levels deep).
MAX_DEPTH = 32


def decode_json(body: bytes) -> Any:
    """The JSON document in `body`.

    Raises:
        NotJsonError: `body` is not JSON in UTF-8 (or UTF-16/32), or is nested deeper than
            `MAX_DEPTH`; the reason never quotes the body.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as bad:
        raise NotJsonError(f"body is not JSON ({type(bad).__name__})") from None
    # Every level opens with a bracket, so a body with few brackets (Zoom's have about
    # ten) cannot nest deeper; counting them in C spares the ack path the walk below.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _deeper_than(document, MAX_DEPTH):
        raise NotJsonError(f"body is nested deeper than {MAX_DEPTH} levels")
    return document


def _deeper_than(document: Any, limit: int) -> bool:
    """True if arrays and objects nest more than `limit` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def event_name(document: Any) -> str:
    """The event name of a decoded JSON `document`: the envelope, all the receiver checks
    before journaling (the event's model is the worker's to check, `parse_document`).

    Raises:
        PayloadError: not a JSON object, or no string `event`.
    """
    if not isinstance(document, dict):
        raise PayloadError(f"body is a JSON {type(document).__name__}, not an object")
    name = document.get("event")
    if not isinstance(name, str) or not name:
        raise PayloadError("body has no event name")
    return name


def is_known_event(name: str) -> bool:
    """Whether `name` has a model (an event we process); other events are journaled inert."""
    return name in EVENT_MODELS


def parse_document(document: Any) -> ZoomEvent:
    """The typed event for a decoded JSON `document`.

    Raises:
        PayloadError: not a JSON object, no string `event`, or a known event whose body does
            not fit its model. The message names the failing fields, never their values.
    """
    name = event_name(document)
    model = EVENT_MODELS.get(name, UnknownEvent)
    try:
        return model.model_validate(document)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '(body)'}: {err['msg']}"
            for err in invalid.errors(include_url=False, include_input=False)
        )
        raise PayloadError(column_text(f"{name}: {problems}", 2000)) from None


def parse_event(body: bytes) -> ZoomEvent:
    """The typed event in a raw webhook `body` (call only after verifying its signature).

    Raises:
        NotJsonError: the body is not JSON.
        PayloadError: the body is JSON but does not fit the model of its event.
    """
    return parse_document(decode_json(body))


def dedupe_key(document: Any) -> str:
    """The key under which a delivery is journaled; equal for Zoom's retries of one event."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    info_name, info_ts = _name_and_ts(document)
    return f"{info_name[:80]}:{info_ts if info_ts is not None else '-'}:{digest}"


def raw_dedupe_key(body: bytes) -> str:
    """The dedupe key of a body that is not JSON: the SHA-256 of its bytes."""
    return f"-:-:{hashlib.sha256(body).hexdigest()}"


def column_text(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, with what no database column takes (NUL, lone
    surrogates) and control characters replaced by U+FFFD (`storage.text`)."""
    return display_text(value[:limit])


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyInfo:
    """What the journal records about a body, read without trusting its shape.

    Args:
        event: the event name, or "" if the body has none.
        event_ts: Zoom's `event_ts` (epoch milliseconds), or None.
        meeting_uuid: `payload.object.uuid`, or None if the body names no meeting instance.
        dedupe_key: see `dedupe_key`.
        meeting_id: `payload.object.id` as text (the meeting number of meeting events), or
            None if the body has none.
    """

    event: str
    event_ts: int | None
    meeting_uuid: str | None
    dedupe_key: str
    meeting_id: str | None = None


def describe(document: Any) -> BodyInfo:
    """The journal columns of a decoded JSON `document`; never raises."""
    name, ts = _name_and_ts(document)
    uuid: str | None = None
    meeting_id: str | None = None
    if isinstance(document, dict):
        payload = document.get("payload")
        obj = payload.get("object") if isinstance(payload, dict) else None
        if isinstance(obj, dict):
            raw_uuid = obj.get("uuid")
            if isinstance(raw_uuid, str) and raw_uuid:
                uuid = column_text(raw_uuid, 128)
            meeting_id = _id_text(obj.get("id"))
    return BodyInfo(
        event=name,
        event_ts=ts,
        meeting_uuid=uuid,
        dedupe_key=dedupe_key(document),
        meeting_id=meeting_id,
    )


def _id_text(value: Any) -> str | None:
    """Zoom sends `payload.object.id` as a number or a string; anything else is no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)[:64]
    if isinstance(value, str) and value.strip():
        return column_text(value.strip(), 64)
    return None


def _name_and_ts(document: Any) -> tuple[str, int | None]:
    if not isinstance(document, dict):
        return "", None
    name = document.get("event")
    raw_ts = document.get("event_ts")
    ts = raw_ts if isinstance(raw_ts, int) and not isinstance(raw_ts, bool) else None
    if ts is not None and not 0 <= ts <= MAX_EVENT_TS:
        ts = None
    return (column_text(name, 128) if isinstance(name, str) else ""), ts
