"""Raw webhook bytes to typed Zoom events, and what the journal needs to know about a body.

Pure functions, no I/O. Parsing happens only after the signature was checked on the raw
bytes (`webhooks.verify`). Two steps, so the receiver can journal a body that is JSON but does
not fit our models: `decode_json` (not JSON: `NotJsonError`, answered 400) and `parse_document`
(does not fit: `PayloadError`, journaled as unparsed). `describe` reads the journal's columns
from any JSON document on a best-effort basis, so it never fails.

The dedupe key: Zoom's retries are full duplicates of the original delivery and Zoom gives no
stable delivery id (`zoom-reference.md` §1.3), so the key is the event name, `event_ts` and a
SHA-256 of the document in canonical JSON (sorted keys, no whitespace). Two deliveries of the
same event therefore share a key even if their bytes differ in key order or spacing, while two
different events never do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from webhooks.errors import NotJsonError, PayloadError
from webhooks.models import EVENT_MODELS, UnknownEvent, ZoomEvent

__all__ = [
    "BodyInfo",
    "NotJsonError",
    "PayloadError",
    "decode_json",
    "dedupe_key",
    "describe",
    "parse_document",
    "parse_event",
]


def decode_json(body: bytes) -> Any:
    """The JSON document in `body`.

    Raises:
        NotJsonError: `body` is not UTF-8 JSON.
    """
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as bad:
        raise NotJsonError(f"body is not JSON ({type(bad).__name__})") from None


def parse_document(document: Any) -> ZoomEvent:
    """The typed event for a decoded JSON `document`.

    Raises:
        PayloadError: not a JSON object, no string `event`, or a known event whose body does
            not fit its model. The message names the failing fields, never their values.
    """
    if not isinstance(document, dict):
        raise PayloadError(f"body is a JSON {type(document).__name__}, not an object")
    name = document.get("event")
    if not isinstance(name, str) or not name:
        raise PayloadError("body has no event name")
    model = EVENT_MODELS.get(name, UnknownEvent)
    try:
        return model.model_validate(document)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '(body)'}: {err['msg']}"
            for err in invalid.errors(include_url=False, include_input=False)
        )
        raise PayloadError(f"{name}: {problems}") from None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyInfo:
    """What the journal records about a body, read without trusting its shape.

    Args:
        event: the event name, or "" if the body has none.
        event_ts: Zoom's `event_ts` (epoch milliseconds), or None.
        meeting_uuid: `payload.object.uuid`, or None if the body names no meeting instance.
        dedupe_key: see `dedupe_key`.
    """

    event: str
    event_ts: int | None
    meeting_uuid: str | None
    dedupe_key: str


def describe(document: Any) -> BodyInfo:
    """The journal columns of a decoded JSON `document`; never raises."""
    name, ts = _name_and_ts(document)
    uuid: str | None = None
    if isinstance(document, dict):
        payload = document.get("payload")
        obj = payload.get("object") if isinstance(payload, dict) else None
        raw_uuid = obj.get("uuid") if isinstance(obj, dict) else None
        if isinstance(raw_uuid, str) and raw_uuid:
            uuid = raw_uuid[:128]
    return BodyInfo(event=name, event_ts=ts, meeting_uuid=uuid, dedupe_key=dedupe_key(document))


def _name_and_ts(document: Any) -> tuple[str, int | None]:
    if not isinstance(document, dict):
        return "", None
    name = document.get("event")
    raw_ts = document.get("event_ts")
    ts = raw_ts if isinstance(raw_ts, int) and not isinstance(raw_ts, bool) else None
    if ts is not None and not -(2**63) <= ts < 2**63:
        ts = None
    return (name[:128] if isinstance(name, str) else ""), ts
