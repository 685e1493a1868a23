"""kansoku (観測): request tracing, fleet health and self-healing for OpenStack clouds.

The subpackages live at the repository root and are installed under this package
(`kansoku.tracing` is `tracing/`, `kansoku.addon_bundles` is `addon-bundles/`, ...).
"""

#: The one version string: pyproject.toml reads it (dynamic version), `kansoku --version` prints it.
__version__ = "0.1.0"
