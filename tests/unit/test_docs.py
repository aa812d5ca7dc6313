"""The guides stay true to the code: every settings key is documented, in the file example too."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

from bot.config import Settings
from phases.commands import USAGE

ROOT = Path(__file__).resolve().parents[2]


def _keys() -> list[tuple[str, str]]:
    pairs = []
    for section, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            pairs.extend((section, key) for key in annotation.model_fields)
    return pairs


def test_every_settings_key_has_a_row_in_the_configuration_reference():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    headings = {m.group(1) for m in re.finditer(r"^## `\[(\w+)\]`", text, re.MULTILINE)}
    missing = []
    for section, key in _keys():
        if section not in headings:
            missing.append(f"[{section}]")
        elif key != "messages" and f"| `{key}` |" not in text:
            missing.append(f"{section}.{key}")
    assert not missing, f"docs/configuration.md lacks: {missing}"
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            assert f"BALINT_{name.upper()}" in text, f"{name} (environment only) undocumented"


def test_the_reference_documents_no_key_that_does_not_exist():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    known = {key for _, key in _keys()}
    rows = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert rows <= known, f"documented but unknown: {sorted(rows - known)}"


def test_config_example_lists_every_key_and_is_valid():
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    for section, key in _keys():
        assert key in example.get(section, {}), f"config.example.toml lacks {section}.{key}"
    Settings.model_validate(example)


def test_the_facilitator_card_lists_every_chat_command():
    text = (ROOT / "docs" / "facilitator-card.md").read_text(encoding="utf-8")
    missing = [verb for verb in USAGE if f"`/{verb}" not in text]
    assert not missing, f"docs/facilitator-card.md lacks: {missing}"
