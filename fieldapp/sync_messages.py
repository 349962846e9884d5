"""What a failed sync or enrollment means for the enumerator, in the UI language.

Errors travel as codes (`SyncError.code`: the server's `error` field, or the client's own
code for a network failure); this module is the one place that turns a code into words.
Exception class names and English server messages never reach the screen.
"""

from __future__ import annotations

from fieldapp.i18n import N_, _

SAFE = N_("Your data is safe on this tablet.")

MESSAGES: dict[str, str] = {
    # The client's own codes.
    "unreachable": N_(
        "Could not reach the sync server. Check the Wi-Fi or mobile data and the server "
        "address in Settings, then try again."
    ),
    "server-error": N_("The sync server has a problem. Try again later or call your supervisor."),
    "bad-answer": N_(
        "The address in Settings does not answer like a sync server. Check it with your supervisor."
    ),
    "not-enrolled": N_(
        "This tablet is not enrolled yet. Enter the enrollment code from your supervisor in "
        "Settings."
    ),
    "no-server": N_("No sync server is set up. Enter its address in Settings."),
    "cancelled": N_("Sync cancelled."),
    "refused": N_(
        "The server refused this tablet. Ask your supervisor for a new enrollment code and "
        "enter it in Settings."
    ),
    "failed": N_("The sync stopped. Try again; if it keeps failing, call your supervisor."),
    # The server's codes (sync_server's ApiError codes).
    "unknown-code": N_(
        "The enrollment code was not accepted: it is wrong, used or expired. Check it or ask "
        "for a new one."
    ),
    "device-id-taken": N_("Another tablet is enrolled with this device id. Call your supervisor."),
    "forbidden": N_(
        "The server no longer accepts this tablet (it may have been revoked). Ask your "
        "supervisor for a new enrollment code and enter it in Settings."
    ),
    "auth": N_(
        "The server does not know this tablet (any more). Ask your supervisor for a new "
        "enrollment code and enter it in Settings."
    ),
    "revoked": N_(
        "This tablet or its enrollment code was revoked. Ask your supervisor for a new "
        "enrollment code and enter it in Settings."
    ),
    "expired": N_("The enrollment code has expired. Ask your supervisor for a new one."),
    "used": N_(
        "The enrollment code was already used by another tablet. Each code enrolls one "
        "tablet: ask your supervisor for a new one."
    ),
    "wrong-device": N_("The server refused this tablet's identity. Call your supervisor."),
    "out-of-scope": N_("A record is outside the district this tablet is enrolled for."),
    "unknown-form": N_(
        "The server does not know one of this tablet's forms. Call your supervisor."
    ),
    "too-large": N_(
        "A batch was too large for the server. Try again; call your supervisor if it repeats."
    ),
    "invalid": N_("The server could not read this tablet's request. Call your supervisor."),
    "bad-json": N_("The server could not read this tablet's request. Call your supervisor."),
    "bad-gzip": N_("The server could not read this tablet's request. Call your supervisor."),
    "not-found": N_(
        "The address in Settings does not answer like a sync server. Check it with your supervisor."
    ),
    "internal": N_("The sync server has a problem. Try again later or call your supervisor."),
    "disconnected": N_("The connection was cut during the upload. Try again; nothing was lost."),
    "encoding": N_("The server could not read this tablet's request. Call your supervisor."),
    "method-not-allowed": N_(
        "The address in Settings does not answer like a sync server. Check it with your supervisor."
    ),
    # Codes of the coordinators' review, which a tablet never causes; said plainly anyway.
    "already-resolved": N_("This conflict was already resolved by someone else."),
    "not-a-side": N_("That choice is not one of the conflict's sides."),
    "wrong-fields": N_("That decision does not name exactly the conflict's fields."),
    "content-type": N_(
        "The server could not read this tablet's request (wrong content type). Call your "
        "supervisor: the app may need an update."
    ),
    "rate-limited": N_(
        "Too many wrong enrollment codes were tried. Wait a few minutes, check the code "
        "and try again."
    ),
    "already-decided": N_("This was already decided by someone else."),
    "not-decided": N_("This has not been decided yet."),
    "unknown-attachment": N_(
        "The server does not have a file this form needs. Call your supervisor."
    ),
    # Record media (photos, recordings, files): tried again at the next sync.
    "offset": N_("A photo or file was cut off on the way; the next sync goes on where it stopped."),
    "checksum": N_("A photo or file arrived damaged at the server; the next sync sends it again."),
    "media-type": N_(
        "The server does not accept the type of a file attached to a record. Call your supervisor."
    ),
    # Codes of the coordinators' exports (GET /api/v1/exports/...), never a tablet's.
    "unknown-format": N_("The server cannot export in that format."),
    "bad-options": N_("The server cannot make an export with those options."),
}


def describe(error: BaseException) -> str:
    """One or two sentences in the UI language: what happened and what to do."""
    code = getattr(error, "code", "failed")
    message = MESSAGES.get(code)
    if message is None:
        text = _("The server refused the request (code {code}).").format(code=code)
    else:
        text = _(message)
    return text + " " + _(SAFE)
