"""Fault-injection suites: real processes killed with SIGKILL at seeded random moments, the
outcome compared with an undisturbed run (docs/reliability.md says what each one proves)."""
