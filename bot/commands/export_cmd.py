"""`balint-bot export billing|claims|cme`: the billing worksheet, the Ministry claims file, CME.

`export cme --group NAME --year YEAR` covers every member of the group at once; `--out DIR`
also writes each member's certificate (HTML and PDF).

Thin: parse the arguments, open a database session, call `storage.billing.exports`, print a
summary. Every file written is owner-only (0600) and recorded in the audit log by the storage
layer. Printed summaries carry member and session ids, codes and amounts, never PHI.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.commands.db_cmd import open_session
from bot.config import Settings
from bot.errors import ConfigError
from bot.groups import add_group_option
from bot.validation import require
from storage.billing.exports import (
    ClaimsExportResult,
    export_claims,
    export_cme,
    export_worksheet,
)

__all__ = ["parse_day", "print_claims_result", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("export", help="billing worksheet, OHIP claims file, CME hours")
    kinds = parser.add_subparsers(dest="export_kind", metavar="KIND", required=True)

    billing = kinds.add_parser(
        "billing", help="the billing worksheet CSV: one row per member per session"
    )
    which = billing.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", type=int, help="one session, by id")
    which.add_argument("--module", help="every session of a module, e.g. 2026-09")
    which.add_argument("--from", dest="date_from", type=parse_day, help="first date YYYY-MM-DD")
    billing.add_argument("--to", dest="date_to", type=parse_day, help="last date (with --from)")
    billing.add_argument("--out", type=Path, help="CSV file to create (default: a new file here)")
    add_group_option(billing)
    billing.set_defaults(handler=_billing)

    claims = kinds.add_parser("claims", help="the Ministry's claims file (MRI format)")
    claims.add_argument("--from", dest="date_from", type=parse_day, required=True)
    claims.add_argument("--to", dest="date_to", type=parse_day, required=True)
    claims.add_argument(
        "--out", type=Path, help="folder for the claims file (default: the group's exports_dir)"
    )
    claims.add_argument(
        "--dry-run", action="store_true", help="show what would be written; write nothing"
    )
    add_group_option(claims)
    claims.set_defaults(handler=_claims)

    cme = kinds.add_parser(
        "cme", help="hours attended for continuing education, and a certificate per member"
    )
    add_group_option(cme)
    cme.add_argument("--year", type=int, required=True)
    cme.add_argument("--member", type=int, help="only this member (id, see roster list)")
    cme.add_argument(
        "--out",
        type=Path,
        help="folder for cme-YEAR.csv and each member's CSV and certificate (.html, .pdf)",
    )
    cme.set_defaults(handler=_cme)


def parse_day(text: str) -> date:
    """An argparse type for YYYY-MM-DD dates."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _billing(args: argparse.Namespace, settings: Settings) -> int:
    if (args.date_from is None) != (args.date_to is None):
        raise ConfigError("--from and --to go together")
    require(settings, "exports")
    now: datetime = args.clock()
    out: Path = args.out or Path(f"billing-worksheet-{now:%Y%m%dT%H%M%S}.csv")
    with open_session(settings) as session:
        result = export_worksheet(
            session,
            settings=settings,
            out=out,
            session_id=args.session,
            module=args.module,
            date_from=args.date_from,
            date_to=args.date_to,
            now=now,
        )
    print(
        f"wrote {result.path} (owner-only): {result.rows} rows from "
        f"{len(result.sessions)} session(s), {result.valid} claimable"
    )
    return 0


def _claims(args: argparse.Namespace, settings: Settings) -> int:
    # the settings are the group's (`bot.cli`): their exports folder is the group's own
    out: Path | None = args.out or settings.console.exports_folder()
    if out is None and not args.dry_run:
        raise ConfigError(
            "--out DIR is required (or use --dry-run, or set the group's exports_dir)"
        )
    require(settings, "exports")
    with open_session(settings) as session:
        result = export_claims(
            session,
            settings=settings,
            date_from=args.date_from,
            date_to=args.date_to,
            out_dir=out or Path("."),
            dry_run=args.dry_run,
            now=args.clock(),
        )
    print_claims_result(result)
    return 0


def print_claims_result(result: ClaimsExportResult) -> None:
    """The claims export summary: file, claims written, claims left out and why."""
    verb = "would write" if result.dry_run else "wrote"
    if result.file_name is None:
        print("no valid claims to write; no file written")
    else:
        where = result.path if result.path is not None else result.file_name
        print(
            f"{verb} {where}: {len(result.written)} claim(s), "
            f"${result.total_cents / 100:,.2f}, batch(es) "
            + ", ".join(f"{sequence:04d}" for sequence in result.batch_sequences)
        )
        for claim in result.written:
            again = f" (resubmits {claim.resubmits})" if claim.resubmits else ""
            tracking = f" + {claim.modality_item}" if claim.modality_item else ""
            print(
                f"  {claim.accounting_number}  session {claim.session_id}  member "
                f"{claim.member_id}  {claim.service_date}  {claim.fee_code} x{claim.units}"
                f"{tracking}  ${claim.fee_cents / 100:,.2f}{again}"
            )
    if result.already_exported:
        print(f"{result.already_exported} claim(s) already exported, not repeated")
    if result.unfinished_sessions:
        ids = ", ".join(str(number) for number in result.unfinished_sessions)
        print(f"sessions not finished yet, not billed: {ids}")
    if result.waiting:
        print(f"rejected, waiting on you ({len(result.waiting)}): `billing correct` or `resubmit`")
        for waiting in result.waiting:
            print(
                f"  {waiting.accounting_number}  session {waiting.session_id}  member "
                f"{waiting.member_id}  errors {' '.join(waiting.error_codes) or '-'}"
            )
    if result.left_out:
        print(f"left out ({len(result.left_out)}):")
        for left in result.left_out:
            reasons = "; ".join(f"{p.code}: {p.message}" for p in left.problems)
            print(
                f"  session {left.session_id}  member {left.member_id}  "
                f"{left.service_date}  {reasons}"
            )


def _cme(args: argparse.Namespace, settings: Settings) -> int:
    with open_session(settings) as session:
        result = export_cme(
            session,
            settings=settings,
            year=args.year,
            group=None,  # the settings are narrowed to --group already (`bot.cli`)
            member_id=args.member,
            out_dir=args.out,
            now=args.clock(),
        )
    print(result.text, end="")
    if result.files:
        print(f"wrote {len(result.files)} file(s) (owner-only) in {args.out}")
    return 0
