"""The safety plan in the console: each member's emergency contacts and today's location.

`/group/safety` shows, for a signed-in facilitator only, every member of the group with their
emergency contacts (roster columns `emergency_contact`, `emergency_phone`) and, for today's
session (the group's session on today's local date, if any), where they said they are and
when. The same as `/safety NAME` in the meeting's chat, for everyone at once; every showing is
written to the audit log (`storage.safety.safety_plan`).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bot.console.context import ConsoleContext
from bot.safety_plan import keyring_of
from storage import safety
from storage.crypto import DataKeyError
from storage.db import session_scope
from storage.sessions import sessions_on

__all__ = ["router"]

router = APIRouter()


@router.get("/group/safety", include_in_schema=False)
def safety_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.console
    who = context.require(request)
    settings = who.settings
    now = context.clock()
    today = now.astimezone(ZoneInfo(settings.group.timezone)).date()
    with session_scope(context.factory) as db:
        todays = sessions_on(db, group_name=settings.group.name, day=today)
        session_id = todays[-1].id if todays else None
        try:
            rows = safety.safety_plan(
                db,
                group_name=settings.group.name,
                session_id=session_id,
                keyring=keyring_of(settings),
                command="console safety",
                now=now,
                actor=who.actor,
            )
        except safety.SafetyError:
            rows = ()
        except DataKeyError as failed:
            raise HTTPException(503, f"The safety plan cannot be opened: {failed}") from None
    return context.page(
        request,
        "safety.html",
        {"rows": rows, "today": today, "has_session": session_id is not None},
        who=who,
    )
