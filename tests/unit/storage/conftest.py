"""The database fixtures of `tests.storage_fixtures`, for every test in this directory."""

from tests.storage_fixtures import *  # noqa: F403
