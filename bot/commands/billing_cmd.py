"""`balint-bot billing status`: every claim written, grouped by state.

States: exported (in a claims file), rejected (named in a Claims Error Report, with its error
codes), resubmitted (a corrected claim replaced it). Shows accounting numbers, session and
member ids, codes and amounts; never PHI.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.commands.db_cmd import open_session
from bot.config import Settings
from storage.billing.exports import claims_by_state

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("billing", help="OHIP claims: their state")
    actions = parser.add_subparsers(dest="billing_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="list claims by state")
    status.set_defaults(handler=_status)


def _status(_args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        grouped = claims_by_state(session)
    for state, claims in grouped.items():
        total = sum(claim.fee_cents for claim in claims)
        print(f"{state}: {len(claims)} claim(s), ${total / 100:,.2f}")
        for claim in claims:
            codes = f"  errors {' '.join(claim.error_codes)}" if claim.error_codes else ""
            print(
                f"  {claim.accounting_number}  {claim.file_name}  session {claim.session_id}  "
                f"member {claim.member_id}  {claim.service_date}  {claim.fee_code} "
                f"x{claim.units}  ${claim.fee_cents / 100:,.2f}{codes}"
            )
    return 0
