"""User-facing errors.

Every error a user can cause (a bad file, an unknown id, a port in use) is a
`KansokuError`: the CLI prints its message and exits with its code, never a traceback.
Errors about a file carry the file, line and field so the user can go straight there.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class KansokuError(Exception):
    """An error meant for the user; `exit_code` is what the CLI returns."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


@dataclass(frozen=True)
class FieldProblem:
    """One problem in a user-written file: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class ConfigError(KansokuError):
    """A user-written file (inventory, heal config, bundle manifest, rules) is invalid as a whole."""

    problems: list[FieldProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        KansokuError.__init__(self, "\n".join(str(p) for p in self.problems) or "invalid configuration")

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
