"""Request ids and UUIDs are matched by one module (`kansoku.ids`), light enough for `kansoku trace`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from kansoku.ids import (
    ID_TAIL_BYTES_RE,
    ID_TAIL_RE,
    PASTED_REQUEST_ID_RE,
    PASTED_UUID_RE,
    REQUEST_ID_RE,
    UUID_RE,
    UUID_TOKEN_RE,
)
from tests.test_structure import product_files

REPO = Path(__file__).resolve().parent.parent
RID = "req-6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def test_the_patterns_match_what_openstack_writes() -> None:
    assert REQUEST_ID_RE.fullmatch(RID)
    assert UUID_RE.fullmatch(RID[4:])
    assert not REQUEST_ID_RE.fullmatch(RID.upper())
    line = f"[{RID} 0123456789abcdef0123456789abcdef] instance 3f6c0b1e-2a4d-4c5e-9f70-81a2b3c4d5e6x"
    # a bare UUID, not the one inside the request id, nor one that runs on into more hex
    assert UUID_TOKEN_RE.findall(line) == ["3f6c0b1e-2a4d-4c5e-9f70-81a2b3c4d5e6"]
    assert UUID_TOKEN_RE.findall(RID[4:] + "a") == []
    assert PASTED_REQUEST_ID_RE.search(f"X-OpenStack-Request-ID: {RID.upper()}").group(0).lower() == RID
    assert PASTED_UUID_RE.search(f"'{RID[4:].upper()}',").group(0).lower() == RID[4:]
    assert ID_TAIL_RE.search(RID).group(1) == RID[-17:]
    assert ID_TAIL_BYTES_RE.search(RID.encode()).group(1) == RID[-17:].encode()


#: a UUID or request-id pattern written out (hex class of 8, then a dash)
UUID_PATTERN = re.compile(r"\[0-9a-f(?:A-F)?\]\{8\}-|req-\[0-9a-f")


def test_no_other_product_module_writes_an_id_pattern() -> None:
    found = [
        str(path.relative_to(REPO))
        for path in product_files()
        if path != REPO / "kansoku" / "ids.py" and UUID_PATTERN.search(path.read_text())
    ]
    assert found == []


def test_the_ids_module_imports_nothing_heavy() -> None:
    code = "import sys, kansoku.ids; print(sorted(m for m in ('pydantic', 'numpy', 'typer') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
