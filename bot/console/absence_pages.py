"""Absences and contacts in the console: what `balint-bot absence add` and `absence contact`
record, from the Attendance page's forms.

A member told the facilitators they will miss (or be late for) the session of a day; a
facilitator contacted a member. Both are changes, so they carry the CSRF token and the
same-origin check (`ConsoleContext.check_change`); the reason and the note are PHI, sealed
with the data key by `storage.absences` (which refuses them without one, and audits each
record with the facilitator as the actor). After the form the page shows the module again.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.context import ConsoleContext, SignedIn
from bot.safety_plan import keyring_of
from storage import absences
from storage.db import session_scope

__all__ = ["router"]

router = APIRouter()


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


def _record(context: ConsoleContext, who: SignedIn, form: dict[str, str]) -> None:
    """Record the form's absence notice or contact; a 400 says what is wrong with it."""
    try:
        member_id = int(form.get("member", ""))
        day = date.fromisoformat(form.get("date", ""))
    except ValueError:
        raise HTTPException(400, "Choose a member and a date (YYYY-MM-DD).") from None
    kind = form.get("kind", "")
    group_name = who.settings.group.name
    with session_scope(context.factory) as db:
        try:
            if kind == "absence":
                absences.add_absence(
                    db,
                    group_name=group_name,
                    member_id=member_id,
                    day=day,
                    late=form.get("late") == "yes",
                    reason=form.get("text", ""),
                    keyring=keyring_of(context.settings),
                    now=context.clock(),
                    actor=who.actor,
                )
            elif kind == "contact":
                absences.record_contact(
                    db,
                    group_name=group_name,
                    member_id=member_id,
                    day=day,
                    note=form.get("text", ""),
                    keyring=keyring_of(context.settings),
                    now=context.clock(),
                    actor=who.actor,
                )
            else:
                raise HTTPException(400, "The form is not one this page sent: reload.")
        except absences.AbsenceError as refused:
            raise HTTPException(400, str(refused)) from None


@router.post("/group/absences", include_in_schema=False)
async def record_absence(request: Request) -> Response:
    context = _context(request)
    who, form = await context.check_change(request)
    values = {key: str(value) for key, value in form.items()}
    _record(context, who, values)
    module = values.get("module", "")
    target = f"/group/attendance?module={quote(module)}" if module else "/group/attendance"
    return RedirectResponse(target, status_code=303)
