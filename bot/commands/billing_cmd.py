"""`balint-bot billing status|correct|resubmit|fees`: what waits on whom, and acting on it.

- `status`: every claim not yet replaced and every recent session not yet claimed, grouped
  by who must act (the physician, the next export, the attendance, the Ministry).
- `correct CLAIM [--diagnostic-code NNN] [--note TEXT]`: release a rejected claim once
  something in it was corrected (refused when the rebuilt claim is unchanged or invalid).
- `resubmit CLAIM [--note TEXT]`: release a rejected claim to be sent again as it is.
- `fees import FILE`: load a Schedule of Benefits fee file; `fees list`: the fees in use.

Prints accounting numbers, session and member ids, codes and amounts; never PHI.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.commands.db_cmd import keyring_from, open_session
from bot.config import Settings
from bot.errors import ConfigError
from bot.groups import add_group_option
from storage.billing.fee_store import fee_table, import_fee_schedule
from storage.billing.ledger import (
    StatusRow,
    billing_status,
    correct_claim,
    mark_for_resubmission,
)

__all__ = ["register"]

_HEADINGS = {
    "physician": "waiting on the physician (correct or resubmit; `billing correct CLAIM ...`)",
    "export": "waiting on the next `export claims`",
    "attendance": "waiting on the attendance (finalise or rebuild it)",
    "ministry": "waiting on the Ministry (sent; no error report names them)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("billing", help="OHIP claims: status, corrections, fees")
    actions = parser.add_subparsers(dest="billing_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="what waits on whom")
    add_group_option(status)
    status.set_defaults(handler=_status)

    correct = actions.add_parser(
        "correct", help="release a rejected claim after correcting it (roster, code, ...)"
    )
    correct.add_argument("claim", help="the claim's 8-digit accounting number")
    correct.add_argument(
        "--diagnostic-code", help="the 3-digit diagnostic code this claim carries instead"
    )
    correct.add_argument("--note", default="", help="what was corrected (kept with the claim)")
    add_group_option(correct)
    correct.set_defaults(handler=_correct)

    resubmit = actions.add_parser(
        "resubmit", help="release a rejected claim to be sent again unchanged"
    )
    resubmit.add_argument("claim", help="the claim's 8-digit accounting number")
    resubmit.add_argument("--note", default="", help="why it goes again (kept with the claim)")
    resubmit.set_defaults(handler=_resubmit)

    fees = actions.add_parser("fees", help="the unit fees claims are priced with")
    fee_actions = fees.add_subparsers(dest="fees_action", metavar="ACTION", required=True)
    load = fee_actions.add_parser("import", help="load a Schedule of Benefits fee file")
    load.add_argument("file", type=Path, help="CSV: code,specialty,band,unit_fee_cents,...")
    load.set_defaults(handler=_fees_import)
    listing = fee_actions.add_parser("list", help="the fees known, with source and date")
    listing.set_defaults(handler=_fees_list)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        rows = billing_status(
            session,
            group_name=settings.group.name,
            timezone=settings.group.timezone,
            now=args.clock(),
        )
    if not rows:
        print("nothing waits: no claim written and no recent session")
        return 0
    for waits_on, heading in _HEADINGS.items():
        mine = [row for row in rows if row.waits_on == waits_on]
        if mine:
            print(f"{heading}: {len(mine)}")
            for row in mine:
                print("  " + _status_line(row))
    return 0


def _status_line(row: StatusRow) -> str:
    if not row.accounting_number:
        return (
            f"session {row.session_id}  {row.service_date}  {row.what}  "
            f"(send by {row.deadline}; {row.note})"
        )
    codes = f"  errors {' '.join(row.error_codes)}" if row.error_codes else ""
    text = (
        f"{row.accounting_number}  {row.what}  {row.file_name}  session {row.session_id}  "
        f"member {row.member_id}  {row.service_date}  {row.fee_code} x{row.units}  "
        f"${row.fee_cents / 100:,.2f}{codes}"
    )
    if row.waits_on in ("physician", "export"):
        text += f"  (send by {row.deadline})"
    for message in row.messages:
        text += f"\n      {message}"
    if row.note:
        text += f"\n      note: {row.note}"
    return text


def _correct(args: argparse.Namespace, settings: Settings) -> int:
    if args.diagnostic_code is None and not args.note.strip():
        raise ConfigError("say what was corrected: --note TEXT and/or --diagnostic-code NNN")
    with open_session(settings) as session:
        result = correct_claim(
            session,
            settings=settings,
            accounting_number=args.claim,
            note=args.note.strip(),
            diagnostic_code=args.diagnostic_code,
            keyring=keyring_from(settings),
            now=args.clock(),
        )
    print(
        f"claim {result.accounting_number} corrected (diagnostic code {result.diagnostic_code}): "
        "the next `export claims` sends it again under a new accounting number"
    )
    return 0


def _resubmit(args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        result = mark_for_resubmission(
            session, accounting_number=args.claim, note=args.note.strip(), now=args.clock()
        )
    print(
        f"claim {result.accounting_number} marked for resubmission: the next `export claims` "
        "sends it again unchanged under a new accounting number"
    )
    return 0


def _fees_import(args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        result = import_fee_schedule(session, path=args.file, now=args.clock())
    print(
        f"{result.file_name}: {len(result.added)} fee(s) loaded, "
        f"{result.already_loaded} already loaded"
    )
    for row in result.added:
        print(
            f"  {row.code}  specialty {row.specialty}  band {row.band}  "
            f"${row.unit_fee_cents / 100:,.2f} per unit from {row.effective_date}"
        )
    return 0


def _fees_list(_args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        table = fee_table(session)
    for row in table.rows:
        when = row.effective_date.isoformat() if row.effective_date else "date not known"
        kind = "verified" if row.verified else "UNVERIFIED reference"
        print(
            f"{row.code}  {row.specialty}  {row.band:>4}  ${row.unit_fee_cents / 100:,.2f}  "
            f"{when}  {kind}\n      source: {row.source}"
            + (f"\n      note: {row.note}" if row.note else "")
        )
    return 0
