"""kansoku area package (see docs/contracts.md)."""
