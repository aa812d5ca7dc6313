"""Signature and freshness checks on the raw bytes, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.zoom_signing import sign, signed_headers
from webhooks.verify import SignatureError, signing_secret, verify_request

NOW = datetime(2026, 3, 4, 17, 30, tzinfo=UTC)
BODY = b'{"event":"meeting.started","event_ts":1}'
SECRETS = ["first", "second"]


def _verify(headers: dict[str, str], body: bytes = BODY, **kw: object) -> None:
    options: dict[str, object] = {"secrets": SECRETS, "now": NOW, "window_seconds": 7200} | kw
    verify_request(headers, body, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", SECRETS)
def test_either_rotated_secret_is_accepted_and_identified(secret: str) -> None:
    headers = signed_headers(BODY, secret=secret, at=NOW)
    _verify(headers)
    assert signing_secret(headers, BODY, secrets=SECRETS) == secret


def test_header_names_are_case_insensitive() -> None:
    headers = {k.upper(): v for k, v in signed_headers(BODY, secret="first", at=NOW).items()}
    _verify(headers)


def _reason(headers: dict[str, str], body: bytes = BODY, **kw: object) -> str:
    with pytest.raises(SignatureError) as refused:
        _verify(headers, body, **kw)
    return refused.value.reason


def test_refusal_reasons() -> None:
    good = signed_headers(BODY, secret="first", at=NOW)
    ts = good["x-zm-request-timestamp"]
    assert _reason({}) == "missing signature headers"
    assert _reason({"x-zm-request-timestamp": ts}) == "missing signature headers"
    assert _reason({"x-zm-signature": good["x-zm-signature"]}) == "missing signature headers"
    assert _reason(good | {"x-zm-request-timestamp": "-5"}) == "malformed timestamp"
    assert _reason(good | {"x-zm-request-timestamp": "١٢٣"}) == "malformed timestamp"
    assert _reason(good, BODY + b"\n") == "signature mismatch"
    assert _reason(signed_headers(BODY, secret="third", at=NOW)) == "signature mismatch"
    assert (
        _reason(good | {"x-zm-signature": good["x-zm-signature"].upper()}) == "signature mismatch"
    )
    assert _reason(good, secrets=[]) == "no secret configured"
    assert _reason(good, secrets=[""]) == "no secret configured"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(seconds=-7200), True),
        (timedelta(seconds=-7201), False),
        (timedelta(seconds=300), True),
        (timedelta(seconds=301), False),
    ],
)
def test_freshness_window(offset: timedelta, accepted: bool) -> None:
    headers = signed_headers(BODY, secret="second", at=NOW + offset)
    if accepted:
        _verify(headers)
    else:
        expected = "timestamp in the future" if offset > timedelta(0) else "timestamp too old"
        assert _reason(headers) == expected


def test_window_is_configurable() -> None:
    headers = signed_headers(BODY, secret="first", at=NOW - timedelta(minutes=10))
    _verify(headers, window_seconds=3600)
    assert _reason(headers, window_seconds=300) == "timestamp too old"


def test_helper_agrees_with_zooms_documented_example_shape() -> None:
    signature = sign(b"{}", 1700000000, "s")
    assert signature.startswith("v0=") and len(signature) == 3 + 64
