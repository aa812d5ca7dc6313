"""`balint-bot keys rotate` and `balint-bot keys generate`: the PHI data key.

Rotation: put the new key in `BALINT_DATA_KEY` and the old one(s) in `BALINT_DATA_KEY_PREVIOUS`
(comma-separated), then run `keys rotate`; every sealed value is re-encrypted under the new
key in one transaction, after which the old key can be retired. `keys generate` prints a
fresh key (32 random bytes, urlsafe base64) to put in the environment.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.commands.db_cmd import keyring_from, open_session
from bot.config import Settings
from storage.absences import reseal_absences
from storage.billing.ledger import reseal_claims
from storage.crypto import generate_key
from storage.notes import reseal_notes
from storage.roster import reseal_all
from storage.safety import reseal_safety

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="the data key that encrypts PHI at rest")
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate", help="re-encrypt all PHI under BALINT_DATA_KEY (old keys: *_PREVIOUS)"
    )
    rotate.set_defaults(handler=_rotate)
    make = actions.add_parser("generate", help="print a new random data key")
    make.set_defaults(handler=_generate)


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    keyring = keyring_from(settings)
    with open_session(settings) as session:
        now = args.clock()
        count = reseal_all(session, keyring=keyring, now=now)
        claims = reseal_claims(session, keyring=keyring, now=now)
        clinical = reseal_notes(session, keyring=keyring)
        clinical += reseal_absences(session, keyring=keyring)
        clinical += reseal_safety(session, keyring=keyring)
    print(
        f"re-encrypted {count} member(s), {claims} claim(s) and {clinical} note(s), "
        f"reason(s), contact note(s), emergency contact(s) and location(s) under key "
        f"{keyring.current_id}"
    )
    return 0


def _generate(_args: argparse.Namespace, _settings: Settings) -> int:
    print(generate_key())
    return 0
