"""The facilitators' notes in the console: read a session's notes, write one, amend one.

`/group/notes?session=ID` shows the session's notes on each member and on the group, each
original with its dated corrections (`storage.notes`); every showing is a read written to
the audit log with the facilitator as the reader. Its forms write a note (on a member or on
the group) or an amendment (the original is kept); both are changes, so they carry the CSRF
token and the same-origin check (`ConsoleContext.check_change`). Members never reach this
page: it needs a facilitator's console session (a member's own page is `/my-notes`).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.context import ConsoleContext, SignedIn
from bot.safety_plan import keyring_of
from storage import notes
from storage.crypto import DataKeyError
from storage.db import session_scope
from storage.roster import list_members
from storage.sessions import list_sessions

__all__ = ["router"]

router = APIRouter()


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


@router.get("/group/notes", include_in_schema=False)
def notes_page(request: Request, session: int | None = None) -> Response:
    context = _context(request)
    who = context.require(request)
    group_name = who.settings.group.name
    with session_scope(context.factory) as db:
        held = list_sessions(db, group_name=group_name)
        chosen = session if session is not None else (held[-1].id if held else None)
        if chosen is not None and chosen not in {s.id for s in held}:
            raise HTTPException(404, f"No session {chosen} of this group.")
        members = [m for m in list_members(db, group_name=group_name) if m.role == "member"]
        threads: tuple[notes.NoteThread, ...] = ()
        if chosen is not None:
            try:
                threads = notes.read_notes(
                    db,
                    group_name=group_name,
                    keyring=keyring_of(context.settings),
                    about="all",
                    session_id=chosen,
                    command="console notes",
                    now=context.clock(),
                    actor=who.actor,
                )
            except (notes.NotesError, DataKeyError) as failed:
                raise HTTPException(503, f"The notes cannot be opened: {failed}") from None
    names = {m.member_id: m.display_name for m in members}
    return context.page(
        request,
        "notes.html",
        {
            "sessions": list(reversed(held)),
            "chosen": chosen,
            "members": members,
            "threads": threads,
            "names": names,
        },
        who=who,
    )


def _write(context: ConsoleContext, who: SignedIn, form: dict[str, str]) -> int:
    """Add a note or an amendment from a form; the session to show afterwards."""
    group_name = who.settings.group.name
    try:
        session_id = int(form.get("session", ""))
    except ValueError:
        raise HTTPException(400, "Which session? Reload the page.") from None
    text = form.get("text", "")
    with session_scope(context.factory) as db:
        try:
            if form.get("amends"):
                notes.amend_note(
                    db,
                    group_name=group_name,
                    note_id=int(form["amends"]),
                    text=text,
                    author=who.user.facilitator.name,
                    keyring=keyring_of(context.settings),
                    now=context.clock(),
                    actor=who.actor,
                )
            else:
                about = form.get("about", "group")
                notes.add_note(
                    db,
                    group_name=group_name,
                    session_id=session_id,
                    member_id=None if about == "group" else int(about),
                    text=text,
                    author=who.user.facilitator.name,
                    keyring=keyring_of(context.settings),
                    now=context.clock(),
                    actor=who.actor,
                )
        except ValueError:
            raise HTTPException(400, "The form is not one this page sent: reload.") from None
        except (notes.NotesError, DataKeyError) as refused:
            raise HTTPException(400, str(refused)) from None
    return session_id


@router.post("/group/notes", include_in_schema=False)
async def write_note(request: Request) -> Response:
    context = _context(request)
    who, form = await context.check_change(request)
    session_id = _write(context, who, dict(form))
    return RedirectResponse(f"/group/notes?session={session_id}", status_code=303)
