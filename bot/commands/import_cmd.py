"""`balint-bot import claims-errors FILE`: apply the Ministry's Claims Error Report.

The claims it names (by accounting number) are marked rejected with their error codes; a
report that cannot be read exactly changes nothing. Prints which claims were rejected and
which accounting numbers the report named that we never wrote.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.commands.db_cmd import open_session
from bot.config import Settings
from storage.billing.exports import import_error_report

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
        result = import_error_report(session, path=args.file, now=args.clock())
    print(f"{result.report_name}: {len(result.rejected)} claim(s) marked rejected")
    for number, codes in result.rejected:
        print(f"  {number}  {' '.join(codes) or '(no code given)'}")
    if result.unchanged:
        print(f"already resubmitted, left as they are: {', '.join(result.unchanged)}")
    if result.unmatched:
        print(f"not claims of ours (unknown accounting number): {', '.join(result.unmatched)}")
        return 1
    return 0
