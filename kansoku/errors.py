"""User-facing errors.

Every error a user can cause (a bad file, an unknown id, a port in use) is a
`KansokuError`: the CLI prints its message and exits with its code, never a traceback.
Errors about a file carry the file, line and field so the user can go straight there.

Plain classes, not dataclasses: every command imports this module, `kansoku trace ID` too,
and `import dataclasses` alone costs ~8 ms (it imports `inspect`) of a ~30 ms process.
"""

from __future__ import annotations


class KansokuError(Exception):
    """An error meant for the user; `exit_code` is what the CLI returns."""

    exit_code: int = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class FieldProblem:
    """One problem in a user-written file: where it is and what is wrong (immutable, hashable)."""

    file: str
    line: int | None
    field: str
    message: str

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "message", message)

    def _key(self) -> tuple[str, int | None, str, str]:
        return (self.file, self.line, self.field, self.message)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, FieldProblem) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a FieldProblem")

    def __repr__(self) -> str:
        return f"FieldProblem(file={self.file!r}, line={self.line!r}, field={self.field!r}, message={self.message!r})"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(KansokuError):
    """A user-written file (inventory, heal config, bundle manifest, rules) is invalid as a whole."""

    def __init__(self, problems: list[FieldProblem] | None = None) -> None:
        self.problems: list[FieldProblem] = [] if problems is None else problems
        KansokuError.__init__(self, "\n".join(str(p) for p in self.problems) or "invalid configuration")

    def __repr__(self) -> str:
        return f"ConfigError(problems={self.problems!r})"

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
