"""National-scale benchmark: time and peak memory to load, validate, score and tabulate.

Each size runs in a fresh process so that its peak memory (``ru_maxrss``) is its own.
Data are made by the sample generator (``audit_format="csv"``, no outcomes) and
cached under the work folder, keyed by their parameters.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

#: Participants per service and year at 1x (150 services, two years, later cohorts in one):
#: about 0.57M participation rows, so that 16x is about 9 million.
BASE_PER_SERVICE = 2_500
SERVICES = 150


def make_data(folder: Path, per_service: int, sessions: int) -> dict:
    """Write (or reuse) a synthetic national data set; returns its row counts."""
    from changing_tracks.sample import write_sample

    stamp = folder / "made.json"
    if stamp.exists():
        return json.loads(stamp.read_text())
    started = time.perf_counter()
    write_sample(folder, seed=2020, n_services=SERVICES, participants_per_service=per_service,
                 audit_format="csv", outcomes=False, sessions_per_participant=sessions)
    counts = {p.stem: sum(1 for _ in p.open("rb")) - 1 for p in folder.glob("*.csv")}
    counts["generate_seconds"] = round(time.perf_counter() - started, 1)
    stamp.write_text(json.dumps(counts))
    return counts


def run_steps(folder: Path, steps: str = "all") -> dict:
    """Time each analysis step on one data folder (called in a child process)."""
    import warnings

    import changing_tracks as ct
    from changing_tracks import audit, participation, wellbeing

    warnings.simplefilter("ignore")
    times: dict[str, float] = {}

    def timed(name, fn):
        started = time.perf_counter()
        result = fn()
        times[name] = round(time.perf_counter() - started, 2)
        return result

    data = timed("load and validate", lambda: ct.load_data(folder))
    p, a = data.participants, data.attendance
    if steps in ("all", "register"):
        rates = timed("attendance rates", lambda: participation.attendance_rates(p, a, check=False))
        timed("attendance summary", lambda: participation.attendance_summary(
            rates, by=("service", "year")))
    if steps == "all":
        timed("reach", lambda: participation.reach(p, a))
        timed("representation", lambda: participation.representation(
            p, data.benchmarks, data.services))
        timed("retention", lambda: participation.retention(p, by=("service", "year")))
        timed("progression", lambda: participation.progression(p, by=("service", "year")))
        timed("equity gaps", lambda: participation.equity_gaps(p, a, by=("service", "year")))
        scored = timed("wellbeing score", lambda: wellbeing.score(data.wellbeing))
        timed("wellbeing attrition", lambda: wellbeing.attrition(scored, scale="SWEMWBS"))
        change = timed("wellbeing change by service", lambda: wellbeing.change_by(
            scored, by="service", scale="SWEMWBS"))
        timed("funnel and forest", lambda: (wellbeing.funnel_data(change),
                                            wellbeing.forest_data(change)))
        r, s = data.audit_ratings, data.audit_statements
        timed("audit scores, change, completion", lambda: (
            audit.service_scores(r, s), audit.change(r, s), audit.completion(r),
            audit.shared_gaps(r, s)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB
    return {"times": times, "total": round(sum(times.values()), 1), "peak_gib": round(peak, 2),
            "rows": {name: len(getattr(data, name)) for name in
                     ("participants", "attendance", "wellbeing", "audit_ratings")}}


def measure(folder: Path, steps: str = "all") -> dict:
    """Run :func:`run_steps` in a fresh interpreter and return its figures."""
    code = ("import json, sys; from pathlib import Path; from benchmarks.national import run_steps;"
            f"print(json.dumps(run_steps(Path({str(folder)!r}), {steps!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(work: Path, sizes=(1, 4, 16), sessions=1, big_register: bool = False) -> list[dict]:
    results = []
    for size in sizes:
        folder = work / f"national_{size}x_s{sessions}"
        made = make_data(folder, BASE_PER_SERVICE * size, sessions)
        figures = measure(folder)
        figures.update(size=f"{size}x", generate_seconds=made["generate_seconds"])
        results.append(figures)
        _print_row(figures)
    if big_register:
        folder = work / "national_16x_s10"
        made = make_data(folder, BASE_PER_SERVICE * 16, 10)
        figures = measure(folder, steps="register")
        figures.update(size="16x, 10 sessions each", generate_seconds=made["generate_seconds"])
        results.append(figures)
        _print_row(figures)
    return results


def _print_row(f: dict) -> None:
    rows = f["rows"]
    print(f"\n== {f['size']}: {rows['participants']:,} participation rows, "
          f"{rows['attendance']:,} sessions, {rows['wellbeing']:,} questionnaires, "
          f"{rows['audit_ratings']:,} audit ratings (generated in {f['generate_seconds']} s)")
    for step, seconds in f["times"].items():
        print(f"   {step:<36} {seconds:>8.2f} s")
    print(f"   {'total':<36} {f['total']:>8.1f} s    peak memory {f['peak_gib']:.2f} GiB",
          flush=True)
