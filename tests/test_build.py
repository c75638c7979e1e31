"""Tests for the report build (changing_tracks.build, .config, .provenance).

The fixture notebooks in tests/notebooks stand in for the real report notebooks:
the service report draws a figure, prints a warning, shows the provenance table
and raises for the service "broken". The data loader is replaced by a small fake
data set, so these tests depend on neither the real notebooks nor data/sample.
Only one build runs kernels (4 notebooks, module-scoped fixture).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import html
import io
import json
import os
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import changing_tracks.build as build
from changing_tracks.build import (
    ReportPlanError,
    add_build_arguments,
    build_reports,
    plan_reports,
    run_build,
    validate_jobs,
)
from changing_tracks.config import BuildConfig, ConfigError, load_config
from changing_tracks.provenance import file_checksums, provenance

FIXTURES = Path(__file__).parent / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")

# code from the fixture notebooks that must never reach a report's HTML
FIXTURE_CODE = ["ax.bar(", "plt.subplots", "warnings.warn(", "provenance(data_dir",
                "import matplotlib"]


def fake_data(pairs, services=None):
    """A stand-in for load_data's Dataset: participants' (service, year) and services."""
    participants = pd.DataFrame(pairs, columns=["service", "year"], dtype="str")
    ids = services or sorted({s for s, _ in pairs})
    names = [f"{s.title()} Music Service" for s in ids]
    return types.SimpleNamespace(
        participants=participants,
        services=pd.DataFrame({"service": ids, "name": names}, dtype="str"))


def parse_args(*argv):
    return add_build_arguments(argparse.ArgumentParser()).parse_args(list(argv))


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.imgs = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))


def links(text):
    parser = Links()
    parser.feed(text)
    return parser


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------

def test_config_defaults():
    cfg = load_config(None)
    assert cfg == BuildConfig(disclosure={}, analysis={}, jobs=None, timeout=600, source=None)


def test_config_reads_every_table(tmp_path):
    path = tmp_path / "reports.toml"
    path.write_text('[disclosure]\nthreshold = 10\nrounding_base = 5\nsuppress_zeros = true\n'
                    'symbol = "*"\n\n[analysis]\nwellbeing_scale = "SWEMWBS"\n'
                    'wellbeing_allow_missing = 1\nearly_stages = ["exclusion"]\n\n'
                    '[build]\njobs = 3\ntimeout = 90.5\n')
    cfg = load_config(path)
    assert cfg.disclosure == {"threshold": 10, "rounding_base": 5, "suppress_zeros": True,
                              "symbol": "*"}
    assert cfg.analysis == {"wellbeing_scale": "SWEMWBS", "wellbeing_allow_missing": 1,
                            "early_stages": ["exclusion"]}
    assert (cfg.jobs, cfg.timeout, cfg.source) == (3, 90.5, str(path))


@pytest.mark.parametrize("text, fragments", [
    ("[reports]\nx = 1\n", ["'reports'", "[disclosure], [analysis] and [build]"]),
    ("title = 'x'\n", ["'title'", "expected only the tables"]),
    ("analysis = 3\n", ["'analysis'", "expected a table", "3"]),
    ('[disclosure]\nthreshold = "10"\n', ["[disclosure] threshold", "expected an integer",
                                          "'10' (text)"]),
    ("[disclosure]\nthreshold = -1\n", ["threshold", ">= 0", "-1"]),
    ("[disclosure]\nsuppress_zeros = 1\n", ["suppress_zeros", "true or false", "1 (an integer)"]),
    ("[build]\njobs = true\n", ["[build] jobs", "integer >= 1", "True (true/false)"]),
    ("[build]\njobs = 0\n", ["[build] jobs", "integer >= 1", "0"]),
    ("[build]\ntimeout = -5\n", ["[build] timeout", "> 0", "-5"]),
    ("[build]\nworkers = 2\n", ["[build]", "'workers'", "jobs, timeout"]),
    ("[analysis]\nstart = 2019-09-01\n", ["[analysis] start", "date", "quotes"]),
    ("[analysis\n", ["not valid TOML"]),
])
def test_config_errors_name_file_key_expected_and_found(tmp_path, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_config_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


# ---------------------------------------------------------------------------
# planning and validation (nothing runs)
# ---------------------------------------------------------------------------

DATA = fake_data([("beta", "2019-20"), ("alpha", "2019-20"), ("alpha", "2019-20"),
                  ("alpha", "2020-21"), ("gamma", "2020-21")], services=["alpha", "beta", "gamma"])


def test_plan_every_year_and_service():
    jobs = plan_reports(DATA, data_dir="../data", disclosure={"threshold": 10},
                        analysis={"scale": "SWEMWBS"})
    assert [j.output for j in jobs] == [
        "2019-20/annual_learning_report", "2019-20/cross_service_comparison",
        "2019-20/service_report_alpha", "2019-20/service_report_beta",
        "2020-21/annual_learning_report", "2020-21/cross_service_comparison",
        "2020-21/service_report_alpha", "2020-21/service_report_gamma"]
    service = jobs[2]
    assert service.notebook == "service_report.ipynb"
    assert service.html == "2019-20/service_report_alpha.html"
    assert service.parameters == {"data_dir": "../data", "service": "alpha", "year": "2019-20",
                                  "disclosure": {"threshold": 10},
                                  "analysis": {"scale": "SWEMWBS"}}
    assert service.title == "Alpha Music Service: service report 2019-20"
    assert set(jobs[0].parameters) == {"data_dir", "year", "disclosure", "analysis"}
    assert jobs[1].notebook == "cross_service_comparison.ipynb"
    for job in jobs:
        assert tuple(job.parameters) == build.REPORT_PARAMETERS[job.kind]


def test_reports_start_longest_first():
    """Reports across services first, then service reports by their rows of data, so
    that the last report to run (perhaps alone) is a short one."""
    data = types.SimpleNamespace(
        **vars(DATA),
        wellbeing=pd.DataFrame({"service": ["beta"] * 4 + ["alpha"] + ["gamma"] * 5,
                                "year": ["2019-20"] * 5 + ["2020-21"] * 5}),
        # tables without years count in every year
        audit_ratings=pd.DataFrame({"service": ["gamma", "alpha"]}),
        warnings=pd.DataFrame({"service": ["x"]}).iloc[:0])
    jobs = plan_reports(data, data_dir="../data", disclosure={}, analysis={})
    sizes = build._report_sizes(data, jobs)
    # participants + wellbeing + services + audit ratings
    assert dict(zip((j.output for j in jobs), sizes)) == {
        "2019-20/annual_learning_report": 13, "2019-20/cross_service_comparison": 13,
        "2019-20/service_report_alpha": 2 + 1 + 1 + 1, "2019-20/service_report_beta": 1 + 4 + 1,
        "2020-21/annual_learning_report": 12, "2020-21/cross_service_comparison": 12,
        "2020-21/service_report_alpha": 1 + 0 + 1 + 1,
        "2020-21/service_report_gamma": 1 + 5 + 1 + 1}
    # the comparisons across services last: their sections shared with the annual reports
    # are then worked out
    assert [jobs[i].output for i in build._start_order(jobs, sizes)] == [
        "2019-20/annual_learning_report", "2020-21/annual_learning_report",
        "2020-21/service_report_gamma", "2019-20/service_report_beta",
        "2019-20/service_report_alpha", "2020-21/service_report_alpha",
        "2019-20/cross_service_comparison", "2020-21/cross_service_comparison"]


def test_cli_options():
    args = parse_args("--years", "2019-20,2020-21", "--years", "2021-22", "--services", "a",
                      "--jobs", "3", "--timeout", "30")
    assert build._as_list(args.years) == ["2019-20", "2020-21", "2021-22"]
    assert (build._as_list(args.services), args.jobs, args.timeout) == (["a"], 3, 30.0)
    assert (args.data, args.out, args.config) == ("data/sample", "reports", None)
    for bad in (["--jobs", "0"], ["--timeout", "-1"], ["--jobs", "two"]):
        with pytest.raises(SystemExit):
            with contextlib.redirect_stderr(io.StringIO()):
                parse_args(*bad)


def test_plan_filters_accept_other_spellings():
    jobs = plan_reports(DATA, years="2020/21", services=["ALPHA", "Gamma Music Service"])
    assert [j.output for j in jobs] == [
        "2020-21/annual_learning_report", "2020-21/cross_service_comparison",
        "2020-21/service_report_alpha", "2020-21/service_report_gamma"]
    # beta has participants only in 2019-20: asked for with both years, it gets one report
    jobs = plan_reports(DATA, years=["2019-20,2020-21"], services="beta")
    assert [j.output for j in jobs if j.kind == "service_report"] == ["2019-20/service_report_beta"]


def test_plan_refuses_what_is_not_in_the_data():
    with pytest.raises(ReportPlanError) as info:
        plan_reports(DATA, years=["2030-31", "2019"], services=["delta", "gamma"])
    problems = info.value.problems
    assert "no participants in year 2030-31; years in the data: 2019-20, 2020-21" in problems
    assert any("'2019' is not a programme year" in p for p in problems)
    assert any("service 'delta' is not in the data; services: alpha, beta, gamma" in p
               for p in problems)
    with pytest.raises(ReportPlanError, match="'gamma' has no participants in 2019-20; "
                                              "it has participants in 2020-21"):
        plan_reports(DATA, years="2019-20", services="gamma")
    with pytest.raises(ReportPlanError, match="no reports to build"):
        plan_reports(fake_data([]))


def copy_fixtures(tmp_path, drop_parameter=None):
    folder = tmp_path / "notebooks"
    shutil.copytree(FIXTURES, folder)
    if drop_parameter:
        path = folder / "service_report.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = "\n".join(line for line in cell.source.splitlines()
                                if not line.startswith(drop_parameter))
        nbformat.write(nb, path)
    return folder


def test_validate_jobs_checks_notebooks_and_values(tmp_path):
    folder = copy_fixtures(tmp_path, drop_parameter="analysis")
    jobs = plan_reports(DATA, years="2019-20")
    validate_jobs(plan_reports(DATA), FIXTURES)  # the fixtures are fine
    with pytest.raises(ReportPlanError) as info:
        validate_jobs(jobs, folder)
    (problem,) = info.value.problems  # one message per notebook, not per job
    assert "service_report.ipynb: its parameters cell does not declare analysis" in problem
    (folder / "annual_learning_report.ipynb").unlink()
    odd = plan_reports(DATA, years="2019-20", analysis={"when": dt.date(2020, 1, 1)})
    with pytest.raises(ReportPlanError) as info:
        validate_jobs(odd, folder)
    text = str(info.value)
    assert "notebook not found:" in text and "annual_learning_report.ipynb" in text
    assert "parameter analysis.when: expected text, a number" in text


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "services.csv").write_text("service,name\nalpha,Alpha Music Service\n")
    return folder


def test_invalid_parameters_refused_before_anything_runs(tmp_path, data_dir, monkeypatch,
                                                         capsys):
    ran = []
    monkeypatch.setattr(build, "_load_data", lambda d: DATA)
    monkeypatch.setattr(build, "_execute", lambda *a, **k: ran.append(a))
    out = tmp_path / "reports"
    bad = copy_fixtures(tmp_path, drop_parameter="service")
    cases = [["--years", "2030-31"], ["--services", "delta"], ["--notebooks", str(bad)],
             ["--notebooks", str(tmp_path / "missing")]]
    expected = ["no participants in year 2030-31", "service 'delta' is not in the data",
                "its parameters cell does not declare service", "notebook not found"]
    for extra, message in zip(cases, expected):
        args = parse_args("--data", str(data_dir), "--out", str(out), "--no-progress", *extra)
        if "--notebooks" not in extra:
            args.notebooks = str(FIXTURES)
        assert run_build(args) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("Nothing was built.") and message in err
    assert ran == [] and not out.exists()


def test_invalid_data_and_config_exit_2(tmp_path, data_dir, monkeypatch, capsys):
    from changing_tracks.validation import PROBLEM_COLUMNS, DataValidationError

    problems = pd.DataFrame([{**dict.fromkeys(PROBLEM_COLUMNS), "severity": "error",
                              "file": "participants.csv", "row": 7, "column": "year",
                              "value": "1919", "message": "not a programme year"}])

    def broken(_):
        raise DataValidationError(problems, "data")

    monkeypatch.setattr(build, "_load_data", broken)
    monkeypatch.setattr(build, "_execute", lambda *a, **k: pytest.fail("ran a notebook"))
    args = parse_args("--data", str(data_dir), "--out", str(tmp_path / "out"),
                      "--notebooks", str(FIXTURES))
    assert run_build(args) == 2
    err = capsys.readouterr().err
    assert "participants.csv, row 7, column 'year': not a programme year" in err
    config = tmp_path / "bad.toml"
    config.write_text("[disclosure]\nthreshold = 'ten'\n")
    args.config = str(config)
    assert run_build(args) == 2
    assert "bad.toml: [disclosure] threshold: expected an integer" in capsys.readouterr().err


def test_build_uses_config_and_writes_index_without_kernels(tmp_path, data_dir, monkeypatch):
    """Settings flow from the config file to every job; the index lists each result."""
    seen = {}

    def fake_execute(executor, specs, job_list, progress, order=None):
        seen.update(specs=specs, n_jobs=executor)
        return [{"status": "ok" if "beta" not in s["html"] else "failed", "duration": 61.0,
                 "error": None if "beta" not in s["html"] else "KeyError: 'x'\nmore",
                 "warnings": 0} for s in specs]

    data = types.SimpleNamespace(**vars(DATA), warnings=pd.DataFrame({"message": ["a", "b"]}))
    monkeypatch.setattr(build, "_load_data", lambda d: data)
    monkeypatch.setattr(build, "_execute", fake_execute)
    monkeypatch.setattr(build, "_start_workers", lambda n_jobs, cleanup: n_jobs)
    config = tmp_path / "c.toml"
    config.write_text('[analysis]\nwellbeing_scale = "SWEMWBS"\n[build]\njobs = 3\ntimeout = 42\n')
    result = build_reports(data_dir, tmp_path / "out", years="2019-20", config=config,
                           notebooks_dir=FIXTURES, progress=False)
    assert seen["n_jobs"] == 3
    assert {s["timeout"] for s in seen["specs"]} == {42}
    assert all(s["parameters"]["analysis"] == {"wellbeing_scale": "SWEMWBS"}
               for s in seen["specs"])
    assert all(s["cwd"] == str(FIXTURES.resolve()) for s in seen["specs"])
    # data_dir is given relative to the notebooks' folder, where kernels run
    rel = seen["specs"][0]["parameters"]["data_dir"]
    assert (FIXTURES / rel).resolve() == data_dir.resolve()
    assert [r.status for r in result.results] == ["ok", "ok", "ok", "failed"]
    assert not result.ok and [r.job.parameters["service"] for r in result.failures] == ["beta"]
    index = result.index.read_text()
    assert "3 of 4 reports were built; 1 failed" in index
    assert "KeyError: &#x27;x&#x27;" in index and "more" not in index
    assert "1 min 01 s" in index and "SWEMWBS" in index
    assert "Checking the data raised 2 warnings" in index
    manifest = json.loads((tmp_path / "out" / "build.json").read_text())
    assert [r["status"] for r in manifest["reports"]] == ["ok", "ok", "ok", "failed"]
    frame = result.to_frame()
    assert list(frame["service"].fillna("-")) == ["-", "-", "alpha", "beta"]


@pytest.mark.parametrize("fresh", [False, True])
def test_kernel_factory_runs_for_the_build_only(tmp_path, data_dir, monkeypatch, fresh):
    """The kernels' factory is up while the notebooks run and gone afterwards;
    --fresh-kernels starts none."""
    from changing_tracks import kernel_factory

    seen = {}

    def fake_execute(executor, specs, job_list, progress, order=None):
        address = specs[0]["kernel_factory"]
        seen.update(address=address, alive=address is not None and os.path.exists(address),
                    same=all(s["kernel_factory"] == address for s in specs))
        return [{"status": "ok", "duration": 1.0, "error": None, "warnings": 0} for _ in specs]

    monkeypatch.setattr(build, "_load_data", lambda d: DATA)
    monkeypatch.setattr(build, "_execute", fake_execute)
    monkeypatch.setattr(build, "_start_workers", lambda n_jobs, cleanup: None)
    args = parse_args("--data", str(data_dir), "--out", str(tmp_path / "out"), "--years",
                      "2019-20", "--notebooks", str(FIXTURES), "--no-progress",
                      *(["--fresh-kernels"] if fresh else []))
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_build(args) == 0
    assert seen["same"]
    if fresh or not kernel_factory.available():
        assert seen["address"] is None
    else:
        assert seen["alive"]
        assert not os.path.exists(os.path.dirname(seen["address"]))  # stopped, folder removed


# ---------------------------------------------------------------------------
# atomic writing and rendering (no kernels)
# ---------------------------------------------------------------------------

def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "sub" / "report.html"
    build._atomic_write(target, "old complete report")

    def half_then_fail(fh):
        fh.write(b"<html>half a rep")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build._atomic_write(target, half_then_fail)
    assert target.read_text() == "old complete report"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def executed_notebook(error=False):
    """An executed notebook as papermill leaves it, built by hand."""
    v4 = nbformat.v4
    params = v4.new_code_cell('service = "alpha"')
    params.metadata["tags"] = ["parameters"]
    injected = v4.new_code_cell('# Parameters\nservice = "omega"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    cells = [v4.new_markdown_cell("# Title"), params, injected,
             v4.new_code_cell("x = 1"),  # nothing to show
             v4.new_code_cell("print(x)", outputs=[
                 v4.new_output("stream", name="stdout", text="SHOWN\n"),
                 v4.new_output("stream", name="stderr", text="UserWarning: noisy\n")])]
    if error:
        cells.append(v4.new_code_cell("1/0", outputs=[v4.new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero",
            traceback=["Traceback (most recent call last)",
                       "ZeroDivisionError: division by zero"])]))
    return v4.new_notebook(cells=cells)


def test_report_html_hides_code_parameters_and_warnings():
    page, dropped = build._render_html(executed_notebook(), "A title", "../index.html", None)
    assert dropped == 1
    assert "<title>A title</title>" in page
    page = body(page)
    assert "SHOWN" in page
    for hidden in ("omega", "print(x)", "x = 1", "noisy", "In&nbsp;[", "Out[",
                   'class="jp-InputPrompt', "Traceback", "cdnjs"):
        assert hidden not in page, hidden
    page, _ = build._render_html(executed_notebook(error=True), "T", "../index.html",
                                 "ZeroDivisionError: division by zero")
    assert "did not build" in page and "noisy" in page
    assert "Traceback (most recent call last)" in page


def _marks(page):
    """The focusable elements and image alternatives of a page, in document order."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, features="html.parser")
    return ([(tag.name, tag.get("class"), tag.get("tabindex")) for tag in soup.find_all("div")
             if {"jp-OutputArea-output", "jp-Cell-inputWrapper"} & set(tag.get("class", []))],
            [img.get("alt") for img in soup.find_all("img")])


