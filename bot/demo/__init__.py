"""`balint-bot demo`: one whole session on the real path, with synthetic people.

The simulator plays Zoom and the people (`bot.meeting.simulated`), posting signed webhooks
over HTTP to the real receiver and runtime (`bot.service.build_service`) on loopback, which
journal them in a fresh SQLite file, drive the engine and act on the same simulated meeting;
afterwards the stored attendance and a billing worksheet are read back. The run itself is
`bot.simulation.driver.run_scenario`, the same as `simulate`'s (which stays in process).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUILTIN_SCENARIO"]

#: The scenario `balint-bot demo` runs when no `--scenario` is given.
BUILTIN_SCENARIO = Path(__file__).resolve().parent / "scenario.toml"
