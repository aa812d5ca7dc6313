"""Browser tests: Debian's chromium driven through chromium-driver (Selenium), no download.

Skipped, with the reason, where `/usr/bin/chromium` or `/usr/bin/chromedriver` is missing
(`apt-get install chromium chromium-driver`), unless `BALINT_REQUIRE_BROWSER=1` (set by
`.ci/run`, which installs both): then a missing browser fails the run instead of hiding it.
Screenshots go to `BALINT_ARTIFACTS` (default `test-artifacts/` in the repository); with
`BALINT_DOCS_SCREENSHOTS=1` the ones the README shows are also written to `docs/images/`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage_fixtures import *  # noqa: F403

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REPO = Path(__file__).parents[2]
#: Read once at import: the suite's autouse fixture clears `BALINT_*` before each test.
_ENV = {
    name: os.environ.get(name, "")
    for name in ("BALINT_REQUIRE_BROWSER", "BALINT_ARTIFACTS", "BALINT_DOCS_SCREENSHOTS")
}

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def chrome() -> Iterator[object]:
    """A headless chromium (1280x1000) under Selenium; quits after the test."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        reason = (
            f"no browser here ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver"
        )
        if _ENV["BALINT_REQUIRE_BROWSER"] == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def artifacts() -> Path:
    folder = Path(_ENV["BALINT_ARTIFACTS"] or REPO / "test-artifacts") / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_screenshot(driver: object, artifacts: Path, name: str, *, docs: bool = False) -> Path:
    """Save a PNG of the page as a test artefact (and under docs/images/ when asked)."""
    path = artifacts / f"{name}.png"
    assert driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    if docs and _ENV["BALINT_DOCS_SCREENSHOTS"] == "1":
        target = REPO / "docs" / "images" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return path
