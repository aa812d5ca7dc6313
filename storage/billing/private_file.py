"""Writing export files owner-only: created with mode 0600, never loosened, never overwritten.

Exports carry PHI (ohip-reference §5), so the file is created by `os.open` with
`O_CREAT | O_EXCL` and mode 0600 in one step: there is no moment when it exists with wider
permissions, and an existing file (a previous export) is never replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.billing.errors import BillingError

__all__ = ["write_private"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 and write `data` to it, flushed to disk.

    Raises:
        BillingError: the file exists already, or its folder is missing or not writable.
    """
    try:
        descriptor = os.open(path, _FLAGS, 0o600)
    except FileExistsError:
        raise BillingError(f"{path} exists already; it is not overwritten") from None
    except OSError as failed:
        raise BillingError(f"cannot create {path}: {failed.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as failed:
        path.unlink(missing_ok=True)
        raise BillingError(f"cannot write {path}: {failed.strerror}") from None
