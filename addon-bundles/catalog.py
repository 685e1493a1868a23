"""Load bundle directories into a validated catalog and choose the bundle for a cluster.

Why all checks happen here: a bad manifest, invalid PromQL, a rule that drops `cluster`,
an unknown dashboard or heal action, an unresolvable dependency must be refused when the
catalog is loaded, before anything is installed anywhere, each naming file:line:field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.version import Version

from kansoku.addon_bundles.manifest import SHARED_PREFIX, BundleManifest
from kansoku.addon_bundles.versions import in_range, parse_k8s_version, parse_range
from kansoku.alerts.rules.check import HEAL_ACTIONS, policy_findings
from kansoku.alerts.rules.model import RuleFile, load_rule_file
from kansoku.alerts.rules.promql import check_rule_file
from kansoku.alerts.rules.promtool import RULE_FILES_DIR, RULE_TESTS_DIR
from kansoku.dashboards.defs import DASHBOARDS
from kansoku.errors import ConfigError, FieldProblem, KansokuError
from kansoku.models import Cluster
from kansoku.yamlfile import line_of, load_model, read_yaml

BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"
#: The bundle family chosen for a cluster unless told otherwise.
DEFAULT_BUNDLE = "kansoku-k8s"


@dataclass(frozen=True)
class K8sManifest:
    name: str
    objects: list[dict[str, Any]]
    text: str


@dataclass
class Bundle:
    manifest: BundleManifest
    path: Path
    rule_files: list[RuleFile] = field(default_factory=list)
    rule_paths: list[Path] = field(default_factory=list)
    test_paths: list[Path] = field(default_factory=list)
    k8s_manifests: list[K8sManifest] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.manifest.key

    @property
    def version(self) -> Version:
        return Version(self.manifest.version)

    @property
    def alerts(self) -> set[str]:
        return {r.name for f in self.rule_files for r in f.rules if r.kind == "alert"}

    def supports(self, k8s_version: str) -> bool:
        return in_range(parse_k8s_version(k8s_version), parse_range(self.manifest.kubernetes))


def _resolve(bundle_dir: Path, ref: str, shared_dir: Path) -> Path:
    if ref.startswith(SHARED_PREFIX):
        return shared_dir / ref[len(SHARED_PREFIX) :]
    return bundle_dir / ref


def load_bundle(bundle_dir: Path) -> Bundle:
    """One bundle directory, fully validated; every problem is collected into one ConfigError."""
    manifest_path = bundle_dir / "manifest.yaml"
    manifest = load_model(BundleManifest, manifest_path)
    _, node = read_yaml(manifest_path)
    src = str(manifest_path)
    problems: list[FieldProblem] = []
    bundle = Bundle(manifest, bundle_dir)
    if bundle_dir.name != manifest.key:
        problems.append(
            FieldProblem(src, line_of(node, "name"), "name", f"directory must be named {manifest.key}")
        )
    for i, name in enumerate(manifest.dashboards):
        if name not in DASHBOARDS:
            problems.append(
                FieldProblem(
                    src,
                    line_of(node, "dashboards", i),
                    f"dashboards[{i}]",
                    f"unknown dashboard {name!r} (known: {', '.join(sorted(DASHBOARDS))})",
                )
            )
    for i, ref in enumerate(manifest.rule_files):
        path = _resolve(bundle_dir, ref, RULE_FILES_DIR)
        if not path.is_file():
            problems.append(
                FieldProblem(src, line_of(node, "rule_files", i), f"rule_files[{i}]", f"{path} not found")
            )
            continue
        try:
            rule_file = load_rule_file(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for finding in check_rule_file(rule_file) + policy_findings(rule_file):
            problems.append(
                FieldProblem(finding.file, finding.line, f"{finding.group}/{finding.rule}", finding.problem)
            )
        bundle.rule_files.append(rule_file)
        bundle.rule_paths.append(path)
    for i, ref in enumerate(manifest.rule_tests):
        path = _resolve(bundle_dir, ref, RULE_TESTS_DIR)
        if not path.is_file():
            problems.append(
                FieldProblem(src, line_of(node, "rule_tests", i), f"rule_tests[{i}]", f"{path} not found")
            )
        else:
            bundle.test_paths.append(path)
    for i, ref in enumerate(manifest.manifests):
        path = bundle_dir / ref
        where = (src, line_of(node, "manifests", i), f"manifests[{i}]")
        try:
            text = path.read_text(encoding="utf-8")
            objects = [o for o in yaml.safe_load_all(text) if o is not None]
        except OSError as exc:
            problems.append(FieldProblem(*where, f"{path}: {exc.strerror}"))
            continue
        except yaml.YAMLError as exc:
            problems.append(FieldProblem(*where, f"{path}: YAML syntax: {exc}"))
            continue
        for j, obj in enumerate(objects):
            if not (isinstance(obj, dict) and obj.get("apiVersion") and obj.get("kind")):
                problems.append(FieldProblem(str(path), None, f"document[{j}]", "needs apiVersion and kind"))
            elif not (obj.get("metadata") or {}).get("name"):
                problems.append(FieldProblem(str(path), None, f"document[{j}].metadata.name", "is required"))
        bundle.k8s_manifests.append(K8sManifest(path.name, objects, text))
    alert_rules = {r.name: r for f in bundle.rule_files for r in f.rules if r.kind == "alert"}
    for i, hook in enumerate(manifest.heal_hooks):
        hook_line = line_of(node, "heal_hooks", i)
        if hook.action not in HEAL_ACTIONS:
            problems.append(
                FieldProblem(
                    src, hook_line, f"heal_hooks[{i}].action", f"unknown heal action {hook.action!r}"
                )
            )
        rule = alert_rules.get(hook.alert)
        if rule is None:
            problems.append(
                FieldProblem(
                    src, hook_line, f"heal_hooks[{i}].alert", f"no rule of this bundle defines {hook.alert!r}"
                )
            )
        elif rule.annotations.get("heal_action") != hook.action:
            # the annotation is what an operator reads on the alert: it must name the same action
            problems.append(
                FieldProblem(
                    src,
                    hook_line,
                    f"heal_hooks[{i}].action",
                    f"{hook.action!r}, but rule {hook.alert} (group {rule.group}) has annotation "
                    f"heal_action={rule.annotations.get('heal_action')!r}",
                )
            )
    if problems:
        raise ConfigError(problems)
    return bundle


@dataclass
class Catalog:
    """Every known bundle version, by `name-version`."""

    bundles: dict[str, Bundle]

    def versions(self, name: str) -> list[Bundle]:
        return sorted((b for b in self.bundles.values() if b.manifest.name == name), key=lambda b: b.version)

    def get(self, key: str) -> Bundle:
        try:
            return self.bundles[key]
        except KeyError:
            raise KansokuError(f"no bundle {key!r} (known: {', '.join(sorted(self.bundles))})") from None

    def select(self, cluster: Cluster, name: str = DEFAULT_BUNDLE) -> Bundle:
        """The newest bundle `name` that supports the cluster's Kubernetes version."""
        if not cluster.k8s_version:
            raise KansokuError(f"cluster {cluster.id}: field k8s_version is not set, cannot choose a bundle")
        try:
            parse_k8s_version(cluster.k8s_version)
        except ValueError as exc:
            raise KansokuError(f"cluster {cluster.id}: field k8s_version: {exc}") from None
        fitting = [b for b in self.versions(name) if b.supports(cluster.k8s_version)]
        if not fitting:
            ranges = "; ".join(
                f"{b.key} ({b.path / 'manifest.yaml'}: kubernetes {b.manifest.kubernetes})"
                for b in self.versions(name)
            )
            raise KansokuError(
                f"cluster {cluster.id}: field k8s_version {cluster.k8s_version!r} is supported by no {name} bundle: "
                f"{ranges or 'none loaded'}"
            )
        return fitting[-1]

    def closure(self, bundle: Bundle) -> list[Bundle]:
        """The bundle and its dependencies, dependencies first (newest fitting version of each)."""
        out: list[Bundle] = []
        seen: set[str] = set()

        def visit(b: Bundle, chain: tuple[str, ...]) -> None:
            if b.key in chain:
                raise KansokuError(f"bundle dependency cycle: {' -> '.join((*chain, b.key))}")
            for dep in b.manifest.dependencies:
                spec = parse_range(dep.version)
                fits = [c for c in self.versions(dep.name) if spec.contains(c.version)]
                if not fits:
                    raise KansokuError(
                        f"{b.path / 'manifest.yaml'}: dependencies: {dep.name} {dep.version} is not in the catalog"
                    )
                visit(fits[-1], (*chain, b.key))
            if b.key not in seen:
                seen.add(b.key)
                out.append(b)

        visit(bundle, ())
        return out


def load_catalog(*roots: Path) -> Catalog:
    """All bundles under `roots` (default: the bundles shipped with kansoku), validated."""
    problems: list[FieldProblem] = []
    bundles: dict[str, Bundle] = {}
    for root in roots or (BUNDLES_DIR,):
        if not root.is_dir():
            raise KansokuError(f"bundle directory {root} does not exist")
        for bundle_dir in sorted(p for p in root.iterdir() if (p / "manifest.yaml").is_file()):
            try:
                bundle = load_bundle(bundle_dir)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            bundles[bundle.key] = bundle
    if problems:
        raise ConfigError(problems)
    catalog = Catalog(bundles)
    for bundle in bundles.values():
        catalog.closure(bundle)  # every dependency resolvable
    return catalog
