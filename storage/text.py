"""Text people typed, as balint-bot keeps and shows it.

Whoever joins a meeting types their display name, and a client built on Zoom's SDK or API
can put anything in it, control characters included. Printed as they came, `ESC [ 2 J` in
a name would clear the facilitator's terminal when `balint-bot attendance` lists the
evening, and a line feed would start a made-up row of the table. So:

- the names, e-mails and other human text of what Zoom reports (`webhooks.models`, the
  Meeting SDK's callbacks in `bot.meeting.sdk`, the REST reports in `bot.zoom_api.models`)
  are read through `display_text` at the edge, once, before anything keeps or shows them:
  every control character (C0, DEL and C1, tab and line feed included), every lone
  surrogate (which no database stores) and every bidirectional embedding, override and
  isolate (U+202A to U+202E, U+2066 to U+2069) becomes U+FFFD, the replacement character,
  so that what was there stays visible;
- the roster, which the facilitator writes, is refused with the row and column named
  (`storage.roster`) when a cell holds one (`has_controls`): a name that Zoom's cleaned
  names can never equal would only fail to match, silently.

The embeddings, overrides and isolates reorder what follows them on the screen: a name
typed as U+202E and "htimS .rD" shows as "Dr. Smith" in a terminal, a browser or Zoom's
chat, and one left open reverses the rest of the bot's own line that quotes it (the
"Trojan Source" trick). No name needs them: the Unicode bidirectional algorithm lays out
right-to-left names on its own. Letters of every script, and the marks that mixed
right-to-left text does use (U+200E, U+200F, U+061C), are kept as they are.
"""

from __future__ import annotations

import re

__all__ = ["display_text", "has_controls"]

_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def display_text(value: str) -> str:
    """`value` with control characters, lone surrogates and bidirectional embeddings,
    overrides and isolates replaced by U+FFFD."""
    return _UNSHOWABLE.sub("\ufffd", value)


def has_controls(value: str) -> bool:
    """Whether `display_text` would change `value`."""
    return _UNSHOWABLE.search(value) is not None
