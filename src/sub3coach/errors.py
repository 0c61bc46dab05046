"""Domain errors. Every error a user can cause is a :class:`Sub3Error` whose ``str()`` is one
clear line naming the file (when there is one) and the problem. Third-party exceptions are
wrapped with ``raise ... from exc`` so the cause is kept for debugging."""
from __future__ import annotations


class Sub3Error(Exception):
    """Base class of all sub3coach errors.

    Args:
        detail: what went wrong, in one line.
        path: the file or input it concerns, if any.
    """

    def __init__(self, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        # subclasses take (path, detail) positionally; rebuild from state so errors survive
        # pickling across the importer's worker processes
        return (_rebuild, (type(self), dict(self.__dict__)))

    def __str__(self) -> str:  # one line: "path: detail"
        line = f"{self.path}: {self.detail}" if self.path else self.detail
        return " ".join(line.split())


class UnsupportedFormat(Sub3Error):
    """The input is not in any format sub3coach can read."""


class CorruptFile(Sub3Error):
    """The input looks like a known format but cannot be decoded (truncated, bad CRC, empty...)."""

    def __init__(self, path: str | None, detail: str) -> None:
        super().__init__(detail, path)


class ImplausibleWorkout(CorruptFile):
    """A workout beyond what any human records (lasting years, thousands of km, faster on
    average than a sprinter...): refused, naming the bound (see :mod:`sub3coach.clean.plausible`)."""


class NotAnActivity(Sub3Error):
    """A valid file that holds no activity (FIT monitoring/settings file, empty export...).

    Import reports these as *skipped* with the reason, not as failures."""

    def __init__(self, path: str | None, reason: str) -> None:
        super().__init__(reason, path)


class UnsafeArchive(Sub3Error):
    """An archive that would write outside its folder or expand beyond safe limits (zip bomb)."""

    def __init__(self, path: str | None, detail: str) -> None:
        super().__init__(detail, path)


class MissingChannel(Sub3Error):
    """A workout lacks a data channel an operation needs (e.g. ``hr_bpm`` for HR training)."""

    def __init__(self, channel: str, path: str | None = None) -> None:
        super().__init__(f"missing channel {channel!r}", path)
        self.channel = channel


class AthleteNotNamed(Sub3Error):
    """The library holds several athletes and the command named none. ``athletes``: their
    names. The message tells a CLI user to pass ``--athlete``; another front end words the
    remedy its own way with :meth:`asking`."""

    def __init__(self, athletes: list[str], how: str = "--athlete") -> None:
        self.athletes = list(athletes)
        shown = ", ".join(self.athletes[:5]) + (", ..." if len(self.athletes) > 5 else "")
        super().__init__(f"library holds {len(self.athletes)} athletes ({shown}): name one with {how}")

    def asking(self, how: str) -> str:
        """The same one line, telling the user to name an athlete ``how``."""
        return str(AthleteNotNamed(self.athletes, how))


class ModelError(Sub3Error):
    """A model artifact cannot be loaded or used (incompatible version, corrupt file...)."""


def _rebuild(cls: type[Sub3Error], state: dict[str, object]) -> Sub3Error:
    """Unpickle helper for :meth:`Sub3Error.__reduce__`."""
    err = Exception.__new__(cls)
    Exception.__init__(err, state.get("detail", ""))
    err.__dict__.update(state)
    return err
