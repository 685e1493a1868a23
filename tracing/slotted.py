"""Slotted record classes without `dataclasses`: equality, `repr`, frozenness and `replace`.

Why not `@dataclass`: `kansoku trace ID` is a ~30 ms process, and `import dataclasses` costs
~8 ms of it (it imports `inspect`, hence `ast`, `dis`, `tokenize`), plus ~0.4 ms per class
(each compiles its generated `__init__`, `__eq__`, `__repr__` and, with `slots=True`, builds
the class twice). A record here writes its `__init__` and `__slots__` (the fields, in order)
and inherits the rest, which reads the fields from `__slots__`:

* `Record`: `__eq__` and `__repr__` as a dataclass makes them; unhashable, like a
  non-frozen dataclass with `eq=True`.
* `FrozenRecord`: also hashable, and assignment raises `AttributeError` (a frozen
  dataclass's `FrozenInstanceError` is one); `__init__` sets fields with
  `object.__setattr__`, as the frozen dataclass's generated one does.
* `replace(record, **changes)`: `dataclasses.replace`.
* `Row`: the same equality and `repr` for a class that keeps a `__dict__` (the index
  manifest's rows, read and written through `vars()`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a TypeVar with a bound costs ~0.7 ms at run time (typing compiles the bound)
    from typing import TypeVar

    _R = TypeVar("_R", bound="Record")


class Record:
    """Equality and `repr` over the fields (`__slots__`, in order), as a dataclass has them.

    Like a non-frozen dataclass with `eq=True`, a record is unhashable (`__hash__ = None`,
    which Python sets because `__eq__` is defined here)."""

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        fields = self.__slots__
        return tuple(getattr(self, f) for f in fields) == tuple(getattr(other, f) for f in fields)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__qualname__}({fields})"


class Row:
    """Equality and `repr` over the instance's `vars()`, as a (non-frozen) dataclass has them.

    For records that keep a `__dict__`: the index manifest's rows are read from and written
    to JSON through `vars()`. Unhashable, like a dataclass with `eq=True`."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class FrozenRecord(Record):
    """A record whose fields cannot be assigned after `__init__` (a frozen dataclass): hashable."""

    __slots__: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, f) for f in self.__slots__))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __getstate__(self) -> list[Any]:  # copy and pickle: slots, set without __setattr__
        return [getattr(self, f) for f in self.__slots__]

    def __setstate__(self, state: list[Any]) -> None:
        for f, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, f, value)


def replace(record: _R, **changes: Any) -> _R:
    """A copy of `record` with `changes` (field name -> new value): `dataclasses.replace`."""
    unknown = set(changes) - set(record.__slots__)
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    copy = object.__new__(type(record))
    for f in record.__slots__:
        object.__setattr__(copy, f, changes[f] if f in changes else getattr(record, f))
    return copy
