"""`balint-bot purge [--before DATE] [--dry-run]`: delete records past the retention period.

The default cut-off is today minus ten years; a later date is refused unless
`--override-retention` is given. `--dry-run` prints the counts and deletes nothing.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from bot.commands.db_cmd import open_session
from bot.commands.export_cmd import parse_day
from bot.config import Settings
from storage.retention import RETENTION_YEARS, default_cutoff, purge

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "purge", help=f"delete records older than the {RETENTION_YEARS}-year retention period"
    )
    parser.add_argument(
        "--before",
        type=parse_day,
        default=None,
        help="cut-off date YYYY-MM-DD (default: 10 years ago)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only count what would go")
    parser.add_argument(
        "--override-retention",
        action="store_true",
        help="allow a cut-off inside the retention period (deliberate deletion)",
    )
    parser.set_defaults(handler=_purge)


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    now: datetime = args.clock()
    before: date = args.before or default_cutoff(now.astimezone(UTC).date())
    with open_session(settings) as session:
        report = purge(
            session,
            before=before,
            now=now,
            dry_run=args.dry_run,
            override_retention=args.override_retention,
        )
    verb = "would delete" if report.dry_run else "deleted"
    print(f"records before {before}: {verb} {report.total} row(s)")
    for table, count in sorted(report.counts.items()):
        print(f"  {table}: {count}")
    return 0
