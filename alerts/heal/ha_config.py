"""`ha:` in heal.yaml: where the replicas of `kansoku heal serve` coordinate (etcd v3).

Why a separate model: without `ha` the healer is exactly what it was (one replica, SQLite);
with it, the endpoints, the lease and the key prefix are checked at load like every other
field (file:line:field), and an endpoint carrying a password inline is refused (kansoku.urls),
because heal.yaml is reviewed and committed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kansoku.urls import check_url


class HaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    etcd: list[str] = Field(..., min_length=1, description="etcd v3 client URLs (JSON gateway, /v3/...)")
    lease_seconds: int = Field(
        10, ge=2, le=300, description="leader lease: a dead leader is replaced within about this long"
    )
    prefix: str = Field("/kansoku/heal", pattern=r"^/\S*[^/\s]$", description="etcd key prefix")
    replica: str | None = Field(
        None,
        min_length=1,
        description="this replica's name in etcd; default host:journal path (stable across restarts)",
    )

    @field_validator("etcd")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return [check_url(u, "etcd endpoint", schemes=("http", "https")) for u in value]
