"""National-scale benchmark: time and peak memory to load, validate, score and tabulate.

Each size runs in a fresh process so that its peak memory (``ru_maxrss``) is its own,
with the allocator settings the README gives for large data (:data:`MEMORY_SETTINGS`);
the 16x data are also run without them, for comparison. Data are made by the sample
generator (``audit_format="csv"``, no outcomes) and cached under the work folder, keyed by
their parameters.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

#: Participants per service and year at 1x (150 services, two years, later cohorts in one):
#: about 0.57M participation rows, so that 16x is about 9 million.
BASE_PER_SERVICE = 2_500
SERVICES = 150
#: Register sessions at 16x, the issue's size: 1x and 4x have a 16th and a quarter of it.
#: The data are made with two sessions per participant, and the register then cut to this
#: size keeping each young person's first session (:func:`_trim_register`).
REGISTER_ROWS_16X = 10_000_000
#: Weekly sessions offered per participant for the big register: at 16x about 97 million
#: register rows (rolling intake, late starters and withdrawals are offered fewer).
BIG_REGISTER_SESSIONS = 12
#: Share of the sample's usual wellbeing questionnaires, so that 16x has about 1 million,
#: the issue's size (the full share gives 1.81 million).
WELLBEING_SHARE = 0.55
#: glibc allocator settings for national-scale runs (README, "Large data"): freed memory is
#: kept for reuse instead of being handed back to the system, which clears it again when it
#: is next asked for. At 16x this cut the system's CPU time (mostly clearing fresh pages)
#: from 28-30 s to 19-21 s a run.
MEMORY_SETTINGS = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 36),
                   "MALLOC_TOP_PAD_": str(1 << 30)}
#: Issue 8's budget for the whole national analysis (load, validate, every step) of each
#: size up to 16x, on a 2-core machine: seconds and peak GiB.
TARGET_SECONDS = 60
TARGET_GIB = 8
#: Peak memory budget for the big register (load, attendance rates and summary); its time
#: is reported, not targeted.
BIG_REGISTER_TARGET_GIB = 16


def make_data(folder: Path, per_service: int, sessions: int,
              register_rows: int | None = None) -> dict:
    """Write (or reuse) a synthetic national data set, its register cut to ``register_rows``
    sessions if given; returns its row counts."""
    from changing_tracks.sample import write_sample

    stamp = folder / "made.json"
    if stamp.exists():
        return json.loads(stamp.read_text())
    started = time.perf_counter()
    write_sample(folder, seed=2020, n_services=SERVICES, participants_per_service=per_service,
                 audit_format="csv", outcomes=False, sessions_per_participant=sessions,
                 wellbeing_share=WELLBEING_SHARE)
    if register_rows is not None:
        _trim_register(folder / "attendance.csv", register_rows)
    counts = {p.stem: _lines(p) - 1 for p in folder.glob("*.csv")}
    counts["generate_seconds"] = round(time.perf_counter() - started, 1)
    stamp.write_text(json.dumps(counts))
    return counts


def _trim_register(path: Path, rows: int) -> None:
    """Keep ``rows`` sessions of a register: each young person's first session in the file,
    then the others in file order; the file is replaced atomically."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    table = csv.read_csv(path)
    codes = pc.dictionary_encode(table["participant"]).combine_chunks().indices.to_numpy()
    keep = np.zeros(len(codes), dtype=bool)
    keep[np.unique(codes, return_index=True)[1]] = True
    if keep.sum() > rows or len(codes) < rows:
        raise ValueError(f"cannot cut a register of {len(codes):,} sessions of {keep.sum():,} "
                         f"young people to {rows:,} sessions")
    keep[np.flatnonzero(~keep)[:rows - int(keep.sum())]] = True
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:  # as the sample writes it: nothing quoted
        fh.write((",".join(table.column_names) + "\n").encode())
        csv.write_csv(table.filter(pa.array(keep)), fh, write_options=csv.WriteOptions(
            include_header=False, quoting_style="none"))
    tmp.replace(path)


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))


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


