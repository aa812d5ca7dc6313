"""`balint-bot serve`: the webhook receiver under uvicorn, and the meetings' worker processes.

The receiver process acknowledges webhooks (`bot.receiver`); the meetings run in
`[server] meeting_workers` child processes (`python -m bot.worker_process`, started, watched
and restarted by `bot.worker_pool`), each with its own APScheduler doorbell and a shard of
the meetings. One uvicorn process for the receiver. Scale out with several `serve` replicas
on one PostgreSQL; database leases give each live meeting exactly one owner. With
`[bot] meeting_adapter = "sdk"` serve supervises the `balint-bot join` process instead of
driving the meeting itself, in one process (see `bot.service`). Unless
`[console] enabled = false`, the facilitator's console listens beside the receiver on its
own address (`[console] host`, `port`; loopback by default), in the same process
(`bot.console.server`).

Before it listens, serve runs the settings checks it needs (`bot.validation`, the same as
`balint-bot config check`), checks the database's schema (creating or upgrading only the
embedded default database, see `bot.commands.db_cmd`) and lifts its open-file limit; the
listener's limits are `bot.listener`'s.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.config import Settings
from bot.logging_setup import configure_logging

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="receive Zoom webhooks and run the meetings' sessions (uvicorn)"
    )
    parser.add_argument("--host", default=None, help="listen address (default [server] host)")
    parser.add_argument(
        "--port", type=int, default=None, help="listen port (default [server] port)"
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    import uvicorn

    from bot.commands.db_cmd import check_schema
    from bot.console import server as console_server
    from bot.heap import freeze_start_up
    from bot.listener import raise_open_file_limit, server_config
    from bot.validation import require

    require(settings, "serve")
    configure_logging(settings.log)
    check_schema(settings, migrate_embedded=True)
    open_files = raise_open_file_limit()
    # Only the mode's own: the one-process service imports the runtime and the engine, which
    # the receiver, with its meetings in worker processes, never runs.
    if settings.bot.meeting_adapter == "sdk":
        from bot.service import build_service

        app = build_service(settings, config_path=args.config)
    else:
        from bot.receiver import build_receiver

        app = build_receiver(settings, config_path=args.config)
    host = args.host if args.host is not None else settings.server.host
    port = args.port if args.port is not None else settings.server.port
    config = server_config(app, settings.server, host=host, port=port, open_files=open_files)
    main = uvicorn.Server(config)
    console = listener = None
    if settings.console.enabled:
        listener = console_server.bind(settings.console.host, settings.console.port)
        console = console_server.console_server(_console_app(settings, app))
    print(f"balint-bot serving on http://{host}:{port}{settings.server.webhook_path}")
    if console is not None:
        from bot.console.context import public_url

        print(f"facilitator's console on {public_url(settings)}")
    freeze_start_up()
    # uvicorn's own event loop (uvloop where it is installed), as `uvicorn.Server.run` picks it
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(console_server.run_beside(main, console, listener))
    return 0


def _console_app(settings: Settings, service: Any) -> Any:
    """The console app, waking what runs the meetings (serve's worker processes, or in sdk
    mode the join processes, `service.state.wake`) after a console command is journaled."""
    from bot.console.app import create_console_app
    from storage.db import make_engine, make_session_factory

    factory = make_session_factory(make_engine(settings.storage.url))
    return create_console_app(settings, session_factory=factory, nudge=service.state.wake)
