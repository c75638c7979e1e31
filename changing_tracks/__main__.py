"""``python -m changing_tracks``: see :mod:`changing_tracks.cli`."""

from .cli import main

raise SystemExit(main())
