"""``python -m kansoku.tracing.demo OUT [--seed N] [--scale N] [--bytes N]``: write a demo cloud."""

from kansoku.tracing.demo.generate import main

main()
