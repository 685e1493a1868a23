"""What a dashboard definition needs to know about the cluster it is rendered for.

Why: the same Python definition is rendered for ~700 clusters; only the datasource, the
cluster's labels and the Kubernetes-version-specific metric names (chosen by the bundle)
differ. Keeping them in one frozen value makes a render a pure function of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DashboardContext:
    cluster_id: str
    region: str
    datasource_uid: str
    bundle: str  # "name-version", shown in tags so drift can be traced to a bundle
    #: logical metric name -> the name this Kubernetes version exposes (from the manifest)
    metrics: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def metric(self, logical: str) -> str:
        return self.metrics.get(logical, logical)

    @property
    def selector(self) -> str:
        """The label matcher every per-cluster query carries."""
        return f'cluster="{self.cluster_id}"'
