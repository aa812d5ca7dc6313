"""The bindings double against the real `zoom_meeting_sdk` 0.0.27 wheel, where it installs.

Everything `SdkMeeting` calls goes through the double (it would fail on a missing name), so
checking that every public name of the double exists in the real package checks that every
attribute we call exists. Also checked: callback keyword names, enum members, and that our
fail-code and auth-result tables cover the real enums. The real package is imported in a
subprocess because it prints to stdout and loads Zoom's native libraries.

Skipped (with the reason) where the wheel is not installed: it exists for Linux x86_64 only.
"""

from __future__ import annotations

import enum
import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.meeting.sdk_codes import AUTH_MESSAGES, FAIL_CODES
from tests.unit.meeting import zoom_sdk_double as double

_CLASSES = [
    "IMeetingService",
    "IMeetingWaitingRoomController",
    "IMeetingParticipantsController",
    "IMeetingAudioController",
    "IMeetingVideoController",
    "IMeetingChatController",
    "IMeetingRecordingController",
    "IAuthService",
    "IUserInfo",
    "IUserAudioStatus",
    "IChatMsgInfo",
    "IChatMsgInfoBuilder",
]
_VALUE_TYPES = {
    "InitParam": double.InitParam(),
    "AuthContext": double.AuthContext(),
    "JoinParam": double.JoinParam(),
    "JoinParam4WithoutLogin": double.JoinParam4WithoutLogin(),
}


def _spec() -> dict[str, Any]:
    """Every name the double offers, which is every name `SdkMeeting` may call."""
    module = [
        name for name in vars(double.FakeZoomSdk) if not name.startswith("_") and name[0].isupper()
    ]
    members = {
        name: [m.name for m in value]
        for name, value in vars(double.FakeZoomSdk).items()
        if isinstance(value, type) and issubclass(value, enum.Enum)
    }
    methods = {
        cls: sorted(
            name
            for name, _ in inspect.getmembers(getattr(double, cls), inspect.isfunction)
            if name[0].isupper()
        )
        for cls in _CLASSES
    }
    fields = {name: sorted(vars(value)) for name, value in _VALUE_TYPES.items()}
    callbacks = {
        name: list(value.NAMES)
        for name, value in vars(double.FakeZoomSdk).items()
        if isinstance(value, type) and issubclass(value, double._Callbacks)
    }
    return {
        "module": sorted(module),
        "members": members,
        "methods": methods,
        "fields": fields,
        "callbacks": callbacks,
    }


_PROBE = r"""
import json, sys
spec = json.loads(sys.stdin.read())
import zoom_meeting_sdk as z
missing = []
for name in spec["module"]:
    if not hasattr(z, name):
        missing.append(name)
for enum_name, names in spec["members"].items():
    for member in names:
        if not hasattr(getattr(z, enum_name, None), member):
            missing.append(f"{enum_name}.{member}")
for cls, names in spec["methods"].items():
    for method in names:
        if not hasattr(getattr(z, cls, None), method):
            missing.append(f"{cls}.{method}")
for cls, names in spec["fields"].items():
    for field in names:
        if not hasattr(getattr(z, cls, None), field):
            missing.append(f"{cls}.{field}")
for cls, names in spec["callbacks"].items():
    doc = getattr(getattr(z, cls, None), "__init__").__doc__ or ""
    for kw in names:
        if kw + ":" not in doc:
            missing.append(f"{cls}({kw}=...)")
fail_codes = {m.name: int(m) for m in z.MeetingFailCode}
auth = [m for m in dir(z.AuthResult) if m.startswith("AUTHRET_")]
with open(sys.argv[1], "w") as out:
    json.dump({"missing": missing, "fail_codes": fail_codes, "auth": auth}, out)
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if importlib.util.find_spec("zoom_meeting_sdk") is None:
        pytest.skip(
            "zoom-meeting-sdk is not installed (pip install 'balint-bot[sdk]'; the wheel "
            "exists for Linux x86_64 only)"
        )
    result_file = tmp_path_factory.mktemp("sdk") / "probe.json"
    home = tmp_path_factory.mktemp("home")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(result_file)],
        input=json.dumps(_spec()),
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if done.returncode != 0 or not Path(result_file).exists():
        pytest.skip(f"zoom_meeting_sdk does not import here: {done.stderr.strip()[-300:]}")
    data: dict[str, object] = json.loads(Path(result_file).read_text(encoding="utf-8"))
    return data


def test_every_name_we_call_exists_in_the_real_bindings(real):
    assert real["missing"] == []


def test_fail_code_table_matches_the_real_enum(real):
    assert {code: name for code, (name, _) in FAIL_CODES.items()} == {
        value: name for name, value in real["fail_codes"].items()
    }


def test_auth_messages_cover_every_real_auth_result(real):
    assert sorted(real["auth"]) == sorted(AUTH_MESSAGES)


def test_spec_is_not_empty():
    spec = _spec()
    assert "InitSDK" in spec["module"]
    assert "AdmitToMeeting" in spec["methods"]["IMeetingWaitingRoomController"]
    assert "userZAK" in spec["fields"]["JoinParam4WithoutLogin"]
