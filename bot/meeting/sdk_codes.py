"""What the Meeting SDK's result codes mean, in words a facilitator or operator can act on.

Pure tables, keyed by the enum member *names* of `zoom_meeting_sdk` (the bindings expose
nanobind enums; names are stable across versions, values are compared only for
`MeetingFailCode`, which the status callback passes as a plain int). Sources: the Linux
Meeting SDK reference for `MeetingFailCode`, `AuthResult` and `SDKError`, and what other
bots met (zoom-reference.md §4.3, §6).
"""

from __future__ import annotations

__all__ = [
    "AUTH_MESSAGES",
    "FAIL_CODES",
    "fail_message",
    "refusal_for",
]

#: MeetingFailCode value -> (name, what it means for us). Values from zoom-meeting-sdk 0.0.27.
FAIL_CODES: dict[int, tuple[str, str]] = {
    0: ("MEETING_SUCCESS", "no error"),
    1: ("MEETING_FAIL_CONNECTION_ERR", "could not connect to Zoom (network or firewall)"),
    2: ("MEETING_FAIL_RECONNECT_ERR", "lost the connection and could not reconnect"),
    3: ("MEETING_FAIL_MMR_ERR", "Zoom's media router failed; try again"),
    4: ("MEETING_FAIL_PASSWORD_ERR", "wrong meeting passcode"),
    5: ("MEETING_FAIL_SESSION_ERR", "Zoom session error; try again"),
    6: ("MEETING_FAIL_MEETING_OVER", "the meeting is over"),
    7: ("MEETING_FAIL_MEETING_NOT_START", "the meeting has not started (host absent)"),
    8: ("MEETING_FAIL_MEETING_NOT_EXIST", "no such meeting: check group.meeting_id"),
    9: ("MEETING_FAIL_MEETING_USER_FULL", "the meeting is full"),
    10: ("MEETING_FAIL_CLIENT_INCOMPATIBLE", "this Meeting SDK version is too old for Zoom"),
    11: ("MEETING_FAIL_NO_MMR", "no Zoom media router available; try again"),
    12: ("MEETING_FAIL_CONFLOCKED", "the host locked the meeting"),
    13: ("MEETING_FAIL_MEETING_RESTRICTED", "the meeting is restricted for this user"),
    14: ("MEETING_FAIL_MEETING_RESTRICTED_JBH", "join before host is not allowed; host absent"),
    15: ("MEETING_FAIL_CANNOT_EMIT_WEBREQUEST", "could not reach Zoom's web service"),
    16: ("MEETING_FAIL_CANNOT_START_TOKENEXPIRE", "the ZAK has expired; fetch a new one"),
    17: ("SESSION_VIDEO_ERR", "video device error"),
    18: ("SESSION_AUDIO_AUTOSTARTERR", "audio could not start (is PulseAudio running?)"),
    19: ("MEETING_FAIL_REGISTERWEBINAR_FULL", "webinar registration is full"),
    20: ("MEETING_FAIL_REGISTERWEBINAR_HOSTREGISTER", "a host cannot register for a webinar"),
    21: ("MEETING_FAIL_REGISTERWEBINAR_PANELISTREGISTER", "a panelist cannot register"),
    22: ("MEETING_FAIL_REGISTERWEBINAR_DENIED_EMAIL", "the registration e-mail was denied"),
    23: ("MEETING_FAIL_ENFORCE_LOGIN", "the meeting requires signed-in users; join with a ZAK"),
    24: ("CONF_FAIL_ZC_CERTIFICATE_CHANGED", "Zoom's certificate changed"),
    27: ("CONF_FAIL_VANITY_NOT_EXIST", "the vanity URL does not exist"),
    28: ("CONF_FAIL_JOIN_WEBINAR_WITHSAMEEMAIL", "someone joined the webinar with this e-mail"),
    29: ("CONF_FAIL_DISALLOW_HOST_MEETING", "this user may not host meetings"),
    50: ("MEETING_FAIL_WRITE_CONFIG_FILE", "the SDK cannot write its config (HOME writable?)"),
    60: ("MEETING_FAIL_FORBID_TO_JOIN_INTERNAL_MEETING", "internal meeting: outsiders barred"),
    61: ("CONF_FAIL_REMOVED_BY_HOST", "the host removed the bot from this meeting"),
    62: ("MEETING_FAIL_HOST_DISALLOW_OUTSIDE_USER_JOIN", "the host disallows outside users"),
    63: (
        "MEETING_FAIL_UNABLE_TO_JOIN_EXTERNAL_MEETING",
        "the meeting belongs to another account: the SDK app and meeting must share one",
    ),
    64: ("MEETING_FAIL_BLOCKED_BY_ACCOUNT_ADMIN", "an account admin blocked this app"),
    82: ("MEETING_FAIL_NEED_SIGN_IN_FOR_PRIVATE_MEETING", "private meeting: sign-in needed"),
    88: ("MEETING_FAIL_NEED_CONFIRM_PLINK", "Zoom asks to confirm a personal link"),
    89: ("MEETING_FAIL_NEED_INPUT_PLINK", "Zoom asks for a personal link"),
    500: ("MEETING_FAIL_APP_PRIVILEGE_TOKEN_ERROR", "the app privilege token is invalid"),
    501: (
        "MEETING_FAIL_AUTHORIZED_USER_NOT_INMEETING",
        "the authorising user is not in the meeting (host absent)",
    ),
    502: ("MEETING_FAIL_ON_BEHALF_TOKEN_CONFLICT_LOGIN_ERROR", "OBF token conflicts with login"),
    503: (
        "MEETING_FAIL_USER_LEVEL_TOKEN_NOT_HAVE_HOST_ZAK_OBF",
        "a user-level token (the bot user's ZAK) is required",
    ),
    504: (
        "MEETING_FAIL_APP_CAN_NOT_ANONYMOUS_JOIN_MEETING",
        "Zoom refuses anonymous SDK joins: join with the bot user's ZAK",
    ),
    505: ("MEETING_FAIL_ON_BEHALF_TOKEN_INVALID", "the OBF token is invalid"),
    506: ("MEETING_FAIL_ON_BEHALF_TOKEN_NOT_MATCH_MEETING", "the OBF token is for another meeting"),
    1143: ("MEETING_FAIL_JMAK_USER_EMAIL_NOT_MATCH", "the token's user e-mail does not match"),
    65535: (
        "MEETING_FAIL_UNKNOWN",
        "unknown failure (often: the authorising user or host is absent)",
    ),
}

