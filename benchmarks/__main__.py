"""``python -m benchmarks [suite|national|all] [--repeat 3] [--sizes 1,4,16] [--big-register]``."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from . import national, suite


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("which", nargs="?", default="all", choices=("all", "suite", "national"))
    p.add_argument("--sizes", default="1,4,16", help="national data sizes, 16 = 9M participants")
    p.add_argument("--big-register", action="store_true",
                   help="also the 16x data with up to 12 sessions per participant (~97M "
                        "register rows): load, attendance rates and summary")
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "ct-bench"),
                   help="folder for generated data (kept between runs)")
    p.add_argument("--repeat", type=int, default=3,
                   help="suite: builds (and rounds of minimal notebooks) to take the median of")
    p.add_argument("--json", default=None, help="write all figures to this file")
    args = p.parse_args()
    figures = {}
    if args.which in ("all", "suite"):
        figures["suite"] = suite.run(repeat=args.repeat)
    if args.which in ("all", "national"):
        sizes = tuple(int(s) for s in args.sizes.split(","))
        figures["national"] = national.main(Path(args.work), sizes, big_register=args.big_register)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    if figures.get("national"):
        print("\n" + national.summary_table(figures["national"]), flush=True)
    return 0


raise SystemExit(main())
