"""`balint-bot doctor [--fix]`: check the configuration and the Zoom meeting's settings.

Without Zoom credentials only the configuration is checked. With them, the meeting is read
through REST and each setting the group relies on is printed as PASS or FAIL with its fix
(see `bot.zoom_api.policy`); a WARN line says what the group gives up (a meeting where Zoom
does not say who people are; a closed-module roster with nobody in the current module) and
does not fail. `--fix` sends one PATCH with every fixable setting and checks again. First of
all it checks that this machine reaches Zoom at all (a TCP connection to zoom.us and
api.zoom.us on 443): the Meeting SDK says only "AUTHRET_UNKNOWN" when it gets no answer.
Exit status: 0 when everything passes (warnings aside), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import io
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.calendar import calendar_from_settings
from bot.config import Settings
from bot.errors import ConfigError
from bot.groups import add_group_option
from bot.zoom_api.client import ZoomClient, open_http_client
from bot.zoom_api.errors import ZoomAuthError, ZoomNotFound
from bot.zoom_api.policy import Check, check_meeting, fixes_for

__all__ = [
    "ZOOM_HOSTS",
    "check_config",
    "check_network",
    "diagnose",
    "has_credentials",
    "open_tcp",
    "register",
]

#: What the bot must reach: the Meeting SDK's web domain and the REST API (HTTPS).
ZOOM_HOSTS = (("zoom.us", 443), ("api.zoom.us", 443))

Reach = Callable[[str, int], Awaitable[None]]
"""Opens (and closes) a TCP connection to (host, port); raises OSError or TimeoutError."""


async def open_tcp(host: str, port: int, *, timeout: float = 5.0) -> None:
    """Connect to `host`:`port` and hang up (raises when there is no answer in `timeout`)."""
    _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    await writer.wait_closed()


async def check_network(reach: Reach) -> list[Check]:
    """One check per Zoom host: can this machine open a connection to it?"""
    checks = []
    for host, port in ZOOM_HOSTS:
        problem = ""
        try:
            await reach(host, port)
        except (OSError, TimeoutError) as failed:
            problem = f"no answer from Zoom ({type(failed).__name__}): check the network and "
            problem += "firewall first"
        checks.append(
            Check(
                name=f"{host}:{port} reachable",
                ok=not problem,
                detail=problem,
                fix="allow outbound HTTPS (TCP 443) to Zoom (*.zoom.us) through any proxy or "
                "firewall, and check DNS",
            )
        )
    return checks


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the settings and the Zoom meeting; --fix repairs the meeting"
    )
    parser.add_argument(
        "--fix", action="store_true", help="apply the meeting settings the group needs"
    )
    parser.add_argument(
        "--offline", action="store_true", help="skip the check that this machine reaches Zoom"
    )
    add_group_option(parser)
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    # the zone is refused on load when unknown (`bot.config`)
    today = args.clock().astimezone(ZoneInfo(settings.group.timezone)).date()
    reach = None if args.offline else open_tcp
    return asyncio.run(_run(settings, fix=bool(args.fix), out=sys.stdout, today=today, reach=reach))


async def _run(
    settings: Settings, *, fix: bool, out: TextIO, today: date, reach: Reach | None
) -> int:
    if not has_credentials(settings):
        return await diagnose(settings, None, fix=fix, out=out, today=today, reach=reach)
    async with open_http_client() as http:
        client = ZoomClient.from_settings(settings, http)
        return await diagnose(settings, client, fix=fix, out=out, today=today, reach=reach)


def has_credentials(settings: Settings) -> bool:
    zoom = settings.zoom
    return bool(zoom.account_id and zoom.client_id and zoom.client_secret.get_secret_value())


def check_config(settings: Settings, *, today: date | None = None) -> list[Check]:
    """Checks that need no network: what must be filled in for the bot to run (and, given
    `today`, whether a group of closed modules has enrolments for the current module)."""
    zoom, group = settings.zoom, settings.group
    checks = [
        Check(
            name="REST credentials set",
            ok=has_credentials(settings),
            detail="zoom.account_id, zoom.client_id or zoom.client_secret is empty",
            fix="create a Server-to-Server OAuth app and fill them in (docs/zoom-setup.md)",
        ),
        Check(
            name="Meeting SDK credentials set",
            ok=bool(zoom.sdk_key and zoom.sdk_secret.get_secret_value()),
            detail="zoom.sdk_key or zoom.sdk_secret is empty",
            fix="create a General app with the Meeting SDK enabled (docs/zoom-setup.md)",
        ),
        Check(
            name="bot user set",
            ok=bool(zoom.bot_user_id),
            detail="zoom.bot_user_id is empty",
            fix="set zoom.bot_user_id to the bot's Zoom user (id or e-mail, same account)",
        ),
        Check(
            name="webhook secret token set",
            ok=bool(zoom.webhook_secret_tokens),
            detail="zoom.webhook_secret_tokens is empty",
            fix="copy the event subscription's Secret Token into zoom.webhook_secret_tokens",
        ),
        Check(
            name="meeting id set",
            ok=bool(group.meeting_id),
            detail="group.meeting_id is empty",
            fix="set group.meeting_id to the recurring meeting's number",
        ),
        Check(
            name="roster file exists",
            ok=bool(group.roster) and Path(group.roster).is_file(),
            detail=f"group.roster is {group.roster!r}",
            fix="point group.roster at the roster CSV",
        ),
    ]
    if today is not None:
        checks.extend(_module_checks(settings, today))
    if settings.bot.meeting_adapter == "sdk":
        checks.append(
            Check(
                name="Meeting SDK bindings installed",
                ok=importlib.util.find_spec("zoom_meeting_sdk") is not None,
                detail="bot.meeting_adapter is 'sdk' but zoom_meeting_sdk is not installed",
                fix="pip install 'balint-bot[sdk]' (Linux x86_64 only)",
            )
        )
    return checks


def _module_checks(settings: Settings, today: date) -> list[Check]:
    """With `[group] closed_modules`, somebody in the roster file is enrolled in the module
    the group's calendar puts `today` in (the one the service admits by; none in a break;
    none to check without a readable file or a usable calendar)."""
    group = settings.group
    if not group.closed_modules or not group.roster:
        return []
    try:
        calendar = calendar_from_settings(group, settings.agenda)
    except ConfigError:
        return []  # `config check` says why
    span = calendar.module_on(today)
    if span is None:
        return []
    module = span.name
    try:
        text = Path(group.roster).read_text(encoding="utf-8-sig")
    except OSError:
        return []
    enrolled = sum(
        module in [part.strip() for part in (row.get("modules") or "").split(";")]
        for row in csv.DictReader(io.StringIO(text))
    )
    return [
        Check(
            name=f"members enrolled in the current module {module} (closed modules)",
            ok=enrolled > 0,
            detail=f"nobody in {group.roster} lists {module} in the modules column",
            gives_up=(
                "admission by module: with nobody enrolled the bot cannot tell members of this "
                "module from others, so it admits every active member"
            ),
            fix=(
                "fill the roster's modules column and import it again (docs/roster.md), or set "
                "[group] closed_modules = false"
            ),
            warn=True,
        )
    ]


def _print(checks: Sequence[Check], out: TextIO) -> None:
    for check in checks:
        if check.ok:
            print(f"PASS  {check.name}", file=out)
        else:
            print(f"{'WARN' if check.warn else 'FAIL'}  {check.name}: {check.detail}", file=out)
            if check.gives_up:
                print(f"      the group gives up: {check.gives_up}", file=out)
            auto = " (doctor --fix can do this)" if check.fixable else ""
            print(f"      fix: {check.fix}{auto}", file=out)


def _passed(checks: Sequence[Check]) -> bool:
    """Every check holds, warnings aside."""
    return all(check.ok or check.warn for check in checks)


async def diagnose(
    settings: Settings,
    client: ZoomClient | None,
    *,
    fix: bool,
    out: TextIO,
    today: date | None = None,
    reach: Reach | None = None,
) -> int:
    """Print every check; with `reach`, whether Zoom answers; with `client`, check (and with
    `fix`, repair) the meeting.

    Returns 0 when every check passes (warnings aside), else 1.
    """
    passed = True
    if reach is not None:
        print("network", file=out)
        network = await check_network(reach)
        _print(network, out)
        passed = all(check.ok for check in network)
    print("configuration", file=out)
    config = check_config(settings, today=today)
    _print(config, out)
    passed = passed and _passed(config)
    meeting_id = next(iter(settings.group.meeting_numbers()), "")
    if client is None or not meeting_id or not settings.zoom.bot_user_id:
        print(
            "meeting: skipped (needs REST credentials, group.meeting_id and zoom.bot_user_id)",
            file=out,
        )
        return 0 if passed else 1
    print(f"meeting {meeting_id}", file=out)
    try:
        meeting = await client.get_meeting(meeting_id)
        bot_user = await client.get_user(settings.zoom.bot_user_id)
    except ZoomAuthError as refused:
        _print(
            [
                Check(
                    name="Zoom accepts the credentials",
                    ok=False,
                    detail=refused.message,
                    fix="check the S2S app's credentials, activation and scopes",
                )
            ],
            out,
        )
        return 1
    except ZoomNotFound as missing:
        _print(
            [
                Check(
                    name="meeting and bot user exist",
                    ok=False,
                    detail=missing.message,
                    fix="check group.meeting_id and zoom.bot_user_id (same Zoom account)",
                )
            ],
            out,
        )
        return 1
    checks = check_meeting(meeting, bot_user)
    patch = fixes_for(meeting, bot_user)
    if fix and patch:
        await client.update_meeting_settings(meeting_id, patch)
        print(f"fixed: {', '.join(sorted(patch))}", file=out)
        meeting = await client.get_meeting(meeting_id)
        checks = check_meeting(meeting, bot_user)
    _print(checks, out)
    return 0 if passed and _passed(checks) else 1