def test_report_html_has_the_marks_nbconvert_gives():
    # the build adds nbconvert's focus and alt-text marks without its whole-page reparse
    from nbconvert import HTMLExporter

    v4 = nbformat.v4
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
           "AAAABJRU5ErkJggg==")
    nb = executed_notebook()
    nb.cells += [
        v4.new_markdown_cell(f"A picture: ![](data:image/png;base64,{png})"),
        v4.new_code_cell("show()", outputs=[
            v4.new_output("display_data", data={
                "text/html": f'<p>Figure</p><img src="data:image/png;base64,{png}" alt="Bars">'
                             f'<img src="data:image/png;base64,{png}">',
                "text/plain": "<figure>"}),
            v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            v4.new_output("execute_result", execution_count=3,
                          data={"text/plain": "12"})])]
    ours, _ = build._render_html(nb, "T", "../index.html", None)
    theirs = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                          exclude_output_prompt=True)
    theirs.raw_template = build._REPORT_TEMPLATE
    reference, _ = theirs.from_notebook_node(build._report_notebook(nb, failed=False)[0],
                                             resources={"metadata": {"name": "T"},
                                                        "index_href": "../index.html"})
    focus, alts = _marks(ours)
    assert (focus, alts) == _marks(reference)
    assert len(focus) >= 4 and all(tabindex == "0" for *_, tabindex in focus)
    assert "Bars" in alts and alts.count(build._DEFAULT_ALT) >= 2


