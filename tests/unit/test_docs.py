"""The guides stay true to the code: every settings key is documented, in the file example too."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import get_args, get_origin

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


def _model(annotation: object) -> type[BaseModel] | None:
    """The settings model a field holds, directly or as the items of a list."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _optional_table(section: str, key: str) -> bool:
    """A table a section may hold or not (`[groups.agenda]`: None by default, then the
    file's `[agenda]`): documented, but not written out in config.example.toml."""
    section_model = _model(Settings.model_fields[section].annotation)
    assert section_model is not None
    field = section_model.model_fields[key]
    return field.default is None and _model(field.annotation) is not None


def _nested_keys() -> list[tuple[str, str, bool]]:
    """Keys of the tables inside sections (`group.calendar`) and of the tables in their
    lists (`group.calendar.modules`): (path, key, whether the path is a list of tables or
    an optional table, which the example need not hold)."""
    found = []
    for section, key in _keys():
        section_model = _model(Settings.model_fields[section].annotation)
        assert section_model is not None
        inner = section_model.model_fields[key].annotation
        model = _model(inner)
        if model is None:
            continue
        listed = get_origin(inner) is list or _optional_table(section, key)
        for name, field in model.model_fields.items():
            found.append((f"{section}.{key}", name, listed))
            deeper = _model(field.annotation)
            if deeper is not None:
                found.extend((f"{section}.{key}.{name}", sub, True) for sub in deeper.model_fields)
    return found


def test_every_nested_settings_key_is_documented_and_in_the_example():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    missing = [
        f"{path}.{key}"
        for path, key, _ in _nested_keys()
        if f"| `{key}` |" not in text and key != "messages"  # `[agenda.messages]` has its own
    ]
    assert not missing, f"docs/configuration.md lacks: {missing}"
    for path, key, listed in _nested_keys():
        if listed:
            continue
        table = example
        for part in path.split("."):
            table = table[part]
        assert key in table, f"config.example.toml lacks {path}.{key}"


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
    known = {key for _, key in _keys()} | {key for _, key, _ in _nested_keys()}
    rows = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert rows <= known, f"documented but unknown: {sorted(rows - known)}"


def test_config_example_lists_every_key_and_is_valid():
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    for section, key in _keys():
        if _optional_table(section, key):
            continue
        assert key in example.get(section, {}), f"config.example.toml lacks {section}.{key}"
    Settings.model_validate(example)


def test_the_facilitator_card_lists_every_chat_command():
    text = (ROOT / "docs" / "facilitator-card.md").read_text(encoding="utf-8")
    missing = [verb for verb in USAGE if f"`/{verb}" not in text]
    assert not missing, f"docs/facilitator-card.md lacks: {missing}"
