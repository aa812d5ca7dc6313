"""The phase diagram in docs/phases.md is the one `scripts/phase-diagram` draws from the table."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

from phases._table import BEFORE_CLOSING, NEXT, RULES
from phases.state import Phase

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "phase-diagram"


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("phase_diagram", str(SCRIPT))
    spec = importlib.util.spec_from_loader("phase_diagram", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_committed_diagram_is_what_the_script_draws_now():
    script = _script()
    page = script.PAGE.read_text(encoding="utf-8")
    assert script.render(page) == page, "docs/phases.md is stale: run scripts/phase-diagram"
    assert script.main(["--check"]) == 0


def test_every_table_transition_is_drawn_and_every_phase_appears():
    drawn = {(source, target) for source, target, _ in _script().edges()}
    assert set(NEXT.items()) <= drawn
    assert {(phase, Phase.CLOSING) for phase in BEFORE_CLOSING} <= drawn
    assert {
        (phase, Phase.PRESENTATION)
        for phase, rule in RULES.items()
        if rule.case_allowed and phase is not Phase.PRESENTATION
    } <= drawn
    touched = {phase for edge in drawn for phase in edge}
    assert touched == set(Phase)


def test_a_stale_page_is_detected(tmp_path):
    script = _script()
    page = script.PAGE.read_text(encoding="utf-8")
    stale = page.replace("/case NAME", "/case SOMEONE", 1)
    assert script.render(stale) != stale
    assert script.render(stale) == page
