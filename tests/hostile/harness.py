"""A real `balint-bot serve` on loopback for the hostile tests, and what they send it.

`Serve` writes a settings file, starts `python -m bot.cli serve` as a subprocess (optionally
with a lower open-file or file-size limit), waits for `/healthz`, and collects its log
lines (stdout and stderr, through a pipe, so a file-size limit on the process cannot cut
them). A test that checks what the process logs from some point on takes `Serve.mark()`,
not `len(lines)`: the lines of earlier requests may still be in the pipe. Requests are
signed the way Zoom signs them (`tests.zoom_signing`) at the wall clock's time, since the
process runs on the real clock. `rows()` reads the journal back from the database, the
proof of what was kept.

Each test records what the service answered and how long it took to recover in
`RESULTS`, printed at the end of the run (`pytest -s tests/hostile` shows the table).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from select import select as wait_readable
from typing import Any

import httpx
from sqlalchemy import select

from storage.db import make_engine, make_session_factory, session_scope
from storage.tables.core import SessionRecord
from storage.tables.journal import JournalEntry
from storage.tables.runtime import RuntimeAction
from tests.zoom_signing import signed_headers

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hostile-secret-token-0001"
MEETING_ID = "85746065432"
MEETING_UUID = "4118UHIiRCAAAtBlDkcVyw=="
PATH = "/zoom/webhook"

#: (attack or fault, what the service answered, time to recover, acknowledged and lost)
RESULTS: list[tuple[str, str, str, str]] = []

_counter = itertools.count(1)


def record(case: str, answered: str, recovery: str = "-", lost: str = "0") -> None:
    """Note a row of the report table."""
    RESULTS.append((case, answered, recovery, lost))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unique_ts() -> int:
    """An `event_ts` (epoch ms) no other body of the run has: now, plus a counter so that two
    calls in the same millisecond differ (the sum only grows). It must stay the real time:
    serve takes a session's date from it, and the calendar skips a date in its breaks."""
    return int(time.time() * 1000) + next(_counter)


