"""Regular expressions compiled on first use, not at import.

Why: `re.compile` runs the pure-Python regex parser and compiler, ~50-150 us a pattern, in
every process. kansoku's modules hold ~100 patterns; `kansoku trace ID` needs a few of them
(which few depends on the log lines it meets), yet compiled them all at start-up: several
ms of a ~30 ms process. A `LazyPattern` costs nothing until one of its methods is called;
then it compiles once and stores the compiled pattern's bound methods on itself, so every
later call is a plain attribute hit on the compiled pattern's method (no wrapper in between:
hot loops pay nothing for the laziness).

Only the methods kansoku calls are offered (typed like `re.Pattern`'s); a `LazyPattern` is
not an `re.Pattern` (mypy says so when one is passed to `re.sub` and the like): call its
methods, or `compiled()` for the pattern itself.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, AnyStr, Generic

#: The methods a first call rebinds to the compiled pattern's own.
_METHODS = ("search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split")


class LazyPattern(Generic[AnyStr]):
    """`re.compile(pattern, flags)`, done at the first call of one of its methods."""

    def __init__(self, pattern: AnyStr, flags: int = 0) -> None:
        self.pattern: AnyStr = pattern
        self.flags = flags

    def compiled(self) -> re.Pattern[AnyStr]:
        """The compiled pattern; after this every method is the compiled pattern's own."""
        compiled = re.compile(self.pattern, self.flags)
        self.__dict__.update({name: getattr(compiled, name) for name in _METHODS})
        self.__dict__["compiled"] = lambda: compiled
        return compiled

    def search(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self.compiled().search(string, pos, endpos)

    def match(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self.compiled().match(string, pos, endpos)

    def fullmatch(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self.compiled().fullmatch(string, pos, endpos)

    def findall(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        return self.compiled().findall(string, pos, endpos)

    def finditer(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[AnyStr]]:
        return self.compiled().finditer(string, pos, endpos)

    def sub(
        self, repl: AnyStr | Callable[[re.Match[AnyStr]], AnyStr], string: AnyStr, count: int = 0
    ) -> AnyStr:
        return self.compiled().sub(repl, string, count)

    def subn(
        self, repl: AnyStr | Callable[[re.Match[AnyStr]], AnyStr], string: AnyStr, count: int = 0
    ) -> tuple[AnyStr, int]:
        return self.compiled().subn(repl, string, count)

    def split(self, string: AnyStr, maxsplit: int = 0) -> list[AnyStr | Any]:
        return self.compiled().split(string, maxsplit)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self.flags})"


def lazy_compile(pattern: AnyStr, flags: int = 0) -> LazyPattern[AnyStr]:
    """A pattern compiled on first use (`re.compile`'s arguments)."""
    return LazyPattern(pattern, flags)
