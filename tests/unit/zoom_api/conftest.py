from __future__ import annotations

import pytest

from tests.storage_fixtures import *  # noqa: F403


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
