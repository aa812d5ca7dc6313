"""A small stateful fake of Zoom's REST API for command tests (an httpx.MockTransport handler).

It keeps meetings (settings), users and registrants, checks the S2S token on every call,
and answers with Zoom's status codes and error bodies: 401 code 124 for a bad token, 404 code
3001 / 1001 for an unknown meeting / user, 400 code 300 for an invalid e-mail, registration
refused while the meeting does not require it, and PATCH answering 204. Adding an e-mail that
is already registered returns the existing registrant, as Zoom does.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
from typing import Any

import httpx

from tests.unit.zoom_api.recorded import API, OAUTH, recorded_json


def _error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message})


class FakeZoom:
    def __init__(self, *, client_id: str = "client-abc", client_secret: str = "s3cret") -> None:
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._ids = itertools.count(1)
        self.tokens: set[str] = set()
        self.meetings: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.registrants: dict[str, list[dict[str, Any]]] = {}
        self.patches: list[dict[str, Any]] = []
        self.add_calls = 0
        self.fail_emails: set[str] = set()
        meeting = recorded_json("meeting_get")
        self.meetings[str(meeting["id"])] = copy.deepcopy(meeting)
        self.registrants[str(meeting["id"])] = []
        user = recorded_json("user_get")
        self.users[user["id"]] = user
        self.users[user["email"]] = user
        colleague: dict[str, Any] = {
            "id": "Qw3rTyUi0pAsDfGh",
            "email": "co-facilitator@example.org",
            "type": 2,
        }
        self.users[colleague["id"]] = colleague
        self.users[colleague["email"]] = colleague

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def settings_of(self, meeting_id: str) -> dict[str, Any]:
        settings: dict[str, Any] = self.meetings[meeting_id]["settings"]
        return settings

    # -- the handler --------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.startswith(OAUTH):
            return self._token(request)
        if not url.startswith(API):
            raise AssertionError(f"unexpected host: {url}")
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return _error(401, 124, "Invalid access token.")
        path = request.url.path.removeprefix("/v2")
        routes = [
            ("GET", r"/meetings/(\w+)", self._get_meeting),
            ("PATCH", r"/meetings/(\w+)", self._patch_meeting),
            ("GET", r"/meetings/(\w+)/registrants", self._list_registrants),
            ("POST", r"/meetings/(\w+)/registrants", self._add_registrant),
            ("GET", r"/users/([^/]+)", self._get_user),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and request.method == method:
                return handler(request, match.group(1))
        return _error(404, 404, f"No such route: {request.method} {path}")

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Basic {self._basic}":
            return httpx.Response(
                400,
                json={"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
            )
        token = f"token-{next(self._ids)}"
        self.tokens.add(token)
        return httpx.Response(
            200, json={"access_token": token, "token_type": "bearer", "expires_in": 3599}
        )

    def _meeting_or_404(self, meeting_id: str) -> dict[str, Any] | None:
        return self.meetings.get(meeting_id)

    def _get_meeting(self, _request: httpx.Request, meeting_id: str) -> httpx.Response:
        meeting = self._meeting_or_404(meeting_id)
        if meeting is None:
            return _error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        return httpx.Response(200, json=meeting)

    def _patch_meeting(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        meeting = self._meeting_or_404(meeting_id)
        if meeting is None:
            return _error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        body = json.loads(request.content)
        settings = body.get("settings", {})
        for email in str(settings.get("alternative_hosts", "")).replace(";", ",").split(","):
            if email and (email not in self.users or self.users[email]["type"] != 2):
                return _error(400, 1115, f"Invalid alternative host: {email}.")
        self.patches.append(body)
        meeting["settings"].update(settings)
        if settings.get("waiting_room"):
            meeting["settings"]["join_before_host"] = False
        return httpx.Response(204)

    def _list_registrants(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        if meeting_id not in self.meetings:
            return _error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        people = self.registrants[meeting_id]
        size = int(request.url.params.get("page_size", "30"))
        start = int(request.url.params.get("next_page_token") or 0)
        page = people[start : start + size]
        more = start + size < len(people)
        return httpx.Response(
            200,
            json={
                "page_size": size,
                "total_records": len(people),
                "next_page_token": str(start + size) if more else "",
                "registrants": page,
            },
        )

    def _add_registrant(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        self.add_calls += 1
        meeting = self._meeting_or_404(meeting_id)
        if meeting is None:
            return _error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        if meeting["settings"]["approval_type"] == 2:
            return _error(400, 3000, "Registration has not been enabled for this meeting.")
        body = json.loads(request.content)
        email = str(body.get("email", ""))
        if "@" not in email or email in self.fail_emails:
            return _error(400, 300, "Validation Failed.")
        people = self.registrants[meeting_id]
        for person in people:
            if person["email"].lower() == email.lower():
                registrant = person
                break
        else:
            registrant = {
                "id": f"reg{next(self._ids)}",
                "email": email,
                "first_name": body.get("first_name", ""),
                "last_name": body.get("last_name", ""),
                "status": "approved" if meeting["settings"]["approval_type"] == 0 else "pending",
                "join_url": f"https://zoom.us/w/{meeting_id}?tk=t{len(people)}",
            }
            people.append(registrant)
        return httpx.Response(
            201,
            json={
                "id": int(meeting_id),
                "registrant_id": registrant["id"],
                "join_url": registrant["join_url"],
                "topic": meeting["topic"],
            },
        )

    def _get_user(self, _request: httpx.Request, user_id: str) -> httpx.Response:
        user = self.users.get(user_id)
        if user is None:
            return _error(404, 1001, f"User does not exist: {user_id}.")
        return httpx.Response(200, json=user)
