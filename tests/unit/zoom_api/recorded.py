"""Recorded Zoom REST responses: `tests/fixtures/zoom/api/<case>/<status>.json` + `body`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "zoom" / "api"
API = "https://api.zoom.test/v2"
OAUTH = "https://zoom.test/oauth/token"


def recorded(case: str) -> httpx.Response:
    """The recorded response of `case`, with its status, headers and exact body bytes."""
    folder = FIXTURES / case
    (status_file,) = folder.glob("*.json")
    headers = json.loads(status_file.read_text(encoding="utf-8"))
    body = (folder / "body").read_bytes()
    return httpx.Response(int(status_file.stem), headers=headers, content=body)


def recorded_json(case: str) -> Any:
    return json.loads((FIXTURES / case / "body").read_text(encoding="utf-8"))


class RecordingSleep:
    """An async sleep that only records the delays it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