def measure(folder: Path, steps: str = "all", settings: bool = True) -> dict:
    """Run :func:`run_steps` in a fresh interpreter (with :data:`MEMORY_SETTINGS` unless
    ``settings`` is false) and return its figures."""
    code = ("import json, sys; from pathlib import Path; from benchmarks.national import run_steps;"
            f"print(json.dumps(run_steps(Path({str(folder)!r}), {steps!r})))")
    env = {k: v for k, v in os.environ.items() if k not in MEMORY_SETTINGS}
    if settings:
        env.update(MEMORY_SETTINGS)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], env=env)
    if out.returncode:  # e.g. the data did not load: say why, not just the exit status
        raise RuntimeError(f"the national benchmark on {folder} exited with "
                           f"{out.returncode}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(work: Path, sizes=(1, 4, 16), big_register: bool = False) -> list[dict]:
    results = []
    for size in sizes:
        rows = REGISTER_ROWS_16X * size // 16
        folder = work / _folder_name(size, 2, rows)
        made = make_data(folder, BASE_PER_SERVICE * size, 2, rows)
        for settings in (True, False) if size == 16 else (True,):
            figures = measure(folder, settings=settings)
            figures.update(size=f"{size}x" + ("" if settings else ", allocator defaults"),
                           generate_seconds=made["generate_seconds"],
                           target_seconds=TARGET_SECONDS, target_gib=TARGET_GIB)
            results.append(figures)
            _print_row(figures)
    if big_register:
        folder = work / _folder_name(16, BIG_REGISTER_SESSIONS)
        made = make_data(folder, BASE_PER_SERVICE * 16, BIG_REGISTER_SESSIONS)
        figures = measure(folder, steps="register")
        figures.update(size=f"16x, up to {BIG_REGISTER_SESSIONS} sessions each",
                       generate_seconds=made["generate_seconds"], target_seconds=None,
                       target_gib=BIG_REGISTER_TARGET_GIB)
        results.append(figures)
        _print_row(figures)
    return results


def _folder_name(size: int, sessions: int, register_rows: int | None = None) -> str:
    """Cache folder of one data set, named by what sets its contents."""
    return (f"national_{size}x_s{sessions}_w{round(WELLBEING_SHARE * 100)}"
            + ("" if register_rows is None else f"_r{register_rows}"))


def _print_row(f: dict) -> None:
    rows = f["rows"]
    print(f"\n== {f['size']}: {rows['participants']:,} participation rows, "
          f"{rows['attendance']:,} sessions, {rows['wellbeing']:,} questionnaires, "
          f"{rows['audit_ratings']:,} audit ratings (generated in {f['generate_seconds']} s)")
    for step, seconds in f["times"].items():
        print(f"   {step:<36} {seconds:>8.2f} s")
    print(f"   {'total':<36} {f['total']:>8.1f} s    peak memory {f['peak_gib']:.2f} GiB",
          flush=True)


def summary_table(results: list[dict]) -> str:
    """One line per national run: size, rows, sessions, questionnaires, load / analysis /
    total seconds, peak GiB and whether the targets (seconds and GiB; GiB only for the big
    register) are met."""
    head = (f"{'size':<30} {'rows':>11} {'sessions':>12} {'questionnaires':>14} {'load s':>8} "
            f"{'analysis s':>11} "
            f"{'total s':>8} {'peak GiB':>9}  target met?")
    lines = ["National benchmark against the targets (allocator settings: README, 'Large data')",
             head, "-" * len(head)]
    for f in results:
        load = f["times"].get("load and validate", 0.0)
        total = f["total"]
        limits = []
        if f.get("target_seconds") is not None:
            limits.append((total <= f["target_seconds"], f"<= {f['target_seconds']} s"))
        if f.get("target_gib") is not None:
            limits.append((f["peak_gib"] <= f["target_gib"], f"<= {f['target_gib']} GiB"))
        verdict = ("yes" if all(ok for ok, _ in limits) else "NO") + \
            (" (" + ", ".join(text for _, text in limits) + ")" if limits else "")
        lines.append(f"{f['size']:<30} {f['rows']['participants']:>11,} "
                     f"{f['rows']['attendance']:>12,} {f['rows']['wellbeing']:>14,} "
                     f"{load:>8.1f} {total - load:>11.1f} "
                     f"{total:>8.1f} {f['peak_gib']:>9.2f}  {verdict}")
    return "\n".join(lines)
