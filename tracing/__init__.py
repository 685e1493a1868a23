"""Request tracing and fault isolation over the OpenStack logs that exist today.

Pipeline: LogSource (files, gzip, Elasticsearch) -> parse (oslo.log text/JSON) -> index
(ids -> file offsets) -> stitch (Trace of Spans and Links) -> isolate (Verdict) -> render
(terminal waterfall, JSON, HTML, OTLP, pandas stats).
"""
