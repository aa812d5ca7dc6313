"""The live pages: running meetings, one meeting's live view, its stream, and its buttons.

The view is read from what the runtime stored (engine state, presence) and rendered on the
server (`bot.console.live`); the page keeps it fresh through server-sent events: the stream
renders the panel every `[console] live_poll_seconds` and sends it when it changed, so a
webhook's effect shows within a second of the runtime storing it. A button posts a form
(CSRF token included) that becomes the same chat command a facilitator would type, journaled
for the runtime (`bot.runtime.inbox`); the answer shown is the engine's own. Opening the page
and opening the stream are written to the audit log (they show who is in the meeting).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, HTTPException
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from bot.console.context import ConsoleContext, SignedIn
from bot.console.live import LiveView, live_view
from bot.runtime import inbox
from phases.commands import MAX_EXTEND
from phases.events import TrustedCommand
from phases.state import SessionState
from storage import journal
from storage import runtime_state as rs
from storage.attendance import presence_events
from storage.db import session_scope
from storage.sessions import SessionSummary, list_sessions

__all__ = ["router"]

router = APIRouter()

#: How long a button waits for the runtime to run its command before answering "sent".
_ANSWER_WAIT = 3.0
_KEEPALIVE = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Meeting:
    summary: SessionSummary
    meeting_id: str
    state: SessionState
    view: LiveView


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


def _group_sessions(who: SignedIn, session: Session) -> tuple[SessionSummary, ...]:
    """The sessions of the signed-in facilitator's group: the only meetings they may see."""
    return list_sessions(session, group_name=who.settings.group.name)


def _meeting(context: ConsoleContext, session: Session, session_id: int, who: SignedIn) -> _Meeting:
    summary = next((s for s in _group_sessions(who, session) if s.id == session_id), None)
    record = rs.load_meeting(session, meeting_uuid=summary.meeting_uuid) if summary else None
    if summary is None or record is None:
        raise HTTPException(404, "No such meeting of this group.")
    state = SessionState.from_json(record.state_json)
    arrivals: dict[str, datetime] = {}
    for event in presence_events(session, meeting_uuid=summary.meeting_uuid):
        if event.kind == "waiting_joined" and event.participant_key:
            earlier = arrivals.get(event.participant_key)
            if earlier is None or event.at > earlier:
                arrivals[event.participant_key] = event.at
    view = live_view(state, now=context.meeting_clock(), arrivals=arrivals)
    return _Meeting(summary=summary, meeting_id=record.meeting_id, state=state, view=view)


def _panel(context: ConsoleContext, meeting: _Meeting, who: SignedIn) -> str:
    template = context.templates.get_template("live_panel.html")
    return template.render(
        view=meeting.view,
        sid=meeting.summary.id,
        csrf=who.csrf,
        max_extend=MAX_EXTEND,
        zone=who.settings.group.timezone,
    )


@router.get("/live", include_in_schema=False)
def live_index(request: Request) -> Response:
    context = _context(request)
    who = context.require(request)
    with session_scope(context.factory) as session:
        live = set(rs.live_meetings(session))
        running = [s for s in _group_sessions(who, session) if s.meeting_uuid in live]
    if len(running) == 1:
        return RedirectResponse(f"/live/{running[0].id}", status_code=303)
    return context.page(request, "live_index.html", {"running": running}, who=who)


@router.get("/live/{session_id}", include_in_schema=False)
def live_page(request: Request, session_id: int, command: int | None = None) -> Response:
    context = _context(request)
    who = context.require(request)
    with session_scope(context.factory) as session:
        meeting = _meeting(context, session, session_id, who)
        answer = ""
        if command is not None:
            answer = _answer(session, meeting, command)
        context.audit(
            session,
            command="console live",
            records=[f"session:{session_id}"],
            actor=who.actor,
            detail="live page",
        )
    panel = _panel(context, meeting, who)
    return context.page(
        request,
        "live.html",
        {
            "sid": session_id,
            "panel": panel,
            "seen": _digest(panel),
            "answer": answer,
            "summary": meeting.summary,
        },
        who=who,
    )


def _digest(html: str) -> str:
    """A short fingerprint of a rendered panel (the stream skips what the page already shows)."""
    return hashlib.sha256(html.encode("utf-8")).hexdigest()[:16]


