"""The `make_harness` fixture: parametrised over every entry of `HARNESS_FACTORIES`."""

from __future__ import annotations

import pytest

from tests.contract.harnesses import HARNESS_FACTORIES, HarnessFactory


@pytest.fixture(params=sorted(HARNESS_FACTORIES))
def make_harness(request: pytest.FixtureRequest) -> HarnessFactory:
    """An async factory `await make_harness(bot_role=ZoomRole.HOST)` for one implementation."""
    return HARNESS_FACTORIES[request.param]
