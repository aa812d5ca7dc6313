"""The group pages: calendar, attendance grid and chart, billing status, CME hours, exports.

Read-only: what they show comes from `bot.console.group` (the storage layer's functions) and
`bot.console.downloads`. Every page that shows attendance, billing or exports, and every
download, is written to the audit log with the facilitator as the actor.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bot.console import group
from bot.console.chart import attendance_chart
from bot.console.context import ConsoleContext
from bot.console.downloads import DownloadError, list_exports, read_export
from storage.db import session_scope
from storage.roster import list_members
from storage.sessions import module_name_for

__all__ = ["router"]

router = APIRouter()


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


@router.get("/group", include_in_schema=False)
def group_page(request: Request) -> Response:
    context = _context(request)
    who = context.require(request)
    with session_scope(context.factory) as session:
        entries = group.calendar(session, settings=who.settings, now=context.meeting_clock())
    return context.page(request, "group.html", {"calendar": entries}, who=who)


@router.get("/group/attendance", include_in_schema=False)
def attendance_page(request: Request, module: str = "") -> Response:
    context = _context(request)
    who = context.require(request)
    with session_scope(context.factory) as session:
        names = group.module_names(group.group_sessions(session, settings=who.settings))
        today = context.clock().astimezone(ZoneInfo(who.settings.group.timezone)).date()
        chosen = module or (names[0] if names else module_name_for(today) or "")
        if module and module not in names:
            raise HTTPException(404, f"No sessions in module {module!r}.")
        grid = group.attendance_grid(session, settings=who.settings, module=chosen)
        members = [
            m
            for m in list_members(session, group_name=who.settings.group.name)
            if m.role == "member"
        ]
        context.audit(
            session,
            command="console attendance",
            records=[f"member:{row.member_id}" for row in grid.rows],
            actor=who.actor,
            detail=f"module {chosen}",
        )
    chart = attendance_chart([row.standing for row in grid.rows], module=chosen)
    return context.page(
        request,
        "attendance.html",
        {
            "grid": grid,
            "modules": names,
            "chosen": chosen,
            "chart": chart,
            "members": members,
            "today": today.isoformat(),
        },
        who=who,
    )


@router.get("/group/billing", include_in_schema=False)
def billing_page(request: Request) -> Response:
    context = _context(request)
    who = context.require(request)
    with session_scope(context.factory) as session:
        overview = group.billing_overview(session, settings=who.settings)
        context.audit(
            session,
            command="console billing",
            records=[f"session:{sid}" for sid, _day, _members in overview.waiting],
            actor=who.actor,
            detail="billing status",
        )
    return context.page(request, "billing.html", {"overview": overview}, who=who)


@router.get("/group/cme", include_in_schema=False)
def cme_page(request: Request, year: int | None = None) -> Response:
    context = _context(request)
    who = context.require(request)
    now = context.clock()
    chosen = year or now.astimezone(ZoneInfo(who.settings.group.timezone)).year
    if not 2000 <= chosen <= 2100:
        raise HTTPException(404, "No such year.")
    with session_scope(context.factory) as session:
        rows = group.cme_hours(session, settings=who.settings, year=chosen, now=now)
        context.audit(
            session,
            command="console cme",
            records=[f"member:{row.member_id}" for row in rows],
            actor=who.actor,
            detail=f"year {chosen}",
        )
    return context.page(request, "cme.html", {"rows": rows, "year": chosen}, who=who)


@router.get("/group/exports", include_in_schema=False)
def exports_page(request: Request) -> Response:
    context = _context(request)
    who = context.require(request)
    folder = who.settings.console.exports_folder()  # the group's own
    files = list_exports(folder) if folder is not None else ()
    several = len(context.settings.all_groups()) > 1
    values = {"files": files, "folder": folder, "several": several}
    return context.page(request, "exports.html", values, who=who)


@router.get("/group/exports/{name}", include_in_schema=False)
def export_download(request: Request, name: str) -> Response:
    context = _context(request)
    who = context.require(request)
    folder = who.settings.console.exports_folder()  # the group's own
    if folder is None:
        raise HTTPException(404, "This group has no exports folder (exports_dir).")
    try:
        data = read_export(folder, name)
    except DownloadError as refused:
        raise HTTPException(404, str(refused)) from None
    with session_scope(context.factory) as session:
        context.audit(
            session,
            command="console download",
            records=[f"file:{name}"],
            actor=who.actor,
            detail=f"{len(data)} bytes",
        )
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
