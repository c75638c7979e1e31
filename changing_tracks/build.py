"""Build the reports: run the parameterised notebooks and publish them as HTML.

One command (``python -m changing_tracks build``) reproduces the whole
publication:

1. the data are loaded and validated once, and every report's parameters are
   checked against the data and against each notebook's ``parameters`` cell --
   any problem stops the build before a single notebook runs; the loaded data
   are saved in a private temporary folder for the notebooks, which use them
   instead of loading the data again while the data files are unchanged
   (:mod:`changing_tracks.reports.snapshot`);
2. the notebooks run with papermill, several at once in a process pool (one
   Jupyter kernel per notebook), with a progress bar; a failing notebook does
   not stop the others;
3. each executed notebook is saved, and rendered to HTML without code, prompts
   or the parameter cells -- a failed report's HTML shows its error instead;
4. ``index.html`` links every report with its status, time taken and
   parameters, and ``build.json`` records the same for machines.

Every file is written to a temporary file in its destination folder and then
renamed over the old one (``os.replace``), so an interrupted build never
leaves a half-written report posing as complete.

Output layout (``out_dir``)::

    index.html
    build.json
    2019-20/annual_learning_report.html   (+ .ipynb, the executed notebook)
    2019-20/cross_service_comparison.html
    2019-20/service_report_<service>.html

Notebooks must declare, in one cell tagged ``parameters``, the names in
:data:`REPORT_PARAMETERS` (``data_dir``, ``year``, ``disclosure``,
``analysis`` and, for the service report, ``service``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as _dt
import html
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from .config import DEFAULT_TIMEOUT, BuildConfig, ConfigError, cores, load_config

__all__ = [
    "ReportJob",
    "JobResult",
    "BuildResult",
    "ReportPlanError",
    "REPORT_PARAMETERS",
    "NOTEBOOKS_DIR",
    "plan_reports",
    "validate_jobs",
    "build_reports",
    "add_build_arguments",
    "run_build",
]

#: The repository's report notebooks.
NOTEBOOKS_DIR: Path = Path(__file__).resolve().parent.parent / "notebooks"

SERVICE_REPORT = "service_report"
CROSS_SERVICE = "cross_service_comparison"
ANNUAL_REPORT = "annual_learning_report"

#: Parameters each report notebook must declare in its ``parameters`` cell.
REPORT_PARAMETERS: dict[str, tuple[str, ...]] = {
    SERVICE_REPORT: ("data_dir", "service", "year", "disclosure", "analysis"),
    CROSS_SERVICE: ("data_dir", "year", "disclosure", "analysis"),
    ANNUAL_REPORT: ("data_dir", "year", "disclosure", "analysis"),
}

_KERNEL = "python3"
_START_TIMEOUT = 60  # seconds for a kernel to start
_TEMP_SUFFIX = ".partial"
_HIDDEN_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell"})
_ERROR_MARKER = "papermill-error-cell-tag"  # papermill's tag on the cells marking an error
_ERROR_ANCHOR = 'id="papermill-error-cell"'  # the marker placed just before the failing cell


class ReportPlanError(ValueError):
    """The requested reports cannot be built; nothing was run.

    ``.problems`` lists each problem in plain English.
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} with the requested reports:\n"
                         + "\n".join(f"  - {p}" for p in self.problems))


@dataclass(frozen=True)
class ReportJob:
    """One report to build: a notebook and the parameters it runs with.

    Attributes
    ----------
    kind : str
        ``"service_report"``, ``"cross_service_comparison"`` or ``"annual_learning_report"``.
    notebook : str
        File name of the notebook in the notebooks folder.
    parameters : dict
        Injected by papermill into the notebook (see :data:`REPORT_PARAMETERS`).
    output : str
        Output path relative to the output folder, without suffix, ``/``-separated,
        e.g. ``"2019-20/service_report_hertfordshire"``.
    title : str
        Title in plain English, shown in the index and the browser tab.
    """

    kind: str
    notebook: str
    parameters: dict[str, Any] = field(hash=False)
    output: str
    title: str

    @property
    def html(self) -> str:
        """The HTML report, relative to the output folder."""
        return self.output + ".html"

    @property
    def ipynb(self) -> str:
        """The executed notebook, relative to the output folder."""
        return self.output + ".ipynb"


@dataclass(frozen=True)
class JobResult:
    """What happened to one report.

    Attributes
    ----------
    job : ReportJob
    status : str
        ``"ok"`` or ``"failed"``.
    duration : float
        Seconds from start of the notebook run to the report written.
    error : str or None
        For a failed report, what went wrong (exception type and message).
    warnings : int
        Warning messages (stderr output) left out of the HTML; see the executed notebook.
    kernel_restart : str or None
        Why the report ran in a kernel started the usual way, when its copy of the kernel
        factory failed to start (:class:`~.kernel_factory.KernelStartError`), with that
        copy's last messages.
    """

    job: ReportJob
    status: str
    duration: float
    error: str | None = None
    warnings: int = 0
    kernel_restart: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class BuildResult:
    """Outcome of :func:`build_reports`.

    Attributes
    ----------
    results : list of JobResult
        One per report, in plan order.
    out_dir : Path
    index : Path
        The ``index.html`` written.
    started : datetime
        Start of the build (UTC).
    duration : float
        Seconds the whole build took.
    disclosure, analysis : dict
        The settings every notebook ran with.
    data_warnings : int
        Warnings from checking the data (they did not stop the build).
    """

    results: list[JobResult]
    out_dir: Path
    index: Path
    started: _dt.datetime
    duration: float
    disclosure: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)
    data_warnings: int = 0

    @property
    def ok(self) -> bool:
        """True when every report was built."""
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[JobResult]:
        return [r for r in self.results if not r.ok]

    def to_frame(self):
        """One row per report: ``report``, ``kind``, ``html``, ``status``, ``duration``,
        ``error``, ``warnings``, ``kernel_restart`` and one column per parameter
        (``service``, ``year``)."""
        import pandas as pd

        rows = []
        for r in self.results:
            row = {"report": r.job.title, "kind": r.job.kind, "html": r.job.html,
                   "status": r.status, "duration": r.duration, "error": r.error,
                   "warnings": r.warnings, "kernel_restart": r.kernel_restart}
            row.update({k: v for k, v in r.job.parameters.items()
                        if k in ("service", "year")})
            rows.append(row)
        return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Planning and validation (parent process; nothing is run here)
