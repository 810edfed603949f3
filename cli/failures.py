"""Failures as users see them: one line naming what went wrong, and an exit code."""

from __future__ import annotations

EXIT_FAILED = 1


def one_line(error: BaseException) -> str:
    """The error's kind and the first line of its message (the cause's, when it has none)."""
    message = str(error).strip() or str(error.__cause__ or "").strip()
    first = message.splitlines()[0] if message else "no message"
    return f"{type(error).__name__}: {first}"
