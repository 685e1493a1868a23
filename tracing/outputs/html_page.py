"""`kansoku trace ID --html FILE`: one self-contained page (inline CSS, JS and SVG; no network).

The page embeds the same document as `--json` and draws the waterfall in the browser, so
the HTML and JSON outputs can never disagree, and the file can be mailed or attached to a
ticket and opened offline.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from kansoku.tracing.model import Trace, Verdict
from kansoku.tracing.outputs.json_doc import trace_document

TEMPLATE = Path(__file__).with_name("trace_page.html")


def render_html(trace: Trace, verdict: Verdict) -> str:
    """The page as text; the trace data is embedded as JSON that cannot close its script tag."""
    data = json.dumps(trace_document(trace, verdict), ensure_ascii=False)
    # Inside <script>, "</script>" or "<!--" in a log line would end or confuse the element;
    # \u003c is the same character to JSON.parse and never a tag to the HTML parser.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = TEMPLATE.read_text(encoding="utf-8")
    return page.replace("__TITLE__", escape(trace.query)).replace("__TRACE_JSON__", data)
