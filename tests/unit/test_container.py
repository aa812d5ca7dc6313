"""The container files say what docs/ promises (no Docker engine here, so they are read).

Checks the properties a reviewer would look for in `Dockerfile`, `Dockerfile.sdk` and
`compose.yaml`, and that the commands they run exist in our CLI, so a renamed command or a
dropped healthcheck fails here rather than in someone's deployment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ["Dockerfile", "Dockerfile.sdk"]


def _instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = (ROOT / name).read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, _, rest = stripped.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage(name: str) -> list[tuple[str, str]]:
    items = _instructions(name)
    last_from = max(i for i, (word, _) in enumerate(items) if word == "FROM")
    return items[last_from:]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_image_runs_serve_as_an_unprivileged_user_with_a_healthcheck(name: str) -> None:
    final = _final_stage(name)
    words = [word for word, _ in final]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert words.index("USER") < words.index("CMD")
    (health,) = [rest for word, rest in final if word == "HEALTHCHECK"]
    command = json.loads(health[health.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2] and "urllib" in command[2]
    assert ("STOPSIGNAL", "SIGTERM") in final
    (cmd,) = [rest for word, rest in final if word == "CMD"]
    assert json.loads(cmd) == ["balint-bot", "serve"]  # exec form: signals reach the process


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copied_path_exists(name: str) -> None:
    for word, rest in _instructions(name):
        if word == "COPY" and "--from=" not in rest:
            sources = [part for part in rest.split() if not part.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"{name}: COPY {source}"


def test_the_build_is_multi_stage() -> None:
    stages = [rest for word, rest in _instructions("Dockerfile") if word == "FROM"]
    assert len(stages) >= 2
    copies = [rest for word, rest in _final_stage("Dockerfile") if word == "COPY"]
    assert any("--from=build" in rest for rest in copies)


def test_the_sdk_image_has_the_meeting_sdks_system_libraries() -> None:
    text = (ROOT / "Dockerfile.sdk").read_text(encoding="utf-8")
    assert re.search(r"^FROM --platform=linux/amd64 ubuntu:\$\{UBUNTU_VERSION\}", text, re.M)
    assert "ARG UBUNTU_VERSION=22.04" in text
    for package in (
        "libglib2.0-0",
        "libdbus-1-3",
        "libgbm1",
        "libx11-xcb1",
        "libxcb-xtest0",
        "libasound2",
        "pulseaudio",
    ):
        assert re.search(rf"\b{re.escape(package)}\b", text), package
    assert "[sdk" in text and "PyGObject" in text


def test_compose_migrates_before_serving_on_postgresql() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert re.search(r"^  postgres:\n    image: postgres:", text, re.M)
    assert 'command: ["balint-bot", "db", "upgrade"]' in text
    assert 'command: ["balint-bot", "serve"]' in text
    assert "condition: service_completed_successfully" in text
    assert "postgresql+psycopg://" in text


@pytest.mark.parametrize("argv", [["serve"], ["db", "upgrade"], ["demo"]])
def test_the_commands_the_containers_and_scripts_run_exist(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert callable(args.handler)