#: AuthResult member name -> what to do.
AUTH_MESSAGES: dict[str, str] = {
    "AUTHRET_SUCCESS": "authenticated",
    "AUTHRET_KEYORSECRETWRONG": "zoom.sdk_key or zoom.sdk_secret is wrong",
    "AUTHRET_ACCOUNTNOTSUPPORT": "the Zoom account does not support the Meeting SDK",
    "AUTHRET_ACCOUNTNOTENABLESDK": "the Meeting SDK is not enabled for the app's account",
    "AUTHRET_UNKNOWN": "no answer from Zoom: check the network and firewall first",
    "AUTHRET_SERVICE_BUSY": "Zoom's SDK service is busy; try again",
    "AUTHRET_NONE": "SDK authentication did not complete",
    "AUTHRET_OVERTIME": "SDK authentication timed out (network?)",
    "AUTHRET_NETWORKISSUE": "network problem during SDK authentication",
    "AUTHRET_CLIENT_INCOMPATIBLE": "this Meeting SDK version is no longer accepted by Zoom",
    "AUTHRET_JWTTOKENWRONG": "the SDK JWT was refused (key, secret, or clock skew)",
    "AUTHRET_KEYORSECRETEMPTY": "zoom.sdk_key or zoom.sdk_secret is empty",
    "AUTHRET_LIMIT_EXCEEDED_EXCEPTION": "the SDK app's usage limit is exceeded",
}

#: SDKError member name -> the port's refusal code (anything else is "sdk_error").
_REFUSALS: dict[str, str] = {
    "SDKERR_NO_PERMISSION": "not_privileged",
    "SDKERR_NOT_IN_MEETING": "meeting_not_running",
    "SDKERR_INVALID_PARAMETER": "no_such_participant",
}


def fail_message(code: int) -> str:
    """`MEETING_FAIL_...` name and meaning for a status-callback result code."""
    name, meaning = FAIL_CODES.get(code, (f"code {code}", "undocumented failure code"))
    return f"{meaning} ({name})"


def refusal_for(error_name: str) -> str:
    """The `MeetingControlError` code for an SDKError member name."""
    return _REFUSALS.get(error_name, "sdk_error")
