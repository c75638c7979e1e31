"""Report-suite benchmark: the parallel build against a sequential papermill loop and a floor.

- build: the command ``python -m changing_tracks build`` on the sample (all cores), with
  kernels forked from a warm process (the default on Linux), run ``repeat`` times; and,
  for comparison, once with ``--fresh-kernels`` (every kernel a new Python);
- loop: the ``papermill`` command run once per report, one after another, with the same
  notebooks and parameters (no HTML rendering, so the loop is favoured);
- floor: one minimal notebook that only imports what the reports import (the notebooks'
  imports and the libraries their analyses import on first use), executed by papermill,
  times the number of reports divided by the cores: what any notebook-per-report build
  must pay at least. For comparison, the same with one minimal notebook per core at
  once, which checks that the floor's division by the cores holds on this machine.

Runs of the same build on a shared 2-core machine differ by 10-15%, so the build and
the minimal notebook are timed several times, taking turns, and their medians compared.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from changing_tracks.kernel_factory import REPORT_IMPORTS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
_MINIMAL = "import " + ", ".join(REPORT_IMPORTS)


def _papermill_cli() -> list[str]:
    exe = Path(sys.executable).with_name("papermill")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "papermill"]


def _build_command(data_dir: Path, out: Path, cores: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "changing_tracks", "build", "--data", str(data_dir),
            "--out", str(out), "--jobs", str(cores), "--no-progress", *extra]


def _timed(command: list[str]) -> float:
    """Seconds the command took; it must succeed (a build with a failed report does not)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n"
                           f"{done.stderr[-2000:]}")
    return seconds


def _minimal_start(work: Path, i: int) -> float:
    """Seconds papermill takes to run the minimal notebook (written in ``work``). The
    kernel's start-up notices are kept off the terminal, as the build keeps them, and
    shown only if the notebook fails."""
    import papermill

    from changing_tracks.build import _captured_stderr, _tail

    with _captured_stderr() as log:
        started = time.perf_counter()
        try:
            papermill.execute_notebook(str(work / "minimal.ipynb"),
                                       str(work / f"minimal.{i}.ipynb"),
                                       kernel_name="python3", progress_bar=False)
        except Exception as exc:
            raise RuntimeError(f"the minimal notebook failed: {exc}\n{_tail(log)}") from exc
        return time.perf_counter() - started


def run(data_dir: Path = REPO / "data" / "sample", jobs: int | None = None,
        repeat: int = 3) -> dict:
    import changing_tracks as ct
    from changing_tracks.build import plan_reports
    from changing_tracks.config import cores as cores_usable
    from changing_tracks.disclosure import DisclosurePolicy

    cores = jobs or cores_usable()
    data = ct.load_data(data_dir)
    rel = os.path.relpath(data_dir, NOTEBOOKS)
    plan = plan_reports(data, data_dir=rel, disclosure=DisclosurePolicy().to_dict(), analysis={})
    work = Path(tempfile.mkdtemp(prefix="ct-bench-suite-"))
    minimal = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_MINIMAL)])
    minimal.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}
    nbformat.write(minimal, work / "minimal.ipynb")
    try:
        # Builds and minimal notebooks take turns, so that the machine's changes of
        # speed over the run touch both sides of the ratio alike. The pool runs one
        # minimal notebook per core at once; it is forked before this process has a
        # kernel client of its own.
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        builds, starts, busy = [], [], []
        with ProcessPoolExecutor(cores, mp_context=get_context("fork")) as pool:
            for i in range(repeat):
                builds.append(_timed(_build_command(data_dir, work / f"build{i}", cores)))
                starts += [_minimal_start(work, 0) for _ in range(2)]
                busy.append(statistics.mean(pool.map(_minimal_start, [work] * cores,
                                                     range(cores))))
        build_seconds = statistics.median(builds)
        one_start = statistics.median(starts)
        busy_start = statistics.median(busy)

        fresh_seconds = _timed(_build_command(data_dir, work / "fresh", cores,
                                              "--fresh-kernels"))
        (work / "loop").mkdir()
        loop_seconds = sum(
            _timed([*_papermill_cli(), str(NOTEBOOKS / job.notebook),
                    str(work / "loop" / (job.output.replace("/", "_") + ".ipynb")),
                    "-y", json.dumps(job.parameters), "--cwd", str(NOTEBOOKS),
                    "-k", "python3", "--no-progress-bar", "--log-level", "ERROR"])
            for job in plan)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = one_start * len(plan) / cores
    busy_floor = busy_start * len(plan) / cores
    figures = {"reports": len(plan), "cores": cores,
               "build_seconds": round(build_seconds, 1),
               "build_runs_seconds": [round(b, 1) for b in builds],
               "fresh_kernels_build_seconds": round(fresh_seconds, 1),
               "loop_seconds": round(loop_seconds, 1),
               "speedup": round(loop_seconds / build_seconds, 2),
               "minimal_notebook_seconds": round(one_start, 2),
               "minimal_notebook_runs_seconds": [round(s, 2) for s in starts],
               "floor_seconds": round(floor, 1),
               "build_over_floor": round(build_seconds / floor, 2),
               "minimal_notebook_all_cores_busy_seconds": round(busy_start, 2),
               "floor_all_cores_busy_seconds": round(busy_floor, 1),
               "build_over_floor_all_cores_busy": round(build_seconds / busy_floor, 2)}
    runs = ", ".join(f"{b:.1f}" for b in builds)
    print("\n== Report suite on", data_dir)
    print(f"   reports                                {len(plan):>8}")
    print(f"   build, median of {repeat} (python -m changing_tracks build, {cores} jobs)"
          f" {build_seconds:>6.1f} s   runs: {runs}")
    print(f"   build with --fresh-kernels             {fresh_seconds:>8.1f} s")
    print(f"   sequential papermill loop              {loop_seconds:>8.1f} s")
    print(f"   speed-up (target >= 1.8)               {figures['speedup']:>8.2f} x")
    print(f"   minimal notebook start, median of {len(starts)}  {one_start:>8.2f} s   runs: "
          + ", ".join(f"{s:.2f}" for s in starts))
    print(f"   floor = start x reports / cores        {floor:>8.1f} s")
    print(f"   build / floor (target <= 1.5)          {figures['build_over_floor']:>8.2f} x")
    print(f"   for comparison: minimal notebook start with {cores} at once "
          f"{busy_start:>6.2f} s")
    print(f"   floor with every core busy             {busy_floor:>8.1f} s")
    print(f"   build / floor with every core busy     "
          f"{figures['build_over_floor_all_cores_busy']:>8.2f} x", flush=True)
    return figures