def test_accessible_html_marks_only_what_lacks_them():
    page = ('<div class="jp-OutputArea-output x" data-mime-type="text/html">'
            '<div class="jp-OutputArea-outputs">'  # a different class: left alone
            '<div tabindex="-1" class="jp-Cell-inputWrapper">'
            '<img src="a.png" alt=""><img src="b.png">')
    assert build.accessible_html(page) == (
        '<div tabindex="0" class="jp-OutputArea-output x" data-mime-type="text/html">'
        '<div class="jp-OutputArea-outputs">'
        '<div tabindex="-1" class="jp-Cell-inputWrapper">'
        f'<img src="a.png" alt=""><img alt="{build._DEFAULT_ALT}" src="b.png">')


def test_run_job_rendering_failure_leaves_complete_files_only(tmp_path, monkeypatch):
    import papermill

    def fake_execute(input_path, output_path, **kwargs):
        return executed_notebook()

    def render_fails(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(build, "_render_html", render_fails)
    out = tmp_path / "2019-20"
    out.mkdir()
    (out / "r.html").write_text("stale report from the last build")
    spec = {"notebook": str(FIXTURES / "service_report.ipynb"), "parameters": {},
            "html": str(out / "r.html"), "ipynb": str(out / "r.ipynb"), "title": "R",
            "cwd": str(tmp_path), "timeout": 5, "index_href": "../index.html"}
    outcome = build._run_job(spec)
    assert outcome["status"] == "failed"
    assert "could not be turned into HTML: RuntimeError: template exploded" in outcome["error"]
    page = (out / "r.html").read_text()
    assert "stale" not in page and "did not build" in page and page.rstrip().endswith("</html>")
    assert nbformat.read(out / "r.ipynb", as_version=4).cells[4].outputs[0].text == "SHOWN\n"
    assert sorted(p.name for p in out.iterdir()) == ["r.html", "r.ipynb"]


def test_run_job_failure_without_error_output_is_explained(tmp_path, monkeypatch):
    import papermill

    def times_out(input_path, output_path, **kwargs):
        raise TimeoutError("A cell timed out while it was being executed, after 5 seconds.")

    monkeypatch.setattr(papermill, "execute_notebook", times_out)
    spec = {"notebook": str(FIXTURES / "service_report.ipynb"), "parameters": {},
            "html": str(tmp_path / "r.html"), "ipynb": str(tmp_path / "r.ipynb"), "title": "R",
            "cwd": str(tmp_path), "timeout": 5, "index_href": "index.html"}
    outcome = build._run_job(spec)
    assert outcome["status"] == "failed" and outcome["error"].startswith("TimeoutError: A cell")
    page = (tmp_path / "r.html").read_text()
    assert "did not build" in page and "timed out" in page
    assert "Service report (test fixture)" in page  # the notebook's prose is still there


# ---------------------------------------------------------------------------
# provenance
# ---------------------------------------------------------------------------

def test_provenance(tmp_path):
    (tmp_path / "audit").mkdir()
    (tmp_path / "services.csv").write_bytes(b"service\nalpha\n")
    (tmp_path / "audit" / "a.xlsx").write_bytes(b"\x00\x01binary")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    table = provenance(tmp_path, {"year": "2019-20", "disclosure": {"threshold": 10, "a": 1}},
                       built_at=dt.datetime(2020, 1, 2, 3, 4, 5, 999, tzinfo=dt.timezone.utc))
    assert list(table.columns) == ["section", "item", "value"]
    rows = {(r.section, r.item): r.value for r in table.itertuples()}
    assert rows[("build", "built at (UTC)")] == "2020-01-02T03:04:05Z"
    assert rows[("build", "changing_tracks version")] == __import__("changing_tracks").__version__
    assert rows[("parameter", "disclosure")] == '{"a": 1, "threshold": 10}'
    assert rows[("data file", "services.csv")] == \
        "sha256:" + hashlib.sha256(b"service\nalpha\n").hexdigest()
    assert rows[("data file", "audit/a.xlsx")] == \
        "sha256:" + hashlib.sha256(b"\x00\x01binary").hexdigest()
    assert not any(".DS_Store" in item for item in table["item"])
    assert list(file_checksums(tmp_path)["bytes"]) == [8, 14]
    with pytest.raises(ValueError, match="expected a folder"):
        provenance(tmp_path / "nope", {})


# ---------------------------------------------------------------------------
# the build end to end: 4 notebooks, one of which fails
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    data = root / "data"
    data.mkdir()
    (data / "services.csv").write_text("service,name\nalpha,Alpha\nbroken,Broken\n")
    config = root / "reports.toml"
    config.write_text("[disclosure]\nthreshold = 10\n\n[analysis]\nwellbeing_scale = 'SWEMWBS'\n")
    out = root / "reports"
    fake = fake_data([("alpha", "2019-20"), ("broken", "2019-20")])
    args = parse_args("--data", str(data), "--out", str(out), "--jobs", "2", "--config",
                      str(config), "--notebooks", str(FIXTURES), "--timeout", "120")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout), \
            contextlib.redirect_stderr(stderr):
        mp.setattr(build, "_load_data", lambda d: fake)
        code = run_build(args)
    return types.SimpleNamespace(code=code, out=out, data=data, stdout=stdout.getvalue(),
                                 stderr=stderr.getvalue())