@router.get("/live/{session_id}/stream", include_in_schema=False)
async def live_stream(request: Request, session_id: int, seen: str = "") -> Response:
    context = _context(request)
    who = await asyncio.to_thread(context.signed_in, request, extend=False)
    if who is None:
        raise HTTPException(401, "Not signed in, or the session has expired.")

    def opening() -> None:
        with session_scope(context.factory) as session:
            _meeting(context, session, session_id, who)
            context.audit(
                session,
                command="console live",
                records=[f"session:{session_id}"],
                actor=who.actor,
                detail="live stream opened",
            )

    await asyncio.to_thread(opening)
    return StreamingResponse(
        _events(request, context, session_id, seen=seen[:16]),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, context: ConsoleContext, session_id: int, *, seen: str
) -> AsyncIterator[str]:
    """The stream: the panel whenever it changes (not the one the page was loaded with, whose
    fingerprint is `seen`); "signedout" when the session ends."""
    last = ""
    quiet = 0.0
    interval = context.settings.console.live_poll_seconds

    def render() -> str | None:
        who = context.signed_in(request, extend=False)
        if who is None:
            return None
        with session_scope(context.factory) as session:
            return _panel(context, _meeting(context, session, session_id, who), who)

    while not await request.is_disconnected():
        html = await asyncio.to_thread(render)
        if html is None:
            yield _sse(
                "signedout",
                '<p class="flash error" role="alert">You were signed out '
                "(no activity for a while, or signed out elsewhere). "
                '<a href="/signin">Sign in again</a>.</p>',
            )
            return
        if html != last:
            first, last = not last, html
            quiet = 0.0
            if not (first and _digest(html) == seen):
                yield _sse("live", html)
        else:
            quiet += interval
            if quiet >= _KEEPALIVE:
                quiet = 0.0
                yield ": keep-alive\n\n"
        await asyncio.sleep(interval)


def _sse(event: str, html: str) -> str:
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {event}\n{data}\n\n"


_BARE = {
    "next": "/next",
    "mirror_on": "/mirror on",
    "mirror_off": "/mirror off",
    "reflection": "/reflection",
    "end": "/end",
}
_NAMED = {"admit": "/admit", "hold": "/hold", "case": "/case"}


def _command_text(form: Mapping[str, str]) -> tuple[str, str, str]:
    """(verb, command line, target key) for a button's form; HTTPException if malformed."""
    verb = str(form.get("action", ""))
    if verb in _BARE:
        return verb, _BARE[verb], ""
    if verb == "extend":
        minutes = str(form.get("minutes", "5"))
        if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_EXTEND:
            raise HTTPException(400, f"Extend by 1 to {MAX_EXTEND} minutes.")
        return verb, f"/extend {int(minutes)}", ""
    if verb in _NAMED:
        target = str(form.get("target", ""))[:128]
        name = " ".join(str(form.get("name", "")).split())[:200]
        if not target or not name:
            raise HTTPException(400, "Which person? The button names no one.")
        return verb, f"{_NAMED[verb]} {name}", target
    raise HTTPException(400, "Unknown button.")


@router.post("/live/{session_id}/command", include_in_schema=False)
async def live_command(request: Request, session_id: int) -> Response:
    context = _context(request)
    who, form = await context.check_change(request)
    verb, text, target = _command_text(form)

    def submit() -> tuple[str, int]:
        with session_scope(context.factory) as session:
            meeting = _meeting(context, session, session_id, who)
            if meeting.view.ended:
                raise HTTPException(409, "This session has ended.")
            sent = inbox.submit_command(
                session,
                meeting_uuid=meeting.summary.meeting_uuid,
                meeting_id=meeting.meeting_id,
                facilitator=who.user.facilitator.name,
                member_id=str(who.user.facilitator.member_id),
                text=text,
                target_key=target,
                now=context.meeting_clock(),
            )
            context.audit(
                session,
                command="console command",
                records=[f"session:{session_id}", f"journal:{sent.entry_id}"],
                actor=who.actor,
                detail=verb,
            )
            return meeting.summary.meeting_uuid, sent.entry_id

    meeting_uuid, entry_id = await asyncio.to_thread(submit)
    context.nudge(meeting_uuid)
    outcome = inbox.CommandOutcome(processed=False)
    waited = 0.0
    while waited < _ANSWER_WAIT:
        outcome = await asyncio.to_thread(_outcome, context, meeting_uuid, entry_id)
        if outcome.processed:
            break
        await asyncio.sleep(0.1)
        waited += 0.1
    if not request.headers.get("hx-request"):
        return RedirectResponse(f"/live/{session_id}?command={entry_id}", status_code=303)
    message = _describe(text, outcome)
    return HTMLResponse(
        context.templates.get_template("flash.html").render(message=message, entry=entry_id)
    )


def _outcome(context: ConsoleContext, meeting_uuid: str, entry_id: int) -> inbox.CommandOutcome:
    with session_scope(context.factory) as session:
        return inbox.command_outcome(session, meeting_uuid=meeting_uuid, entry_id=entry_id)


def _answer(session: Session, meeting: _Meeting, entry_id: int) -> str:
    entry = journal.entry(session, entry_id=entry_id)
    if entry is None or entry.meeting_uuid != meeting.summary.meeting_uuid:
        return ""
    if not inbox.is_command(entry):
        return ""
    command = inbox.decode_command(entry).events[0]
    outcome = inbox.command_outcome(
        session, meeting_uuid=meeting.summary.meeting_uuid, entry_id=entry_id
    )
    return _describe(command.text if isinstance(command, TrustedCommand) else "", outcome)


def _describe(text: str, outcome: inbox.CommandOutcome) -> str:
    if not outcome.processed:
        return f"Sent {text}; the bot has not run it yet. This page shows the result when it does."
    if outcome.replies:
        return f"{text}: " + " ".join(outcome.replies)
    return f"Done: {text}"
