"""Alert-driven, careful auto-heal: the Alertmanager webhook receiver and what it runs.

Flow: app (FastAPI receiver) -> journal (SQLite WAL; commit: group commit) -> engine (safety
rails, planning) -> worker (exactly once, verify, escalate) -> actions (registry of `Action`).
`serve` wires them for `kansoku heal serve`; docs/heal.md describes every module.
"""
