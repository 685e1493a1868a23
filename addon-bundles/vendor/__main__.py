"""`python -m kansoku.addon_bundles.vendor ...`: vendor the community mixins (see `main`)."""

from kansoku.addon_bundles.vendor import main

main()
