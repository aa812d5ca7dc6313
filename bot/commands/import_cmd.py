"""`balint-bot import claims-errors FILE`: apply the Ministry's Claims Error Report.

A line is ours only when its whole claim key matches what was sent (accounting number,
provider, health number, service codes and dates); those claims are marked rejected with
their error codes and messages. A report that cannot be read exactly changes nothing. Prints
which claims were rejected and every line that is not ours, with what differed (no PHI).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.commands.db_cmd import keyring_from, open_session
from bot.config import Settings
from storage.billing.ledger import import_error_report

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("import", help="import the Ministry's return files")
    kinds = parser.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    errors = kinds.add_parser(
        "claims-errors", help="mark the claims a Claims Error Report names as rejected"
    )
    errors.add_argument("file", type=Path, help="the Claims Error Report (E....### file)")
    errors.set_defaults(handler=_claims_errors)


def _claims_errors(args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        result = import_error_report(
            session, path=args.file, keyring=keyring_from(settings), now=args.clock()
        )
    print(f"{result.report_name}: {len(result.rejected)} claim(s) marked rejected")
    for claim in result.rejected:
        print(f"  {claim.accounting_number}  {' '.join(claim.error_codes) or '(no code given)'}")
        for message in claim.messages:
            print(f"      {message}")
    if result.rejected:
        print("they wait on you: `billing correct CLAIM ...` or `billing resubmit CLAIM`")
    if result.unchanged:
        print(f"already handled, left as they are: {', '.join(result.unchanged)}")
    if result.unmatched:
        print(f"not claims of ours ({len(result.unmatched)}), nothing changed for them:")
        for line in result.unmatched:
            print(f"  line {line.line}  {line.accounting_number or '(none)'}: {line.reason}")
        return 1
    return 0