def participant(
    *,
    name: str = "Anna Keller",
    email: str = "anna.keller@example.org",
    meeting_id: int | str = int(MEETING_ID),
    uuid: str = MEETING_UUID,
    event: str = "meeting.participant_joined",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A participant event of the group's meeting (or of `meeting_id`), unique by `event_ts`."""
    ts = unique_ts()
    person = {
        "user_id": str(16778240 + ts % 1000),
        "user_name": name,
        "id": "",
        "participant_uuid": f"p-{ts}",
        "email": email,
        "join_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    obj: dict[str, Any] = {
        "id": meeting_id,
        "uuid": uuid,
        "host_id": "z8yCxjjyTSiw02QgCfp8uQ",
        "topic": "Balint group (weekly)",
        "type": 8,
        "participant": person,
        **(extra or {}),
    }
    return {"event": event, "event_ts": ts, "payload": {"account_id": "acc-1", "object": obj}}


def chat(text: str, **extra_message: Any) -> dict[str, Any]:
    """A chat line in the group's meeting, unique by `event_ts`."""
    return {
        "event": "meeting.chat_message_sent",
        "event_ts": unique_ts(),
        "payload": {
            "account_id": "acc-1",
            "object": {
                "id": int(MEETING_ID),
                "uuid": MEETING_UUID,
                "chat_message": {
                    "date_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "sender_session_id": "16777216",
                    "sender_name": "Petra Lang",
                    "sender_email": "petra.lang@example.org",
                    "sender_type": "host",
                    "recipient_type": "everyone",
                    "message_id": f"m-{unique_ts()}",
                    "message_content": text,
                    **extra_message,
                },
            },
        },
    }


def toml(sections: dict[str, dict[str, Any]]) -> str:
    """A settings file of these sections (values written as JSON, which TOML reads alike);
    a value of None leaves the key out."""
    return "".join(
        f"[{name}]\n"
        + "".join(
            f"{key} = {_value(value)}\n" for key, value in values.items() if value is not None
        )
        for name, values in sections.items()
    )


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_value(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


@dataclass
class Serve:
    """One `balint-bot serve` process (see the module docstring).

    Args:
        directory: where its settings file lives.
        url: its database (already migrated, unless a test wants otherwise).
        server: extra `[server]` keys.
        sections: other keys, by section (`{"bot": {"meeting_adapter": "sdk"}}`).
        nofile: soft and hard open-file limit of the process.
        fsize: soft file-size limit of the process, in bytes (the hard one stays unlimited,
            so `raise_file_size_limit` can lift it again without privileges).
    """

    directory: Path
    url: str
    server: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    nofile: int | None = None
    fsize: int | None = None
    port: int = field(default_factory=free_port)
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    _drainer: threading.Thread = field(default_factory=threading.Thread)
    #: held by the drainer from taking bytes out of the pipe to adding their lines
    _reading: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.directory / "hostile.toml"

    def write_config(self) -> None:
        sections: dict[str, dict[str, Any]] = {
            "zoom": {"webhook_secret_tokens": [SECRET]},
            "storage": {"url": self.url},
            "server": {
                "header_timeout_seconds": 1.0,
                "body_timeout_seconds": 1.0,
                "keep_alive_seconds": 2,
                **self.server,
            },
            # a session on any day of the year: the tests run on the real clock
            "group": {
                "name": "Hostile test group",
                "meeting_id": MEETING_ID,
                "calendar": {"breaks": []},
            },
            "bot": {"meeting_adapter": "none"},
            "log": {"format": "json"},
            # the console's fixed port (8001) would collide with any other serve on the machine
            "console": {"enabled": False},
        }
        for name, values in self.sections.items():
            sections[name] = {**sections.get(name, {}), **values}
        self.config.write_text(toml(sections), encoding="utf-8")

    def start(self, *, wait: bool = True) -> None:
        self.write_config()
        nofile, fsize = self.nofile, self.fsize

        def limits() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            if fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))

        env = {k: v for k, v in os.environ.items() if not k.startswith("BALINT_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(self.config), "serve"]
            + ["--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.directory,
            preexec_fn=limits,
        )
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        if wait:
            self.wait_healthy()

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        pipe = self.process.stdout.fileno()
        partial = b""
        while True:
            readable, _, _ = wait_readable([pipe], [], [], 0.1)
            if not readable:
                continue
            with self._reading:
                chunk = os.read(pipe, 1 << 16)
                *complete, partial = (partial + chunk).split(b"\n")
                self.lines.extend(raw.decode("utf-8", "replace") for raw in complete)
                if not chunk:
                    if partial:
                        self.lines.append(partial.decode("utf-8", "replace"))
                    return

    def mark(self, timeout: float = 10.0) -> int:
        """How many lines the process has logged up to now, counting those still in the pipe.

        A request's log line is written before its answer, so after `mark()` nothing of an
        answered request can appear as new: `lines[mark():]` is what came after.
        """
        assert self.process is not None and self.process.stdout is not None
        pipe = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            with self._reading:
                waiting = struct.unpack("i", fcntl.ioctl(pipe, termios.FIONREAD, b"\0" * 4))[0]
                if not waiting or time.monotonic() > deadline:
                    return len(self.lines)
            time.sleep(0.01)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError("serve exited:\n" + self.log)
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("serve did not come up:\n" + self.log)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drainer.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log records so far."""
        found = []
        for line in list(self.lines):
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def post(
        self,
        body: bytes,
        *,
        secret: str = SECRET,
        at: int | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[httpx.Response, float]:
        """POST `body` signed with `secret` at `at` (default now); (response, seconds taken)."""
        signed = signed_headers(body, secret=secret, at=at if at is not None else int(time.time()))
        signed.update(headers or {})
        started = time.perf_counter()
        with httpx.Client(trust_env=False, timeout=timeout) as client:
            response = client.post(f"{self.base}{PATH}", content=body, headers=signed)
        return response, time.perf_counter() - started

    def get(self, path: str, *, timeout: float = 5.0) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = httpx.get(f"{self.base}{path}", timeout=timeout, trust_env=False)
        return response, time.perf_counter() - started

    def metric(self, event: str, outcome: str) -> float:
        text = self.get("/metrics")[0].text
        prefix = f'balint_webhooks_received_total{{event="{event}",outcome="{outcome}"}} '
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.removeprefix(prefix))
        return 0.0


def rows(url: str) -> list[JournalEntry]:
    """Every journal row, oldest first."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return list(session.scalars(select(JournalEntry).order_by(JournalEntry.id)))
    finally:
        engine.dispose()


def unfinished_actions(url: str) -> list[tuple[str, str]]:
    """(key, status) of every meeting action still `planned` or `executing`."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            found = session.execute(
                select(RuntimeAction.action_key, RuntimeAction.status).where(
                    RuntimeAction.status.in_(("planned", "executing"))
                )
            )
            return [(key, status) for key, status in found]
    finally:
        engine.dispose()


def session_uuids(url: str) -> set[str]:
    """The meeting instances that have a session of the group."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return set(session.scalars(select(SessionRecord.meeting_uuid)))
    finally:
        engine.dispose()


def open_sockets(port: int, count: int, first: bytes = b"") -> Iterator[socket.socket]:
    """`count` connections to `port`, each having sent `first`."""
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first:
            connection.sendall(first)
        yield connection
