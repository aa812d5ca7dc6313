"""`balint-bot serve` as a real process: uvicorn up, /healthz and /readyz answer, SIGTERM ends it.

One real process (marked slow); the parser test is instant.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.cli import build_parser
from storage.migrate import upgrade


def test_serve_is_a_command_with_host_and_port() -> None:
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "8081"])
    assert (args.host, args.port) == ("0.0.0.0", 8081)
    assert callable(args.handler)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_process_is_ready_logs_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "serve.db"
    upgrade(f"sqlite:///{db}")
    config = tmp_path / "balint-bot.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\n[bot]\nmeeting_adapter = "none"\n'
        '[log]\nformat = "json"\n[zoom]\nwebhook_secret_tokens = ["serve-test-secret-token"]\n'
        '[group]\nmeeting_id = "85746065432"\n[console]\nenabled = false\n',
        encoding="utf-8",
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALINT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        # a deadline, not a count of tries: a loaded machine may take long to start Python
        ready = None
        deadline = time.monotonic() + 60.0
        while ready is None and time.monotonic() < deadline:
            assert process.poll() is None, f"serve exited: {process.communicate()[1][-2000:]}"
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.05)
        assert ready is not None, "serve did not come up in 60 s"
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {
            "secret": True,
            "database": True,
            "journal": True,
            "worker": True,
            "scheduler": True,
        }
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM)
    assert process.returncode in (0, -signal.SIGTERM), err
    assert f"127.0.0.1:{port}" in out
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = {record["message"] for record in records}
    assert {"worker started", "worker stopped", "Application shutdown complete."} <= messages