def html_of(built, name):
    return (built.out / "2019-20" / f"{name}.html").read_text(encoding="utf-8")


def body(page):
    """The page without its <head> (whose stylesheet mentions prompts in comments)."""
    return page[page.index("<body"):]


def test_failure_is_isolated_and_named(built):
    assert built.code == 1
    assert "Built 3 of 4 reports" in built.stdout
    assert "Broken Music Service: service report 2019-20" in built.stderr
    assert "ValueError: the data for service 'broken' are broken" in built.stderr
    manifest = json.loads((built.out / "build.json").read_text())
    status = {r["html"]: r["status"] for r in manifest["reports"]}
    assert status == {"2019-20/annual_learning_report.html": "ok",
                      "2019-20/cross_service_comparison.html": "ok",
                      "2019-20/service_report_alpha.html": "ok",
                      "2019-20/service_report_broken.html": "failed"}


def test_index_links_resolve_and_describe_the_build(built):
    index = (built.out / "index.html").read_text()
    hrefs = links(index).hrefs
    assert len(hrefs) == 8  # a report and its executed notebook, for each of 4
    for href in hrefs:
        assert (built.out / href).is_file(), href
    assert "3 of 4 reports were built; 1 failed" in index
    assert "<h2 id=\"year-2019-20\">2019-20</h2>" in index
    assert "Failed" in index and "Ready" in index
    assert "UTC" in index and __import__("changing_tracks").__version__ in index
    assert "SWEMWBS" in index and "10" in index.split("Protecting small numbers")[1]
    # each report links back to the index
    for name in ("service_report_alpha", "service_report_broken"):
        back = links(html_of(built, name)).hrefs
        assert "../index.html" in back


