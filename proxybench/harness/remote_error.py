"""A plugin's failure in the cloud process: the message it crosses as, and the exception it becomes in the harness."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import ClassVar

from ..util.errors import ProxybenchError
from ..wire.link import Message


class RemoteError(RuntimeError):
    """A plugin failed in the cloud or device process; ``remote_traceback`` is where."""

    def __init__(self, message: str, remote_traceback: str = ""):
        super().__init__(message)
        self.message = message
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        return f"{self.message}\n--- in the plugin's process:\n{self.remote_traceback}".rstrip()


@dataclass(frozen=True)
class ChildFailure:
    """A child's failure as it crosses: a ProxybenchError (the user's input) stays one line, anything else keeps its traceback."""

    OP: ClassVar[str] = "error"
    error: str
    traceback: str
    user_error: bool

    @classmethod
    def of(cls, exc: BaseException) -> ChildFailure:
        """The exception being handled, with its traceback."""
        user = isinstance(exc, ProxybenchError)
        return cls(str(exc) if user else f"{type(exc).__name__}: {exc}", traceback.format_exc(), user)

    def to_message(self) -> Message:
        return {"op": self.OP, "user_error": self.user_error, "error": self.error, "traceback": self.traceback}

    @classmethod
    def from_message(cls, m: Message) -> ChildFailure:
        return cls(str(m["error"]), str(m.get("traceback", "")), bool(m.get("user_error")))

    def exception(self) -> Exception:
        return ProxybenchError(self.error) if self.user_error else RemoteError(self.error, self.traceback)