# ---------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _as_list(values: str | Iterable[str] | None) -> list[str] | None:
    """Accept "a,b", ["a", "b,c"] or None."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out = [v.strip() for item in values for v in str(item).split(",") if v.strip()]
    return out


def _column_values(frame: Any, column: str) -> list[str]:
    if frame is None or column not in getattr(frame, "columns", ()):
        return []
    return sorted({str(v) for v in frame[column].dropna()})


def plan_reports(data: Any, years: str | Iterable[str] | None = None,
                 services: str | Iterable[str] | None = None, *,
                 data_dir: str = "data/sample", disclosure: Mapping[str, Any] | None = None,
                 analysis: Mapping[str, Any] | None = None) -> list[ReportJob]:
    """List the reports to build from loaded data.

    For each programme year (all years with participants, or ``years``): one
    service report per service with participants that year (all, or those in
    ``services``), the cross-service comparison and the annual learning report.

    Parameters
    ----------
    data : Dataset
        From :func:`changing_tracks.load_data`; uses ``participants`` (columns
        ``service``, ``year``) and ``services`` (``service`` and, for titles, ``name``).
    years : str or list of str, optional
        Programme years such as ``"2019-20"`` (``"2019/20"`` is accepted);
        comma-separated text is split. Default: every year with participants.
    services : str or list of str, optional
        Service ids (or full names, any case). Default: every service with
        participants in the year. A service gets a report only for the years in
        which it has participants.
    data_dir : str
        Passed to each notebook as ``data_dir``.
    disclosure, analysis : dict, optional
        Passed to each notebook as ``disclosure`` and ``analysis``.

    Returns
    -------
    list of ReportJob
        Ordered by year, then annual report, comparison, service reports by id.

    Raises
    ------
    ReportPlanError
        A requested year or service is not in the data (the message lists those
        that are), or a requested service has no participants in the years asked
        for, or there is nothing to build.
    """
    from .contracts import programme_year

    disclosure = dict(disclosure or {})
    analysis = dict(analysis or {})
    participants = getattr(data, "participants", None)
    service_table = getattr(data, "services", None)
    problems: list[str] = []

    available_years = _column_values(participants, "year")
    known = _column_values(service_table, "service")
    names: dict[str, str] = {}
    if service_table is not None and {"service", "name"} <= set(service_table.columns):
        for sid, name in zip(service_table["service"], service_table["name"]):
            if isinstance(sid, str) and isinstance(name, str) and name.strip():
                names[sid] = name.strip()

    wanted_years = available_years
    requested_years = _as_list(years)
    if requested_years is not None:
        wanted_years = []
        for text in requested_years:
            year = programme_year(text)
            if year is None:
                problems.append(f"{text!r} is not a programme year; write years like 2019-20")
            elif year not in available_years:
                problems.append(f"no participants in year {year}; years in the data: "
                                + (", ".join(available_years) or "none"))
            elif year not in wanted_years:
                wanted_years.append(year)
        wanted_years.sort()

    # participants' (service, year) pairs
    pairs: set[tuple[str, str]] = set()
    if participants is not None and {"service", "year"} <= set(participants.columns):
        for s, y in zip(participants["service"], participants["year"]):
            if isinstance(s, str) and isinstance(y, str):
                pairs.add((s, y))

    wanted_services: list[str] | None = None
    requested_services = _as_list(services)
    if requested_services is not None:
        lookup = {s.lower(): s for s in known}
        lookup.update({n.lower(): s for s, n in names.items()})
        wanted_services = []
        for text in requested_services:
            sid = lookup.get(text.lower())
            if sid is None:
                problems.append(f"service {text!r} is not in the data; services: "
                                + (", ".join(known) or "none"))
                continue
            if sid not in wanted_services:
                wanted_services.append(sid)
            in_years = sorted(y for s, y in pairs if s == sid)
            if wanted_years and not any(y in wanted_years for y in in_years):
                problems.append(f"service {sid!r} has no participants in "
                                f"{', '.join(wanted_years)}; it has participants in "
                                + (", ".join(in_years) or "no year"))

    if not available_years and requested_years is None:
        problems.append("the data have no participants with a service and year, so there "
                        "are no reports to build")
    if problems:
        raise ReportPlanError(problems)

    base = {"data_dir": str(data_dir)}
    settings = {"disclosure": disclosure, "analysis": analysis}
    jobs: list[ReportJob] = []
    for year in wanted_years:
        folder = re.sub(r"[^A-Za-z0-9-]+", "_", year)
        jobs.append(ReportJob(ANNUAL_REPORT, f"{ANNUAL_REPORT}.ipynb",
                              {**base, "year": year, **settings},
                              f"{folder}/{ANNUAL_REPORT}", f"Annual learning report {year}"))
        jobs.append(ReportJob(CROSS_SERVICE, f"{CROSS_SERVICE}.ipynb",
                              {**base, "year": year, **settings},
                              f"{folder}/{CROSS_SERVICE}", f"Services compared, {year}"))
        in_year = sorted(s for s, y in pairs if y == year)
        for sid in in_year:
            if wanted_services is not None and sid not in wanted_services:
                continue
            jobs.append(ReportJob(
                SERVICE_REPORT, f"{SERVICE_REPORT}.ipynb",
                {**base, "service": sid, "year": year, **settings},
                f"{folder}/{SERVICE_REPORT}_{_slug(sid) or 'service'}",
                f"{names.get(sid, sid)}: service report {year}"))
    return jobs


def _declared_parameters(path: Path) -> tuple[set[str] | None, str | None]:
    """Names assigned in the notebook's ``parameters`` cell, or (None, problem)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"notebook not found: {path}"
    except (OSError, ValueError) as exc:
        return None, f"{path}: cannot be read as a notebook ({exc})"
    tagged = [c for c in nb.get("cells", [])
              if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        return None, (f"{path}: expected one cell tagged 'parameters', found {len(tagged)}")
    source = tagged[0].get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return None, (f"{path}: the parameters cell is not valid Python "
                      f"({exc.msg}, line {exc.lineno})")
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names, None


def _literal_problem(value: Any, where: str) -> str | None:
    """Parameters are written into the notebook as Python literals."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: {value!r} is not a finite number"
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            if (p := _literal_problem(v, f"{where}[{i}]")) is not None:
                return p
        return None
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{where}: key {k!r} must be text"
            if (p := _literal_problem(v, f"{where}.{k}")) is not None:
                return p
        return None
    return (f"{where}: expected text, a number, true/false, a list or a dict, "
            f"found {type(value).__name__} {value!r}")


def validate_jobs(jobs: Sequence[ReportJob], notebooks_dir: str | Path = NOTEBOOKS_DIR) -> None:
    """Check every job can run before any does.

    Each notebook must exist and declare, in one cell tagged ``parameters``,
    every parameter it will be given; parameter values must be plain literals
    (text, numbers, true/false, lists, dicts); output names must be unique.

    Raises
    ------
    ReportPlanError
        Listing every problem found.
    """
    notebooks_dir = Path(notebooks_dir)
    problems: list[str] = []
    declared: dict[str, tuple[set[str] | None, str | None]] = {}
    needed: dict[str, list[str]] = {}
    for job in jobs:
        if job.notebook not in declared:
            declared[job.notebook] = _declared_parameters(notebooks_dir / job.notebook)
            names, problem = declared[job.notebook]
            if problem:
                problems.append(problem)
        wanted = needed.setdefault(job.notebook, [])
        wanted += [p for p in job.parameters if p not in wanted]
        for name, value in job.parameters.items():
            if (p := _literal_problem(value, f"{job.title}: parameter {name}")) is not None:
                problems.append(p)
    for notebook, wanted in needed.items():
        names, _ = declared[notebook]
        missing = [p for p in wanted if names is not None and p not in names]
        if missing:
            problems.append(
                f"{notebooks_dir / notebook}: its parameters cell does not declare "
                f"{', '.join(missing)} (it declares {', '.join(sorted(names)) or 'nothing'})")
    outputs = [job.output for job in jobs]
    dupes = sorted({o for o in outputs if outputs.count(o) > 1})
    for o in dupes:
        problems.append(f"two reports would be written to {o}.html (service ids that differ "
                        "only in punctuation or case?)")
    if problems:
        # one message per distinct problem, in order found
        raise ReportPlanError(list(dict.fromkeys(problems)))


def _effective_disclosure(disclosure: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """(settings dict with defaults filled in where possible, policy object or None).

    Raises ValueError from ``DisclosurePolicy.from_config`` for a bad policy.
    """
    from .config import _disclosure_policy_class

    settings = dict(disclosure)
    cls = _disclosure_policy_class()
    if cls is None:
        return settings, None
    policy = cls.from_config(dict(settings))
    filled = None
    if callable(getattr(policy, "to_dict", None)):
        filled = dict(policy.to_dict())
    elif is_dataclass(policy):
        filled = {f.name: getattr(policy, f.name) for f in fields(policy)}
    if filled is not None:
        try:
            if (all(_literal_problem(v, k) is None for k, v in filled.items())
                    and cls.from_config(dict(filled)) == policy):
                settings = filled
        except (TypeError, ValueError, KeyError):
            pass
    return settings, policy


# ---------------------------------------------------------------------------
# Atomic writing
# ---------------------------------------------------------------------------

def _temp_path(path: Path) -> Path:
    """Hidden, process-unique name beside ``path``, keeping its suffix (for papermill)."""
    return path.with_name(f".{path.stem}.{os.getpid()}{_TEMP_SUFFIX}{path.suffix}")


def _atomic_write(path: str | Path, write: Callable[[Any], None] | str | bytes) -> None:
    """Write ``path`` all at once: to a temporary file beside it, then ``os.replace``.

    ``write`` is the text or bytes, or a function given the open binary file.
    If anything fails the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(write, str):
                fh.write(write.encode("utf-8"))
            elif isinstance(write, bytes):
                fh.write(write)
            else:
                write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files left by a build that was killed (never posing as reports)."""
    for tmp in out_dir.glob(f"**/.*{_TEMP_SUFFIX}*"):
        try:
            tmp.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Worker process: run one notebook and render it
# ---------------------------------------------------------------------------

_REPORT_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{% block extra_css %}
<style type="text/css">
  main { max-width: 64rem; margin: 0 auto; padding: 0 1.5rem 3rem; }
  nav.ct-nav { font-family: system-ui, sans-serif; padding: 1rem 0; }
  .ct-failed { font-family: system-ui, sans-serif; border: 2px solid #b00020; background: #fdecea;
               padding: 0.75rem 1rem; margin: 1rem 0; }
</style>
{% endblock extra_css %}
{% block body_header %}
{{ super() }}
{%- if resources.index_href -%}
<nav class="ct-nav"><a href="{{ resources.index_href }}">&larr; All reports</a></nav>
{%- endif -%}
{%- if resources.failure -%}
<div class="ct-failed" role="alert"><strong>This report did not build.</strong>
It stopped with the error: <code>{{ resources.failure | e }}</code>.
What it shows may be incomplete; the error appears in full
{% if resources.error_anchor -%}
<a href="#papermill-error-cell">where it happened</a>
{%- else -%}
where it happened
{%- endif %}.</div>
{%- endif -%}
{% endblock body_header %}
"""

_EXPORTER = None

# nbconvert's accessibility pass, as marks on the start tags its lab template writes: each
# cell's input wrapper and output area can take the keyboard focus, and every image has a
# text alternative (figures bring their own; this is the fallback nbconvert gives).
_FOCUSABLE = re.compile(
    r'<div\b(?![^>]*\btabindex=)(?=[^>]*\bclass="(?:[^"]*\s)?'
    r'(?:jp-OutputArea-output|jp-Cell-inputWrapper)[\s"])')
_NO_ALT = re.compile(r"<img\b(?![^>]*\salt=)")
_DEFAULT_ALT = "No description has been provided for this image"


def accessible_html(page: str) -> str:
    """``page`` with the focus and alt-text marks of nbconvert's HTML exporter added.

    nbconvert (7.x) adds them by parsing the whole page with BeautifulSoup and writing it
    out again, which took most of the time of turning a report into HTML (0.2-0.5 s a
    report); one scan of the text adds the same marks to the same elements.
    """
    page = _FOCUSABLE.sub('<div tabindex="0"', page)
    return _NO_ALT.sub(f'<img alt="{_DEFAULT_ALT}"', page)


def _exporter():
    """One HTML exporter per worker process (building it loads templates)."""
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert import HTMLExporter
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.highlight import Highlight2HTML
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        class ReportExporter(HTMLExporter):
            """The lab HTML exporter, with its accessibility pass done by :func:`accessible_html`.

            ``from_notebook_node`` is HTMLExporter's (nbconvert 7.x) up to the parse.
            """

            def from_notebook_node(self, nb, resources=None, **kw):
                info = nb.metadata.get("language_info", {})
                lexer = info.get("pygments_lexer", info.get("name", None))
                self.register_filter("highlight_code", self.filters.get(
                    "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
                resources = self._init_resources(resources)
                self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                    notebook_metadata=self._nb_metadata, parent=self, resources=resources))
                page, resources = TemplateExporter.from_notebook_node(self, nb, resources,
                                                                      **kw)
                return accessible_html(page), resources

        import nbconvert

        # the override mirrors nbconvert 7's method; any other version keeps its own pass
        kind = ReportExporter if nbconvert.__version__.split(".")[0] == "7" else HTMLExporter
        exporter = kind(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True)
        exporter.raw_template = _REPORT_TEMPLATE
        _EXPORTER = exporter
    return _EXPORTER


def _has_error(cell: Mapping[str, Any]) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def _report_notebook(nb: Any, failed: bool) -> tuple[Any, int]:
    """A shallow copy of ``nb`` fit for readers, and the number of stderr outputs dropped.

    Drops the ``parameters``/``injected-parameters``/``remove-cell`` cells and code
    cells with nothing to show; in a successful report also stderr output
    (warnings, which quote code). A cell holding an error is always kept.
    """
    import nbformat

    cells, dropped = [], 0
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & _HIDDEN_TAGS and not _has_error(cell):
            continue
        if _ERROR_MARKER in tags and _ERROR_ANCHOR not in _source(cell):
            continue  # papermill's headline; the report's own banner replaces it
        if cell.get("cell_type") == "code":
            outputs = list(cell.get("outputs", []))
            if not failed:
                kept = [o for o in outputs
                        if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
                dropped += len(outputs) - len(kept)
                outputs = kept
            if not outputs:
                continue
            cell = nbformat.NotebookNode({**cell, "outputs": outputs})
        cells.append(cell)
    return nbformat.NotebookNode({**nb, "cells": cells}), dropped


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _render_html(nb: Any, title: str, index_href: str, failure: str | None) -> tuple[str, int]:
    report, dropped = _report_notebook(nb, failed=failure is not None)
    anchor = any(_ERROR_ANCHOR in _source(c) for c in report.cells)
    resources = {"metadata": {"name": title}, "index_href": index_href,
                 "failure": _first_line(failure, 500) if failure else None,
                 "error_anchor": anchor}
    body, _ = _exporter().from_notebook_node(report, resources=resources)
    return body, dropped


def _failure_page(title: str, error: str, index_href: str) -> str:
    """A plain HTML page for a report that could not even be rendered."""
    e = html.escape
    return f"""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{e(title)} (failed)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
pre{{white-space:pre-wrap;background:#fdecea;border:2px solid #b00020;padding:1rem}}</style></head>
<body><p><a href="{e(index_href)}">&larr; All reports</a></p>
<h1>{e(title)}</h1>
<p><strong>This report did not build.</strong> The error was:</p>
<pre>{e(error)}</pre>
</body></html>
"""


_KERNEL_ENV = {
    # figures display inline in the report, whatever backend the caller chose
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    # no "frozen modules" notice from the debugger on every kernel start
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    # one notebook runs per core: maths libraries starting a thread per core as well
    # oversubscribe the machine (disclosure control's matrix work ran 10x slower)
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@contextlib.contextmanager
def _kernel_environment(extra: Mapping[str, str] | None = None):
    """Environment variables the kernels inherit (``_KERNEL_ENV`` and ``extra``), restored
    afterwards."""
    wanted = {**_KERNEL_ENV, **(extra or {})}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _captured_stderr():
    """Send this process's stderr -- which kernels inherit -- to a temporary file.

    Kernels write start-up notices and crash messages there; they belong with
    the failure they explain, not scattered over the terminal's progress bar.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield log
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _tail(log: Any, lines: int = 15) -> str:
    log.seek(0)
    text = log.read().decode("utf-8", "replace").strip()
    return "\n".join(text.splitlines()[-lines:])


def _execute_notebook(spec: dict[str, Any], output: Path, kernel_log: Any
                      ) -> tuple[Any, str | None]:
    """Run the spec's notebook with papermill, writing ``output``: the executed notebook, and
    why it ran in a kernel started the usual way, if it did.

    The kernel comes from the spec's kernel factory, if it names one. A forked kernel that
    dies or hangs before it is ready (:class:`~.kernel_factory.KernelStartError`: no cell
    has run) is replaced by one started the usual way, so that a copy of the factory
    failing to start does not fail a report; the reason, with the copy's last messages in
    ``kernel_log``, is returned for ``build.json``.
    """
    import papermill as pm

    def execute(**engine: Any) -> Any:
        return pm.execute_notebook(
            spec["notebook"], str(output), parameters=spec["parameters"], kernel_name=_KERNEL,
            log_output=False, progress_bar=False, request_save_on_cell_execute=False,
            cwd=spec["cwd"], execution_timeout=spec["timeout"], start_timeout=_START_TIMEOUT,
            **engine)

    restart = None
    if spec.get("kernel_factory"):
        from .kernel_factory import KernelStartError, factory_kernel_manager

        try:
            return execute(kernel_manager_class=factory_kernel_manager(
                spec["kernel_factory"])), None
        except KernelStartError as exc:
            log = _tail(kernel_log)
            restart = f"{exc}" + (f"\nLast messages from the kernel:\n{log}" if log else "")
    return execute(), restart


def _run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one notebook, write its executed notebook and HTML; never raises.

    ``spec`` keys: notebook, parameters, html, ipynb, title, cwd, timeout, index_href and,
    optionally, environment (variables for the kernel, such as the data snapshot) and
    kernel_factory (the socket of a :mod:`~changing_tracks.kernel_factory` to start the
    kernel from).
    Returns ``{"status", "duration", "error", "warnings", "kernel_restart"}``.
    """
    start = time.perf_counter()
    html_path, ipynb_path = Path(spec["html"]), Path(spec["ipynb"])
    html_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(ipynb_path)
    error: str | None = None
    restart: str | None = None
    n_warnings = 0
    try:
        import nbformat
        import papermill as pm

        nb = None
        with _kernel_environment(spec.get("environment")), \
                _captured_stderr() as kernel_log:
            try:
                nb, restart = _execute_notebook(spec, tmp, kernel_log)
            except pm.PapermillExecutionError as exc:
                where = f" (cell [{exc.exec_count}])" if exc.exec_count is not None else ""
                error = f"{exc.ename}: {exc.evalue}{where}"
            except Exception as exc:  # timeout, dead kernel, unreadable notebook...
                error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
                log = _tail(kernel_log)
                if log:
                    error += f"\nLast messages from the kernel:\n{log}"
        if error is not None:
            # papermill saved the notebook with its error marked, where it got that far
            nb = nbformat.read(tmp, as_version=4) if tmp.exists() else None
            if nb is None:
                nb = nbformat.read(spec["notebook"], as_version=4) \
                    if Path(spec["notebook"]).exists() else nbformat.v4.new_notebook()
        nb.metadata.setdefault("papermill", {})["output_path"] = str(ipynb_path)

        try:
            page, n_warnings = _render_html(nb, spec["title"], spec["index_href"], error)
        except Exception as exc:
            problem = f"the report could not be turned into HTML: {type(exc).__name__}: {exc}"
            error = f"{error}; {problem}" if error else problem
            page = _failure_page(spec["title"], error, spec["index_href"])
        _atomic_write(html_path, page)
        _atomic_write(ipynb_path, nbformat.writes(nb))
    except Exception as exc:  # writing failed: leave no stale report posing as current
        problem = f"{type(exc).__name__}: {exc}"
        error = f"{error}; {problem}" if error else problem
        try:
            _atomic_write(html_path, _failure_page(spec["title"], error, spec["index_href"]))
        except Exception:
            html_path.unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)
    return {"status": "ok" if error is None else "failed",
            "duration": time.perf_counter() - start, "error": error, "warnings": n_warnings,
            "kernel_restart": restart}


# ---------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------

def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which stops them all at once, and load the
    notebook tools before their first report (while the kernel factory still imports)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _import_notebook_tools()
    except Exception:  # noqa: BLE001 -- the report imports them again and says what failed
        pass


@contextlib.contextmanager
def _unavailable(module: str):
    """Imports inside see ``module`` as not installed (unless it is already imported)."""
    if module in sys.modules:
        yield
        return
    sys.modules[module] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        if sys.modules.get(module, "") is None:
            del sys.modules[module]


def _import_notebook_tools() -> None:
    """Import papermill, nbformat and nbconvert and build the HTML exporter.

    nbformat imports jsonschema, which compiles a grammar for rfc3987-syntax's IRI
    format checks when that package is installed: 1.4 s per process, more than the
    rest of these imports together. nbformat's schemas use no IRI formats (and it
    validates with fastjsonschema), so workers import jsonschema without it.
    """
    with _unavailable("rfc3987_syntax"):
        import nbformat  # noqa: F401
        import papermill  # noqa: F401
    _exporter().template  # noqa: B018 -- loads and compiles the report template


def _stop_workers(executor: Any) -> None:
    """Terminate the pool's processes now (their kernels exit when they notice)."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        try:
            process.terminate()
        except Exception:  # already gone
            pass
    executor.shutdown(wait=True, cancel_futures=True)


def _load_data(data_dir: Path) -> Any:
    from . import load_data

    return load_data(data_dir)


def _snapshot(data: Any, data_dir: Path, fingerprint: Any, folder: Path) -> dict[str, str]:
    """Save the loaded data for the kernels; the environment naming the snapshot.

    Empty (the notebooks load the data themselves) when the data cannot be
    saved or changed while they were being loaded. See
    :mod:`changing_tracks.reports.snapshot`.
    """
    from .reports.snapshot import SNAPSHOT_ENV, write_snapshot

    if fingerprint is None:
        return {}
    try:
        path = write_snapshot(data, data_dir, folder, fingerprint)
    except Exception:  # a nicety: without it each notebook loads the data
        return {}
    return {SNAPSHOT_ENV: str(path)} if path is not None else {}


def _start_kernel_factory(cleanup: contextlib.ExitStack) -> str | None:
    """Start a kernel factory (stopped by ``cleanup``); its socket, or None where kernels
    cannot be forked. See :mod:`changing_tracks.kernel_factory`."""
    from .kernel_factory import KernelFactory, available

    if not available():
        return None
    factory = KernelFactory(env={**os.environ, **_KERNEL_ENV})
    try:
        address = factory.start()
    except OSError:  # kernels start the usual way
        return None
    cleanup.callback(factory.stop)
    return address


def _fingerprint(data_dir: Path) -> Any:
    from .reports.snapshot import data_fingerprint

    try:
        return data_fingerprint(data_dir)
    except OSError:
        return None


def _mp_context():
    import multiprocessing as mp

    # fork is cheap: workers start as copies of this process (no new interpreter,
    # no second import of this package and pandas). It is safe here because the pool
    # forks all its workers at the first submit (_start_workers), before this process
    # starts any thread of its own (pool manager, progress bar). Elsewhere: platform default.
    if sys.platform.startswith("linux"):
        return mp.get_context("fork")
    return mp.get_context()


def _resolve_config(config: BuildConfig | str | Path | None) -> BuildConfig:
    if isinstance(config, BuildConfig):
        return config
    return load_config(config)


def _relative_to(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path)


def build_reports(data_dir: str | Path = "data/sample", out_dir: str | Path = "reports",
                  years: str | Iterable[str] | None = None,
                  services: str | Iterable[str] | None = None, *,
                  jobs: int | None = None, timeout: float | None = None,
                  config: BuildConfig | str | Path | None = None,
                  notebooks_dir: str | Path | None = None,
                  progress: bool = True, fork_kernels: bool = True) -> BuildResult:
    """Validate, run and publish the report notebooks.

    Parameters
    ----------
    data_dir : str or Path
        Data folder, loaded and validated once before anything runs.
    out_dir : str or Path
        Where the reports, ``index.html`` and ``build.json`` are written.
    years, services : str or list of str, optional
        Limit the build (see :func:`plan_reports`).
    jobs : int, optional
        Notebooks run at once. Default: ``[build] jobs`` of the config, else the
        machine's cores.
    timeout : float, optional
        Seconds any one notebook cell may run before that report fails. Default:
        ``[build] timeout`` of the config (600).
    config : BuildConfig, path or None
        Disclosure policy and analysis choices (see :mod:`changing_tracks.config`).
    notebooks_dir : str or Path, optional
        Folder of the report notebooks (default: the repository's ``notebooks/``).
        Kernels run with it as working directory, as in JupyterLab; ``data_dir``
        is passed to the notebooks relative to it.
    progress : bool
        Show a progress bar (on stderr).
    fork_kernels : bool
        Start each report's kernel as a copy of one process that has already imported the
        libraries (Linux; see :mod:`changing_tracks.kernel_factory`), instead of a new
        Python each: the same reports, about twice as fast on the sample. False starts
        every kernel from scratch.

    Returns
    -------
    BuildResult

    Raises
    ------
    DataValidationError
        The data are not valid (nothing run).
    ReportPlanError
        A requested year or service is not in the data, a notebook is missing
        or does not declare its parameters, or the disclosure policy is refused
        (nothing run).
    ConfigError
        The config file cannot be used (nothing run).
    """
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    cfg = _resolve_config(config)
    n_jobs = jobs if jobs is not None else cfg.jobs if cfg.jobs is not None else cores()
    cell_timeout = timeout if timeout is not None else cfg.timeout or DEFAULT_TIMEOUT
    if int(n_jobs) < 1:
        raise ReportPlanError([f"jobs: expected a number of notebooks >= 1, found {n_jobs!r}"])
    if not cell_timeout > 0:
        raise ReportPlanError([f"timeout: expected seconds > 0, found {cell_timeout!r}"])
    notebooks = Path(notebooks_dir if notebooks_dir is not None else NOTEBOOKS_DIR).resolve()
    data_path = Path(data_dir).resolve()
    out = Path(out_dir).resolve()

    try:
        disclosure, policy = _effective_disclosure(cfg.disclosure)
    except (TypeError, ValueError, KeyError) as exc:
        raise ReportPlanError([f"disclosure policy: {exc}"]) from None

    with contextlib.ExitStack() as cleanup:
        # the kernel factory and the workers import their libraries while the data are checked
        factory = _start_kernel_factory(cleanup) if fork_kernels else None
        executor = _start_workers(int(n_jobs), cleanup)
        if progress:
            print(f"Checking the data in {data_dir} ...", file=sys.stderr, flush=True)
        fingerprint = _fingerprint(data_path) if data_path.is_dir() else None
        data = _load_data(data_path)
        data_warnings = getattr(data, "warnings", None)
        n_data_warnings = len(data_warnings) if data_warnings is not None else 0
        job_list = plan_reports(data, years, services,
                                data_dir=_relative_to(data_path, notebooks),
                                disclosure=disclosure, analysis=cfg.analysis)
        validate_jobs(job_list, notebooks)

        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(out)
        # the loaded data, saved once for every notebook (removed with the folder)
        private = Path(tempfile.mkdtemp(prefix="changing-tracks-build-"))
        cleanup.callback(shutil.rmtree, private, ignore_errors=True)
        environment = _snapshot(data, data_path, fingerprint, private)
        specs = []
        for job in job_list:
            depth = job.output.count("/")
            specs.append({
                "notebook": str(notebooks / job.notebook), "parameters": job.parameters,
                "html": str(out / job.html), "ipynb": str(out / job.ipynb), "title": job.title,
                "cwd": str(notebooks), "timeout": cell_timeout,
                "index_href": "../" * depth + "index.html", "environment": environment,
                "kernel_factory": factory})
        outcomes = _execute(executor, specs, job_list, progress,
                            _start_order(job_list, _report_sizes(data, job_list)))

    results = [JobResult(job, o["status"], o["duration"], o["error"], o["warnings"],
                         o.get("kernel_restart")) for job, o in zip(job_list, outcomes)]
    result = BuildResult(results=results, out_dir=out, index=out / "index.html",
                         started=started, duration=time.perf_counter() - t0,
                         disclosure=disclosure, analysis=dict(cfg.analysis),
                         data_warnings=n_data_warnings)
    _atomic_write(out / "build.json", _manifest(result, data_dir))
    _atomic_write(result.index, _index_page(result, data_dir, policy))
    return result


def _start_workers(n_jobs: int, cleanup: contextlib.ExitStack) -> Any:
    """A pool of ``n_jobs`` worker processes, started now (stopped by ``cleanup``).

    Forked at once, before this process starts any thread of its own, so that they
    import the notebook tools (:func:`_worker_init`) while the data are checked.
    """
    from concurrent.futures import ProcessPoolExecutor

    sys.stdout.flush()
    sys.stderr.flush()
    executor = ProcessPoolExecutor(max_workers=max(1, n_jobs), mp_context=_mp_context(),
                                   initializer=_worker_init)
    cleanup.callback(_stop_workers, executor)  # a no-op once _execute has shut it down
    executor.submit(int)  # forks every worker now (a fork pool starts them all at once)
    return executor


def _report_sizes(data: Any, job_list: Sequence[ReportJob]) -> list[int]:
    """Rows of data behind each report, a guide to how long it takes to run.

    Counted in every table with a ``service`` column: a service report has its service's
    rows (in its year, where the table has years), a report across services every
    service's rows in its year.
    """
    counts: dict[tuple[Any, Any], int] = {}
    for frame in vars(data).values():
        columns = getattr(frame, "columns", ())
        if "service" not in columns or not len(frame):
            continue
        if "year" in columns:
            rows = frame.groupby(["service", "year"], observed=True).size().items()
        else:
            rows = (((s, None), n) for s, n in frame.groupby("service", observed=True)
                    .size().items())
        for pair, n in rows:
            counts[pair] = counts.get(pair, 0) + int(n)
    sizes = []
    for job in job_list:
        service, year = job.parameters.get("service"), job.parameters.get("year")
        sizes.append(sum(n for (s, y), n in counts.items()
                         if service in (None, s) and y in (None, year)))
    return sizes


def _start_order(job_list: Sequence[ReportJob], sizes: Sequence[int]) -> list[int]:
    """Indices of the jobs, longest-running first, so that the last to finish are short.

    The annual learning reports come first (each covers every service), then the
    service reports from the most data to the least, then the comparisons across
    services: by then the annual report of their year has usually worked out the sections
    they both show (:func:`~changing_tracks.reports.shared_section`), so they are quick. The
    pool's last report, which may run alone while the other cores idle, is then one of
    the quickest.
    """
    return sorted(range(len(job_list)),
                  key=lambda i: (_START_ORDER.get(job_list[i].kind, 9), -sizes[i], i))


def _execute(executor: Any, specs: list[dict[str, Any]], job_list: list[ReportJob],
             progress: bool, order: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Run the specs in the pool ``executor``, starting them in ``order`` (default: as
    given); outcomes in the order of ``specs``."""
    from concurrent.futures import as_completed

    from tqdm.auto import tqdm

    order = list(order) if order is not None else list(range(len(specs)))
    outcomes: list[dict[str, Any] | None] = [None] * len(specs)
    try:
        futures = {executor.submit(_run_job, specs[i]): i for i in order}
        with tqdm(total=len(specs), desc="Building reports", unit="report",
                  disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
            failed = 0
            for future in as_completed(futures):
                i = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker process itself died
                    outcome = {"status": "failed", "duration": 0.0, "warnings": 0,
                               "error": f"the process running it stopped: "
                                        f"{type(exc).__name__}: {exc}"}
                    try:
                        _atomic_write(specs[i]["html"], _failure_page(
                            specs[i]["title"], outcome["error"], specs[i]["index_href"]))
                    except OSError:
                        pass
                outcomes[i] = outcome
                if outcome["status"] != "ok":
                    failed += 1
                    if progress:
                        bar.write(f"FAILED {job_list[i].html}: "
                                  f"{_first_line(outcome['error'])}", file=sys.stderr)
                bar.set_postfix(failed=failed, refresh=False)
                bar.update()
    except BaseException:  # Ctrl-C: stop now; finished reports are complete files
        _stop_workers(executor)
        for folder in {Path(spec["html"]).parent for spec in specs}:
            _remove_stale_temporaries(folder)
        raise
    executor.shutdown(wait=True)
    return [o for o in outcomes if o is not None]


def _first_line(text: str | None, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---------------------------------------------------------------------------
# index.html and build.json
# ---------------------------------------------------------------------------

_KIND_ORDER = {ANNUAL_REPORT: 0, CROSS_SERVICE: 1, SERVICE_REPORT: 2}  # in the index
_START_ORDER = {ANNUAL_REPORT: 0, SERVICE_REPORT: 1, CROSS_SERVICE: 2}  # in the build

_DISCLOSURE_LABELS = {
    "threshold": "Counts below this number are hidden",
    "rounding_base": "Counts are rounded to a multiple of",
    "suppress_zeros": "Zeros are hidden too",
    "symbol": "A hidden number is shown as",
}


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


def _describe_policy(disclosure: Mapping[str, Any], policy: Any) -> str:
    e = html.escape
    describe = getattr(policy, "describe", None)
    if callable(describe):
        try:
            text = describe()
            if isinstance(text, str) and text.strip():
                return f"<p>{e(text.strip())}</p>"
        except Exception:  # a description is a nicety; fall back to the settings
            pass
    if not disclosure:
        return ("<p>Small numbers are protected with the disclosure module's default "
                "policy.</p>")
    rows = "".join(
        f"<tr><th scope=\"row\">{e(_DISCLOSURE_LABELS.get(k, k.replace('_', ' ')))}</th>"
        f"<td>{e(_plain(v))}</td></tr>" for k, v in disclosure.items())
    return f"<table class=\"settings\">{rows}</table>"


def _index_page(result: BuildResult, data_dir: str | Path, policy: Any = None) -> str:
    from . import __version__

    e = html.escape
    n_failed = len(result.failures)
    n = len(result.results)
    when = result.started.astimezone(_dt.timezone.utc)
    summary = (f"All {n} reports were built." if n_failed == 0 else
               f"{n - n_failed} of {n} reports were built; {n_failed} failed (marked below).")
    years: dict[str, list[JobResult]] = {}
    for r in result.results:
        years.setdefault(str(r.job.parameters.get("year", "other")), []).append(r)

    sections = []
    for year in sorted(years, reverse=True):
        rows = []
        for r in sorted(years[year], key=lambda r: (_KIND_ORDER.get(r.job.kind, 9), r.job.title)):
            p = r.job.parameters
            settings = []
            if "service" in p:
                settings.append(f"service: {p['service']}")
            settings.append(f"year: {p.get('year', '')}")
            if r.ok:
                status = '<span class="ok">Ready</span>'
                if r.warnings:
                    plural = "s" if r.warnings != 1 else ""
                    status += (f"<br><small>{r.warnings} technical warning{plural} kept out "
                               "of the report (see the notebook)</small>")
            else:
                status = ('<span class="failed">Failed</span><br><small>'
                          f"{e(_first_line(r.error))}</small>")
            rows.append(
                f'<tr class="{"report-ok" if r.ok else "report-failed"}">'
                f'<td><a href="{e(r.job.html)}">{e(r.job.title)}</a>'
                f' <small>(<a href="{e(r.job.ipynb)}">notebook</a>)</small></td>'
                f"<td>{status}</td><td>{e(_duration(r.duration))}</td>"
                f"<td>{e('; '.join(settings))}</td></tr>")
        sections.append(
            f'<section><h2 id="year-{e(year)}">{e(year)}</h2>'
            "<table class=\"reports\"><thead><tr><th>Report</th><th>Status</th>"
            "<th>Time taken</th><th>Settings</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")

    analysis = (
        "<p>Each analysis used its documented default choices.</p>" if not result.analysis else
        "<table class=\"settings\">" + "".join(
            f"<tr><th scope=\"row\">{e(str(k).replace('_', ' '))}</th><td>{e(_plain(v))}</td></tr>"
            for k, v in result.analysis.items()) + "</table>")
    data_note = "" if not result.data_warnings else (
        f"<p>Checking the data raised {result.data_warnings} warning"
        f"{'s' if result.data_warnings != 1 else ''} (not errors); to see them, run "
        f"<code>python -m changing_tracks validate {e(str(data_dir))}</code>.</p>")
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Changing Tracks reports</title>
<style>
  body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
         max-width: 64rem; margin: 0 auto; padding: 1.5rem; line-height: 1.45; }}
  h1 {{ margin-bottom: 0.25rem; }}
  table {{ border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; }}
  th, td {{ text-align: left; vertical-align: top; padding: 0.4rem 0.6rem;
           border-bottom: 1px solid #ddd; }}
  thead th {{ background: #f3f3f3; }}
  table.settings {{ width: auto; }}
  table.settings th {{ font-weight: normal; color: #444; }}
  .ok {{ color: #1b6e20; font-weight: 600; }}
  .failed {{ color: #b00020; font-weight: 600; }}
  tr.report-failed td {{ background: #fdecea; }}
  small {{ color: #555; font-weight: normal; }}
  .summary {{ font-size: 1.1rem; }}
</style>
</head>
<body>
<main>
<h1>Changing Tracks reports</h1>
<p class="summary">{e(summary)}</p>
<p>Built on {e(when.strftime("%d %B %Y at %H:%M UTC"))} in {e(_duration(result.duration))},
from the data in <code>{e(str(data_dir))}</code>, with version {e(str(__version__))} of the
<code>changing_tracks</code> package. Each report ends with the details needed to reproduce it.</p>
{data_note}
<h2>Protecting small numbers</h2>
{_describe_policy(result.disclosure, policy)}
<h2>Analysis choices</h2>
{analysis}
{"".join(sections)}
</main>
</body>
</html>
"""


def _manifest(result: BuildResult, data_dir: str | Path) -> str:
    from . import __version__

    return json.dumps({
        "built_at": result.started.isoformat(),
        "duration": round(result.duration, 3),
        "changing_tracks_version": __version__,
        "data_dir": str(data_dir),
        "disclosure": result.disclosure,
        "analysis": result.analysis,
        "data_warnings": result.data_warnings,
        "reports": [{
            "title": r.job.title, "kind": r.job.kind, "notebook": r.job.notebook,
            "html": r.job.html, "ipynb": r.job.ipynb,
            "parameters": {k: v for k, v in r.job.parameters.items()
                           if k not in ("disclosure", "analysis")},
            "status": r.status, "duration": round(r.duration, 3), "error": r.error,
            "warnings": r.warnings, "kernel_restart": r.kernel_restart} for r in result.results],
    }, indent=2, default=str) + "\n"


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, found {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, found {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, found {text!r}")
    return value


def add_build_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``build`` options to ``parser`` (used by ``python -m changing_tracks build``)."""
    parser.add_argument("--data", default="data/sample", metavar="DIR",
                        help="data folder (default: data/sample)")
    parser.add_argument("--years", action="append", metavar="YEAR[,YEAR...]",
                        help="only these programme years, e.g. 2019-20 (repeat or separate "
                             "with commas; default: every year in the data)")
    parser.add_argument("--services", action="append", metavar="SERVICE[,SERVICE...]",
                        help="only these services' reports, by id (repeat or separate with "
                             "commas; default: every service)")
    parser.add_argument("--out", default="reports", metavar="DIR",
                        help="output folder (default: reports)")
    parser.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                        help="notebooks to run at once (default: the machine's cores)")
    parser.add_argument("--timeout", type=_positive_float, default=None, metavar="SECONDS",
                        help="seconds any one notebook cell may run before its report "
                             f"fails (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="TOML file with [disclosure], [analysis] and [build] settings")
    parser.add_argument("--notebooks", default=None, metavar="DIR",
                        help="folder of the report notebooks (default: the package's notebooks/)")
    parser.add_argument("--no-progress", action="store_true",
                        help="do not show the progress bar")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="start every report's kernel from scratch instead of as a copy "
                             "of one that has imported the libraries (slower; for checking)")
    return parser


def _data_error_types() -> tuple[type[BaseException], ...]:
    try:
        from .validation import DataValidationError
    except ImportError:
        return ()
    return (DataValidationError,)


def run_build(args: argparse.Namespace) -> int:
    """Run the build from parsed arguments and report on the terminal.

    Returns the exit code: 0 every report built; 1 one or more reports failed
    (each named); 2 invalid data, parameters or config (nothing run); 130
    interrupted (Ctrl-C).
    """
    try:
        result = build_reports(
            data_dir=args.data, out_dir=args.out, years=_as_list(args.years),
            services=_as_list(args.services), jobs=args.jobs, timeout=args.timeout,
            config=args.config, notebooks_dir=args.notebooks,
            progress=not getattr(args, "no_progress", False),
            fork_kernels=not getattr(args, "fresh_kernels", False))
    except (ConfigError, ReportPlanError, *_data_error_types()) as error:
        print(f"Nothing was built.\n\n{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nBuild interrupted. Reports finished before the interruption are complete; "
              "the others were not written, and index.html was not updated.", file=sys.stderr)
        return 130
    n = len(result.results)
    failures = result.failures
    print(f"Built {n - len(failures)} of {n} reports in {_duration(result.duration)}. "
          f"Open {result.index}")
    if failures:
        print(f"\n{len(failures)} report{'s' if len(failures) != 1 else ''} failed:",
              file=sys.stderr)
        for r in failures:
            print(f"  - {r.job.title} ({result.out_dir / r.job.html}): "
                  f"{_first_line(r.error)}", file=sys.stderr)
        return 1
    return 0
