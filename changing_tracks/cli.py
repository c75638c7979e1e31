"""Command line: ``python -m changing_tracks {validate,sample,build,dictionary}``.

Exit codes: 0 success; 1 a report failed to build; 2 invalid data or arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _cmd_validate(args: argparse.Namespace) -> int:
    from . import DataValidationError, load_data
    from .validation import format_problems

    try:
        data = load_data(args.directory, allow_identifiers=args.allow_identifiers)
    except DataValidationError as error:
        print(f"The data in {args.directory} are not valid.\n", file=sys.stderr)
        print(str(error), file=sys.stderr)
        return 2
    print(f"Data in {args.directory} are valid.\n")
    summary = data.summary()
    print(summary.to_string(index=False))
    print()
    print("Services:", ", ".join(data.services["service"].astype(str)))
    print("Programme years:", ", ".join(data.years) or "none")
    warnings = data.warnings
    print(f"\n{len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
          + (":" if len(warnings) else "."))
    if len(warnings):
        print(format_problems(warnings, limit=args.limit))
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .sample import write_sample

    try:
        files = write_sample(args.out, seed=args.seed, n_services=args.services,
                             participants_per_service=args.participants_per_service,
                             audit_format=args.audit_format, attendance=not args.no_attendance,
                             outcomes=not args.no_outcomes,
                             sessions_per_participant=args.sessions_per_participant,
                             wellbeing_share=args.wellbeing_share)
    except ValueError as exc:  # an argument out of range: say which, without a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {len(files)} files to {args.out} (seed {args.seed}).")
    return 0


def _cmd_dictionary(args: argparse.Namespace) -> int:
    from .dictionary import data_dictionary

    text = data_dictionary()
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    else:
        print(text)
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from .build import run_build

    return run_build(args)


def parser() -> argparse.ArgumentParser:
    """The argument parser (documented in the README)."""
    p = argparse.ArgumentParser(prog="python -m changing_tracks",
                                description="Changing Tracks evaluation data and reports.")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a data folder and print a summary")
    v.add_argument("directory", nargs="?", default="data/sample")
    v.add_argument("--allow-identifiers", action="store_true",
                   help="drop columns that look like names, emails, dates of birth… instead of "
                        "refusing the file")
    v.add_argument("--limit", type=int, default=200, help="most problems to print")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("sample", help="write the synthetic sample data set")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=2020)
    s.add_argument("--services", type=int, default=None,
                   help="number of services (default: the 8 partners of 2019-20)")
    s.add_argument("--participants-per-service", type=int, default=None)
    s.add_argument("--audit-format", choices=("workbooks", "csv"), default="workbooks",
                   help="csv writes one audit_ratings.csv (quicker at national scale)")
    s.add_argument("--sessions-per-participant", type=int, default=None,
                   help="weekly sessions per project (default 10-30); fewer shrinks the register")
    s.add_argument("--wellbeing-share", type=float, default=1.0,
                   help="share (above 0, at most 1) of the usual wellbeing questionnaires")
    s.add_argument("--no-attendance", action="store_true", help="leave the register empty")
    s.add_argument("--no-outcomes", action="store_true", help="leave outcome ratings empty")
    s.set_defaults(func=_cmd_sample)

    d = sub.add_parser("dictionary", help="write the data dictionary generated from the contracts")
    d.add_argument("--out", default=None)
    d.set_defaults(func=_cmd_dictionary)

    b = sub.add_parser("build", help="run the report notebooks and write HTML reports")
    from .build import add_build_arguments

    add_build_arguments(b)
    b.set_defaults(func=_cmd_build)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args) or 0)
