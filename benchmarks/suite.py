"""Report-suite benchmark: the parallel build against a sequential papermill loop and a floor.

- build: ``changing_tracks.build.build_reports`` on the sample (all cores), with kernels
  forked from a warm process (the default on Linux) and, for comparison, started afresh;
- loop: the ``papermill`` command run once per report, one after another, with the same
  notebooks and parameters (no HTML rendering, so the loop is favoured);
- floor: one minimal notebook that only imports the project, executed by papermill,
  times the number of reports divided by the cores: what any notebook-per-report build
  must pay at least.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
_MINIMAL = ("import changing_tracks, changing_tracks.reports, changing_tracks.wellbeing, "
            "changing_tracks.participation, changing_tracks.audit, changing_tracks.outcomes, "
            "changing_tracks.workforce\nimport pandas, matplotlib.pyplot")


def _papermill_cli() -> list[str]:
    exe = Path(sys.executable).with_name("papermill")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "papermill"]


def run(data_dir: Path = REPO / "data" / "sample", jobs: int | None = None) -> dict:
    import changing_tracks as ct
    from changing_tracks.build import build_reports, plan_reports
    from changing_tracks.disclosure import DisclosurePolicy

    cores = jobs or os.cpu_count() or 1
    data = ct.load_data(data_dir)
    rel = os.path.relpath(data_dir, NOTEBOOKS)
    plan = plan_reports(data, data_dir=rel, disclosure=DisclosurePolicy().to_dict(), analysis={})
    work = Path(tempfile.mkdtemp(prefix="ct-bench-suite-"))
    try:
        started = time.perf_counter()
        result = build_reports(data_dir, work / "build", jobs=cores, progress=False)
        build_seconds = time.perf_counter() - started
        failed = len(result.failures)

        started = time.perf_counter()
        result = build_reports(data_dir, work / "fresh", jobs=cores, progress=False,
                               fork_kernels=False)
        fresh_seconds = time.perf_counter() - started
        failed += len(result.failures)

        started = time.perf_counter()
        for job in plan:
            out = work / "loop" / (job.output.replace("/", "_") + ".ipynb")
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*_papermill_cli(), str(NOTEBOOKS / job.notebook), str(out),
                            "-y", json.dumps(job.parameters), "--cwd", str(NOTEBOOKS),
                            "-k", "python3", "--no-progress-bar", "--log-level", "ERROR"],
                           check=True, capture_output=True)
        loop_seconds = time.perf_counter() - started

        minimal = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_MINIMAL)])
        minimal.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                          "language": "python"}
        nbformat.write(minimal, work / "minimal.ipynb")
        import papermill

        starts = []
        for _ in range(3):
            started = time.perf_counter()
            papermill.execute_notebook(str(work / "minimal.ipynb"), str(work / "minimal.out.ipynb"),
                                       kernel_name="python3", progress_bar=False)
            starts.append(time.perf_counter() - started)
        one_start = min(starts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = one_start * len(plan) / cores
    figures = {"reports": len(plan), "failed": failed, "cores": cores,
               "build_seconds": round(build_seconds, 1),
               "fresh_kernels_build_seconds": round(fresh_seconds, 1),
               "loop_seconds": round(loop_seconds, 1),
               "speedup": round(loop_seconds / build_seconds, 2),
               "minimal_notebook_seconds": round(one_start, 2), "floor_seconds": round(floor, 1),
               "build_over_floor": round(build_seconds / floor, 2)}
    print("\n== Report suite on", data_dir)
    print(f"   reports                               {len(plan):>8} ({failed} failed)")
    print(f"   build (python -m changing_tracks build, {cores} jobs) {build_seconds:>8.1f} s")
    print(f"   build with --fresh-kernels             {fresh_seconds:>8.1f} s")
    print(f"   sequential papermill loop              {loop_seconds:>8.1f} s")
    print(f"   speed-up (target >= 1.8)               {figures['speedup']:>8.2f} x")
    print(f"   minimal notebook start                 {one_start:>8.2f} s")
    print(f"   floor = start x reports / cores        {floor:>8.1f} s")
    print(f"   build / floor (target <= 1.5)          {figures['build_over_floor']:>8.2f} x",
          flush=True)
    return figures
