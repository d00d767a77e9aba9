"""Lets ``python -m obs_bgremover`` work where the console script is not on PATH."""

from obs_bgremover.cli import main

raise SystemExit(main())
