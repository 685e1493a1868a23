"""Log text made safe to print on a terminal: control characters are shown, never obeyed.

Anyone who can make a service log a string (a request header, an instance name, a file
name) controls those bytes, and a terminal obeys escape sequences: clear the screen, move
the cursor to overwrite the verdict, set the window title, forge an OSC 8 hyperlink. rich
strips a few controls (BEL, BS, VT, FF, CR) but prints ESC and the C1 range as they are.
So everything that came from a log is passed through `visible` before rendering: C0
controls (except tab and, where a field may hold lines, newline), DEL, the C1 range and
the Unicode bidirectional overrides (the "Trojan Source" reordering) become their escaped
form, e.g. `\\x1b[2J` prints as the eight characters `\\x1b[2J`.
"""

from __future__ import annotations

_UNSAFE = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]


def _escaped(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE: dict[int, str] = {c: _escaped(c) for c in (*_UNSAFE, *_BIDI)}
_TABLE_ONE_LINE: dict[int, str] = {**_TABLE, 0x0A: "\\n"}


def visible(text: str, one_line: bool = False) -> str:
    """`text` with every character a terminal would act on written out (`\\x1b`, `\\u202e`).

    `one_line` also writes newlines as `\\n`, for a field that must not start a new output
    line (a service name, a request id).
    """
    return text.translate(_TABLE_ONE_LINE if one_line else _TABLE)
