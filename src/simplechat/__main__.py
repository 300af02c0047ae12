"""Entry point for `python -m simplechat`."""

from simplechat.cli import main

raise SystemExit(main())
