"""Console tables: one-time sign-in links, signed-in console sessions, pending Zoom sign-ins.

Secrets are never stored: a link's token and a session's cookie token are kept as their
SHA-256 only, so a copy of the database signs no one in. A pending "Sign in with Zoom" keeps
its PKCE code verifier (it must be sent to Zoom with the code) for ten minutes at most, and
the hashes of its `state` and of the browser binding cookie; it is deleted when used.

- `console_links`: `balint-bot console link` output; single use (`used_at`), expires.
- `console_sessions`: a signed-in browser; idle and absolute expiry, `ended_at` on sign-out.
- `console_oauth_states`: a Zoom sign-in between the redirect to Zoom and the callback.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.tables.core import UtcDateTime

__all__ = ["ConsoleLink", "ConsoleSession", "OAuthState"]


class ConsoleLink(Base):
    """A single-use sign-in link for one roster facilitator."""

    __tablename__ = "console_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class ConsoleSession(Base):
    """A browser signed in to the console as one roster facilitator."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    #: how they signed in: "link" or "zoom"
    via: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class OAuthState(Base):
    """A "Sign in with Zoom" in progress (authorization code with PKCE)."""

    __tablename__ = "console_oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    binding_hash: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
