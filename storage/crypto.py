"""Field-level encryption of PHI at rest: AES-256-GCM (`cryptography`), keys from the environment.

Health numbers, version codes and birth dates are sealed one value at a time. A sealed value
is `nonce (12 bytes) || ciphertext+tag`; the field name is bound in as associated data, so a
ciphertext cannot be moved to another column unnoticed. Each row stores the *key id* (the first
16 hex digits of SHA-256 of the key) beside its ciphertexts, which lets `balint-bot keys rotate`
find and re-seal everything sealed under an older key.

Keys: `BALINT_DATA_KEY` is the current key, the urlsafe base64 text of 32 random bytes, made with

    python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"

To rotate, set the new key in `BALINT_DATA_KEY`, the old one in `BALINT_DATA_KEY_PREVIOUS`
(several old keys may be given, separated by commas), and run `balint-bot keys rotate`.
Without a current key PHI is refused (`DataKeyError`), never stored in clear.

Sealed *text* (`seal_text` / `open_text`) is the same AES-GCM value written as one ASCII
token, `<key id>.<urlsafe base64 of nonce and ciphertext>`, for a value that travels inside a
JSON document (a member's private answer to the bot, sealed by the webhook receiver before
the journal sees it) or sits in a text column beside no key-id column of its own.

`cryptography` is imported when a value is first sealed or opened, not with this module. It
takes 6.5 MiB of a process's resident memory, and most processes that import the keyring
never use it: a meeting worker keeps the sealed location answer as it came, unopened, and
the receiver seals only when a member answers the bot privately (`bot.safety_plan`).
`bench.memory` sums every process of `serve` (docs/benchmarks.md, "sixteenth round").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from phases.errors import BalintError

__all__ = ["DataKeyError", "Keyring", "generate_key", "key_id", "token_key_id"]

_NONCE_BYTES = 12


class DataKeyError(BalintError):
    """A data key is missing, malformed, unknown for a stored row, or a ciphertext is forged."""


def generate_key() -> str:
    """A fresh key in the text form `BALINT_DATA_KEY` expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def _decode(text: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise DataKeyError(f"{name} is not urlsafe base64") from None
    if len(raw) != 32:
        raise DataKeyError(f"{name} must decode to 32 bytes, got {len(raw)}")
    return raw


def token_key_id(token: str) -> str:
    """The id of the key that sealed a `Keyring.seal_text` token ("" if it is not one)."""
    head, dot, _ = token.partition(".")
    return head if dot and len(head) == 16 else ""


def key_id(raw: bytes) -> str:
    """The public id of a key: 16 hex digits of its SHA-256 (reveals nothing useful)."""
    return hashlib.sha256(b"balint-data-key:" + raw).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    """The current data key (if any) and older keys still accepted for decryption.

    Build with `Keyring.from_text(current, previous)`; seal with `seal`, open with `open`.
    """

    current: bytes | None
    previous: tuple[bytes, ...] = ()
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = ([self.current] if self.current is not None else []) + list(self.previous)
        object.__setattr__(self, "_by_id", {key_id(raw): raw for raw in keys})

    @classmethod
    def from_text(cls, current: str | None, previous: str | None = None) -> Keyring:
        """Parse `BALINT_DATA_KEY` and `BALINT_DATA_KEY_PREVIOUS` (comma-separated) values.

        Raises:
            DataKeyError: a key is not urlsafe base64 of 32 bytes.
        """
        now = _decode(current, "BALINT_DATA_KEY") if current else None
        older = tuple(
            _decode(part, "BALINT_DATA_KEY_PREVIOUS")
            for part in (previous or "").split(",")
            if part.strip()
        )
        return cls(current=now, previous=older)

    @property
    def has_current(self) -> bool:
        return self.current is not None

    @property
    def current_id(self) -> str:
        """Id of the current key. Raises DataKeyError without one."""
        return key_id(self._require_current())

    def known_ids(self) -> Iterable[str]:
        return self._by_id.keys()

    def _require_current(self) -> bytes:
        if self.current is None:
            raise DataKeyError(
                "PHI (health numbers, birth dates, clinical notes, the safety plan) needs a "
                "data key: set BALINT_DATA_KEY to urlsafe base64 of 32 random bytes (see "
                "docs/roster.md); PHI is never stored in clear"
            )
        return self.current

    def seal(self, plaintext: str, *, field_name: str) -> bytes:
        """Encrypt `plaintext` under the current key, bound to `field_name`."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # see the docstring

        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._require_current()).encrypt(
            nonce, plaintext.encode("utf-8"), field_name.encode("ascii")
        )
        return nonce + sealed

    def open(self, blob: bytes, *, field_name: str, sealed_with: str) -> str:
        """Decrypt a value sealed under key id `sealed_with`.

        Raises:
            DataKeyError: the key is not on this keyring, or the value was tampered with.
        """
        raw = self._by_id.get(sealed_with)
        if raw is None:
            raise DataKeyError(
                f"a row was sealed with key {sealed_with}, which is neither BALINT_DATA_KEY "
                "nor in BALINT_DATA_KEY_PREVIOUS"
            )
        from cryptography.exceptions import InvalidTag  # see the module docstring
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            clear = AESGCM(raw).decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], field_name.encode("ascii")
            )
        except InvalidTag:
            raise DataKeyError(f"a sealed {field_name} failed authentication") from None
        return clear.decode("utf-8")

    def seal_text(self, plaintext: str, *, field_name: str) -> str:
        """`seal` written as one ASCII token carrying its key id (see the module docstring)."""
        blob = self.seal(plaintext, field_name=field_name)
        return f"{self.current_id}.{base64.urlsafe_b64encode(blob).decode('ascii')}"

    def open_text(self, token: str, *, field_name: str) -> str:
        """Decrypt a `seal_text` token.

        Raises:
            DataKeyError: not a token, its key is not on this keyring, or it was tampered with.
        """
        head, _, body = token.partition(".")
        if not token_key_id(token):
            raise DataKeyError(f"a sealed {field_name} is not a sealed token")
        try:
            blob = base64.urlsafe_b64decode(body.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise DataKeyError(f"a sealed {field_name} is not a sealed token") from None
        if len(blob) <= _NONCE_BYTES:
            raise DataKeyError(f"a sealed {field_name} is not a sealed token")
        return self.open(blob, field_name=field_name, sealed_with=head)