def test_successful_reports_show_no_code_prompts_or_tracebacks(built):
    for name in ("service_report_alpha", "cross_service_comparison", "annual_learning_report"):
        page = body(html_of(built, name))
        for forbidden in ["Traceback", "In&nbsp;[", "Out[", 'class="jp-InputPrompt',
                          'class="jp-OutputPrompt', "# Parameters", "injected-parameters",
                          *FIXTURE_CODE]:
            assert forbidden not in page, (name, forbidden)
    alpha = html_of(built, "service_report_alpha")
    assert "Report for alpha in 2019-20" in alpha
    assert "a warning that belongs in the notebook" not in alpha
    assert sum(src.startswith("data:image/png;base64,") for src in links(alpha).imgs) == 1
    # provenance ran in the kernel, with data_dir resolved from the notebooks' folder
    digest = hashlib.sha256((built.data / "services.csv").read_bytes()).hexdigest()
    assert "sha256:" + digest[:20] in alpha
    # the config reached the notebooks
    assert "threshold 10" in html_of(built, "annual_learning_report")


def test_failed_report_shows_its_error(built):
    page = html_of(built, "service_report_broken")
    assert "This report did not build" in page
    assert "Traceback" in page
    assert "the data for service 'broken' are broken" in html.unescape(page)


