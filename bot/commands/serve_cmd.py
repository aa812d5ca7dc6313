"""`balint-bot serve`: the webhook receiver, worker and scheduler under uvicorn.

One uvicorn worker process only: the process owns an APScheduler doorbell, and several
workers in one container would each run one. Scale out with several `serve` replicas on
one PostgreSQL instead; database leases give each live meeting exactly one owner. With
`[bot] meeting_adapter = "sdk"` serve supervises the `balint-bot join` process instead of
driving the meeting itself (see `bot.service`).

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
    import uvicorn

    from bot.commands.db_cmd import check_schema
    from bot.listener import raise_open_file_limit, server_config
    from bot.service import build_service
    from bot.validation import require

    require(settings, "serve")
    configure_logging(settings.log)
    check_schema(settings, migrate_embedded=True)
    open_files = raise_open_file_limit()
    app = build_service(settings, config_path=args.config)
    host = args.host if args.host is not None else settings.server.host
    port = args.port if args.port is not None else settings.server.port
    print(f"balint-bot serving on http://{host}:{port}{settings.server.webhook_path}")
    config = server_config(app, settings.server, host=host, port=port, open_files=open_files)
    uvicorn.Server(config).run()
    return 0
