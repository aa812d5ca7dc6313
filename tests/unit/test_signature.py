"""The webhook signature rule, checked against a digest computed by hand."""

from __future__ import annotations

import hashlib
import hmac

from webhooks.signature import encrypt_plain_token, sign, signature_matches


def test_sign_matches_zoom_rule():
    body = b'{"event":"meeting.started"}'
    expected = hmac.new(b"secret", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()
    assert sign("secret", "1700000000", body) == "v0=" + expected


def test_any_configured_secret_matches():
    body = b"{}"
    sig = sign("new", "1", body)
    assert signature_matches(["old", "new"], "1", body, sig)
    assert not signature_matches(["old"], "1", body, sig)
    assert not signature_matches([], "1", body, sig)
    assert not signature_matches(["new"], "2", body, sig)


def test_url_validation_token():
    expected = hmac.new(b"k", b"plain", hashlib.sha256).hexdigest()
    assert encrypt_plain_token("k", "plain") == expected
