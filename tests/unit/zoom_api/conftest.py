from __future__ import annotations

from tests.storage_fixtures import *  # noqa: F403
