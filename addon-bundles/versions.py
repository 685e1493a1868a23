"""Kubernetes versions and version ranges, for choosing the bundle of a cluster.

Why: clusters report versions like `v1.29.4`, `1.27.3-gke.100` or `v1.28.2+k3s1`; the
bundle only cares about major.minor.patch. Ranges are written as PEP 440 specifier sets
(`>=1.21,<1.35`) because `packaging` implements them exactly and operators know the syntax.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

_K8S_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")


def parse_k8s_version(text: str) -> Version:
    """`v1.29.4-gke.1` -> Version('1.29.4'); ValueError on anything else."""
    match = _K8S_VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"not a Kubernetes version: {text!r} (expected e.g. 1.29.4 or v1.29.4)")
    major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
    return Version(f"{major}.{minor}.{patch}")


def parse_range(text: str) -> SpecifierSet:
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(f"not a version range: {text!r} (expected e.g. '>=1.21,<1.35')") from None
    if not str(spec):
        raise ValueError("version range is empty")
    return spec


def in_range(version: Version, spec: SpecifierSet) -> bool:
    return spec.contains(version, prereleases=True)
