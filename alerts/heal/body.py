"""Is a webhook body safe to parse and to journal? One bad body must be rejected alone.

Why each check (issue 11, item 10): a 5,000-digit integer makes `json.loads` raise a
ValueError that is not a JSONDecodeError; 100k nested brackets raise RecursionError; a lone
surrogate (`"\\ud800"`) parses fine but cannot be encoded as UTF-8, so SQLite failed inside
the shared group-commit transaction and rolled back every other sender's webhook with it.
All three now get 400 here, before anything is journaled as accepted.

The surrogate check costs nothing on normal bodies: it runs only when the raw bytes contain
a `\\ud8..`-`\\udf..` escape, and then asks whether the parsed text encodes as UTF-8.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: a JSON escape of a UTF-16 surrogate (paired ones are valid and decode to one character)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def parse_body(body: bytes) -> tuple[Any, str | None]:
    """The parsed body, or why it is not acceptable JSON text (then: 400)."""
    try:
        # strict UTF-8 first: json.loads(bytes) decodes with 'surrogatepass', which lets
        # UTF-8-encoded surrogates (ED A0 80) through as lone surrogates
        data = json.loads(body.decode("utf-8"))
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc}"
    except UnicodeDecodeError as exc:
        return None, f"malformed JSON: not UTF-8 ({exc.reason} at byte {exc.start})"
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        return None, f"malformed JSON: {exc}"
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "malformed JSON: a lone UTF-16 surrogate escape (not a character)"
        except RecursionError:
            return None, "malformed JSON: nested too deeply"
    return data, None