def test_executed_notebooks_kept_and_no_temporary_files(built):
    files = sorted(p.relative_to(built.out).as_posix() for p in built.out.rglob("*")
                   if p.is_file())
    assert files == ["2019-20/annual_learning_report.html", "2019-20/annual_learning_report.ipynb",
                     "2019-20/cross_service_comparison.html",
                     "2019-20/cross_service_comparison.ipynb",
                     "2019-20/service_report_alpha.html", "2019-20/service_report_alpha.ipynb",
                     "2019-20/service_report_broken.html", "2019-20/service_report_broken.ipynb",
                     "build.json", "index.html"]
    nb = nbformat.read(built.out / "2019-20" / "service_report_alpha.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'service = "alpha"' in injected[0].source
    assert nb.metadata.papermill.output_path.endswith("service_report_alpha.ipynb")


# ---------------------------------------------------------------------------
# headless Chromium: the pages render, with their figure
# ---------------------------------------------------------------------------

def chromium(*args, tmp):
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


def test_pages_render_in_headless_chromium(built, tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run must install Debian's chromium")
        pytest.skip("chromium is not installed")
    from PIL import Image

    index_dom = chromium("--dump-dom", (built.out / "index.html").as_uri(),
                         tmp=tmp_path / "a").stdout
    assert "Changing Tracks reports" in index_dom
    assert 'href="2019-20/service_report_alpha.html"' in index_dom
    report = (built.out / "2019-20" / "service_report_alpha.html").as_uri()
    dom = chromium("--dump-dom", report, tmp=tmp_path / "b").stdout
    assert 'src="data:image/png;base64,' in dom and "Report for alpha in 2019-20" in dom
    shot = tmp_path / "report.png"
    chromium("--window-size=1000,900", "--hide-scrollbars", f"--screenshot={shot}", report,
             tmp=tmp_path / "c")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1000, 900)
    colours = image.getcolors(maxcolors=1 << 20)
    # a blank page has one colour; the figure's blue bars alone cover thousands of pixels
    assert len(colours) > 50
    blue = sum(n for n, (r, g, b) in colours if b > 150 and r < 60 and 90 < g < 150)
    assert blue > 5000


def test_unavailable_hides_a_module_only_inside(tmp_path, monkeypatch):
    """Workers import nbformat without rfc3987-syntax; afterwards it imports as usual."""
    (tmp_path / "ct_optional_extra.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ct_optional_extra", raising=False)
    with build._unavailable("ct_optional_extra"):
        with pytest.raises(ImportError):
            import ct_optional_extra  # noqa: F401
    import ct_optional_extra

    assert ct_optional_extra.VALUE == 1
    with build._unavailable("ct_optional_extra"):  # already imported: left alone
        assert sys.modules["ct_optional_extra"] is ct_optional_extra


def test_worker_imports_the_notebook_tools_in_a_fresh_process():
    """The worker set-up imports papermill and nbconvert, compiles the report template,
    and does not leave rfc3987-syntax unimportable."""
    code = ("import sys, changing_tracks.build as b\n"
            "b._import_notebook_tools()\n"
            "assert 'papermill' in sys.modules and 'nbconvert' in sys.modules\n"
            "assert 'rfc3987_syntax' not in sys.modules\n"
            "assert b._EXPORTER is not None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_workers_start_before_the_data_are_checked_and_stop_if_they_fail(tmp_path, data_dir,
                                                                          monkeypatch):
    """The pool is forked before the data are loaded (its imports overlap the check), and
    its processes are gone when the check fails."""
    seen = {}

    def failing_load(data_path):
        executor = seen["executor"]
        seen["processes"] = list(executor._processes.values())
        seen["alive"] = all(p.is_alive() for p in seen["processes"])
        raise ValueError("the data are bad")

    real_start = build._start_workers

    def start(n_jobs, cleanup):
        seen["executor"] = real_start(n_jobs, cleanup)
        return seen["executor"]

    monkeypatch.setattr(build, "_start_workers", start)
    monkeypatch.setattr(build, "_load_data", failing_load)
    with pytest.raises(ValueError, match="the data are bad"):
        build_reports(data_dir, tmp_path / "out", jobs=2, notebooks_dir=FIXTURES,
                      progress=False, fork_kernels=False)
    assert len(seen["processes"]) == 2 and seen["alive"]
    assert not any(p.is_alive() for p in seen["processes"])
