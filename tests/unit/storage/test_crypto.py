"""PHI sealing: AES-GCM round trip, field binding, tamper detection, key ids and rotation."""

from __future__ import annotations

import pytest

from storage.crypto import DataKeyError, Keyring, generate_key, key_id


def test_round_trip_and_fresh_nonce_each_time():
    ring = Keyring.from_text(generate_key())
    one = ring.seal("9876543217", field_name="health_number")
    two = ring.seal("9876543217", field_name="health_number")
    assert one != two
    assert b"9876543217" not in one
    assert ring.open(one, field_name="health_number", sealed_with=ring.current_id) == "9876543217"


def test_ciphertext_is_bound_to_its_field():
    ring = Keyring.from_text(generate_key())
    blob = ring.seal("1980-02-29", field_name="birth_date")
    with pytest.raises(DataKeyError, match="failed authentication"):
        ring.open(blob, field_name="health_number", sealed_with=ring.current_id)


def test_tampering_is_detected():
    ring = Keyring.from_text(generate_key())
    blob = bytearray(ring.seal("AB", field_name="version_code"))
    blob[-1] ^= 1
    with pytest.raises(DataKeyError):
        ring.open(bytes(blob), field_name="version_code", sealed_with=ring.current_id)


def test_previous_keys_open_old_rows_and_unknown_keys_are_named():
    old, new = generate_key(), generate_key()
    old_ring = Keyring.from_text(old)
    blob = old_ring.seal("9876543217", field_name="health_number")
    rotated = Keyring.from_text(new, f" {generate_key()}, {old}")
    assert rotated.open(blob, field_name="health_number", sealed_with=old_ring.current_id)
    with pytest.raises(DataKeyError, match=old_ring.current_id):
        Keyring.from_text(new).open(
            blob, field_name="health_number", sealed_with=old_ring.current_id
        )


def test_no_key_refuses_to_seal_with_a_clear_message():
    ring = Keyring.from_text(None)
    assert not ring.has_current
    with pytest.raises(DataKeyError, match="BALINT_DATA_KEY"):
        ring.seal("9876543217", field_name="health_number")


@pytest.mark.parametrize("text", ["not base64!!", "c2hvcnQ=", ""])
def test_malformed_keys_are_refused(text):
    if not text:
        assert not Keyring.from_text(text).has_current
        return
    with pytest.raises(DataKeyError, match="BALINT_DATA_KEY"):
        Keyring.from_text(text)


def test_key_id_is_stable_and_short():
    raw = bytes(range(32))
    assert key_id(raw) == key_id(raw)
    assert len(key_id(raw)) == 16
    assert key_id(raw) != key_id(bytes(32))
