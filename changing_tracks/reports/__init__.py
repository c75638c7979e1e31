"""What the report notebooks call: a report's data and rules, and publishable tables and figures.

A :class:`Report` holds the validated data for one programme year (and one
service, for a service report), the disclosure policy and the analysis
choices. Every table a report shows goes through :meth:`Report.publish`, which
refuses participant ids, applies disclosure control (small numbers suppressed,
with secondary suppression) and gives plain-English headings; every figure
goes through :meth:`Report.figure`, which refuses figures naming a participant.
The section functions of :mod:`.service` (one service's report) and
:mod:`.programme` (cross-service comparison and annual learning report) build
on these, so that a notebook cell is one call and a sentence.

What a report shows of a programme year (:meth:`Report.table`)
-------------------------------------------------------------
* Participants, wellbeing questionnaires, outcome ratings and tutors carry a
  programme year: the year's rows.
* Attendance registers carry session dates: the rows of the year's
  participants whose session falls in the participant's record year
  (September to August, :func:`changing_tracks.contracts.programme_year_of`).
* Audit ratings and stages of inclusion are organisational records dated when
  they were made: the records of the services active in the year
  (:attr:`Report.active_services`) dated on or before
  :func:`organisation_cutoff` (30 September after the year ends, overridable
  by ``analysis["organisation_cutoff"]``); undated records are kept.
* ``all_years=True`` gives every year (history, e.g. new vs continuing).

What a published table hides (:meth:`Report.publish`)
-----------------------------------------------------
The disclosure spec is the caller's when one is given (it replaces the
table's ``attrs["suppress"]`` entirely), else the analysis function's. With
``columns``, only the displayed columns, the counts the displayed statistics
rest on, and counts a reader can work out from these take part in disclosure
control; relations through two or more other counts are dropped: a count a
reader can neither see nor work out cannot help work out a hidden one, so it
must not force hiding a published one. The whole of a relation (such as the
number of young people) is taken as known -- it is usually published in
another table -- unless the caller names it ``unpublished``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as _dt
import functools
import hashlib
import html
import inspect
import io
import os
import pickle
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contracts import programme_year_of
from ..disclosure import (DisclosurePolicy, IdentifierSet, check_no_identifiers, figure_groups,
                          round_half_up, suppress, suppression_mask)
from ..loaders import SOURCE_COLUMNS, Dataset, load_data

__all__ = [
    "ANALYSIS_DEFAULTS",
    "check_analysis","Report", "Published", "Note", "ShownFigure", "Parts", "Text", "open_report",
           "POOLED", "count_text", "organisation_cutoff", "year_dates", "declared_spec",
           "percent", "listing", "p_text", "LOCKDOWN", "render_png", "shared_section"]

#: Label of pooled rows across services, as the analysis modules write it.
POOLED = "All services"

#: Tables whose rows belong to a programme year (filtered by ``Report.table``).
_YEARLY = ("participants", "wellbeing", "outcome_ratings", "tutors")

#: First day of the March 2020 lockdown (no sessions from then on).
LOCKDOWN = pd.Timestamp("2020-03-23")

#: Organisational records dated when made (filtered by the year's cut-off).
_ORGANISATIONAL = ("audit_ratings", "stages")

#: Keys of a disclosure spec (keyword arguments of :func:`changing_tracks.disclosure.suppress`).
_SPEC_KEYS = ("counts", "derived", "keep", "groups", "total", "sums", "complements", "additive")

_CSS = (
    "<style>.ct-table{border-collapse:collapse;margin:0.4em 0 0.2em 0;font-size:0.92em}"
    ".ct-table th{background:#eef2f7;text-align:left;padding:4px 8px;border-bottom:1px solid "
    "#9aa9bd}.ct-table td{padding:3px 8px;border-bottom:1px solid #e3e7ee;text-align:right}"
    ".ct-table td.ct-text{text-align:left}.ct-caption{font-weight:600;margin-top:0.8em}"
    ".ct-foot{font-size:0.82em;color:#4a5568;margin:0.2em 0 1em 0}"
    ".ct-note{border-left:4px solid #c9a227;background:#fffbea;padding:6px 10px;margin:0.6em 0}"
    "</style>"
)


@dataclass
class Published:
    """A table ready to publish: suppressed, renamed and formatted, with caption and footnote."""

    table: pd.DataFrame
    caption: str = ""
    footnote: str = ""

    def _repr_html_(self) -> str:
        parts = [_CSS]
        if self.caption:
            parts.append(f'<div class="ct-caption">{html.escape(self.caption)}</div>')
        if self.table.empty:
            parts.append('<div class="ct-note">No rows to show.</div>')
        else:
            parts.append(_table_html(self.table))
        if self.footnote:
            parts.append(f'<div class="ct-foot">{html.escape(self.footnote)}</div>')
        return "\n".join(parts)

    def __repr__(self) -> str:  # plain-text fallback
        return f"{self.caption}\n{self.table.to_string(index=False)}\n{self.footnote}".strip()


@dataclass
class Note:
    """A highlighted sentence in a report: a caveat, or why a section has no data."""

    text: str

    def _repr_html_(self) -> str:
        return f'{_CSS}<div class="ct-note">{html.escape(self.text)}</div>'

    def __repr__(self) -> str:
        return self.text


@dataclass
class ShownFigure:
    """A figure rendered to PNG (so it is shown once), with an optional note below it."""

    png: bytes
    alt: str = ""
    note: str = ""

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        out = f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.alt)}" ' \
              'style="max-width:100%">'
        if self.note:
            out += f'{_CSS}<div class="ct-foot">{html.escape(self.note)}</div>'
        return out

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return f"<figure: {self.alt}>"


class Parts(list):
    """Several report items (tables, notes, figures, prose) shown one after another in one cell.

    A plain list displays as text in a notebook; this one displays each item's
    HTML in turn, so a section function can return a figure with its table and
    caveats and the notebook cell stays one call. Items without HTML are shown
    as preformatted text.
    """

    def _repr_html_(self) -> str:
        out = []
        for part in self:
            if hasattr(part, "_repr_html_"):
                out.append(part._repr_html_())
            else:
                out.append(f"<pre>{html.escape(repr(part))}</pre>")
        return "\n".join(out)

    def __repr__(self) -> str:
        return "\n\n".join(repr(p) for p in self)


_BOLD = re.compile(r"\*\*(.+?)\*\*")


class Text:
    """Generated prose (a little Markdown: paragraphs, ``- `` bullets, ``**bold**``)."""

    def __init__(self, markdown: str):
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        blocks: list[str] = []
        items: list[str] = []
        for line in self.markdown.splitlines() + [""]:
            if line.startswith("- "):
                items.append(f"<li>{_inline(line[2:])}</li>")
                continue
            if items:
                blocks.append("<ul>" + "".join(items) + "</ul>")
                items = []
            if line.strip():
                blocks.append(f"<p>{_inline(line)}</p>")
        return '<div class="ct-text">' + "\n".join(blocks) + "</div>"

    def __repr__(self) -> str:
        return self.markdown


def _inline(text: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", html.escape(text))


def _table_html(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for rec in table.itertuples(index=False):
        cells = []
        for value in rec:
            text = "–" if value is None or (isinstance(value, float) and np.isnan(value)) \
                or value is pd.NA else str(value)
            cls = ' class="ct-text"' if isinstance(value, str) and not _numeric_text(text) else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="ct-table"><thead><tr>{head}</tr></thead><tbody>' + "".join(rows) \
        + "</tbody></table>"


def _numeric_text(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("%"))
        return True
    except ValueError:
        return False


def _decimal_text(value: float, places: int) -> str:
    """A number with ``places`` decimals, halves rounded up (away from zero), never "-0.0"."""
    quantum = Decimal(1).scaleb(-int(places))
    number = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    if number == 0:
        number = abs(number)
    return f"{number:,.{int(places)}f}"


def p_text(p: float) -> str:
    """A p-value as evaluators print it: three decimals, or "<0.001"."""
    return "<0.001" if p < 0.001 else _decimal_text(p, 3)


def _format(value: Any, decimals: int, p_value: bool = False) -> Any:
    """Counts as whole numbers, other numbers rounded (halves up); symbols and text unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        if np.isinf(value):
            return "∞" if value > 0 else "-∞"
        return p_text(float(value)) if p_value else _decimal_text(float(value), decimals)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%d %b %Y") if not pd.isna(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


# --------------------------------------------------------------------------
# Helpers shared by the report modules
# --------------------------------------------------------------------------

def count_text(n: Any, policy: DisclosurePolicy) -> str:
    """A count of people for a sentence, under the disclosure policy.

    Counts from 1 to ``threshold - 1`` become "fewer than <threshold>"; other
    counts are rounded to the policy's ``rounding_base`` (halves up) if it has
    one; zero stays "0" unless the policy hides zeros (then "fewer than
    <threshold>": "none recorded" is not claimed).

    Parameters
    ----------
    n : int
        The count (missing gives "not known").
    policy : DisclosurePolicy

    Returns
    -------
    str

    Examples
    --------
    >>> count_text(7, DisclosurePolicy()), count_text(1234, DisclosurePolicy())
    ('fewer than 10', '1,234')
    """
    if n is None or n is pd.NA or (isinstance(n, float) and np.isnan(n)):
        return "not known"
    n = int(n)
    if bool(policy.is_sensitive([n])[0]):
        return f"fewer than {max(int(policy.threshold), 1)}"
    if policy.rounding_base and policy.rounding_base > 1:
        n = int(round_half_up(n, policy.rounding_base))
    return f"{n:,}"


def listing(values: Sequence[Any]) -> str:
    """"a", "a and b", "a, b and c" (for sentences)."""
    values = [str(v) for v in values]
    if not values:
        return ""
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + " and " + values[-1]


def percent(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Shares 0-1 as percentages 0-100 (same column names; absent columns skipped; attrs kept)."""
    out = table.copy()
    for column in columns:
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64") * 100
    out.attrs = dict(table.attrs)
    return out


def _start_year(year: str) -> int:
    match = re.match(r"^(\d{4})-\d{2}$", str(year))
    if not match:
        raise ValueError(f"year: expected a programme year such as '2019-20', found {year!r}")
    return int(match.group(1))


def year_dates(year: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of a programme year (1 September to 31 August).

    Examples
    --------
    >>> year_dates("2019-20")
    (Timestamp('2019-09-01 00:00:00'), Timestamp('2020-08-31 00:00:00'))
    """
    start = _start_year(year)
    return pd.Timestamp(_dt.date(start, 9, 1)), pd.Timestamp(_dt.date(start + 1, 8, 31))


def organisation_cutoff(year: str, analysis: Mapping[str, Any] | None = None) -> pd.Timestamp:
    """Last date on which audit ratings and stage placements count for a programme year.

    The audit and the stages of inclusion are organisational records dated when
    they were made, not tied to a programme year; a year's report shows those
    made by the end of the year, allowing (by default) until 30 September after
    it ends, as the 2020 follow-up audit deadline moved from July to September
    after lockdown. Both report modules use this one rule.

    Parameters
    ----------
    year : str
        Programme year, e.g. "2019-20".
    analysis : mapping, optional
        ``organisation_cutoff`` (a date) overrides the default.

    Returns
    -------
    pandas.Timestamp

    Examples
    --------
    >>> organisation_cutoff("2019-20")
    Timestamp('2020-09-30 00:00:00')
    """
    given = (analysis or {}).get("organisation_cutoff")
    if given is not None:
        try:
            return pd.Timestamp(given)
        except (TypeError, ValueError):
            raise ValueError(f"analysis setting organisation_cutoff: expected a date such as "
                             f"'2020-09-30', found {given!r}") from None
    return pd.Timestamp(_dt.date(_start_year(year) + 1, 9, 30))


def declared_spec(table: pd.DataFrame) -> dict[str, Any]:
    """The disclosure spec an analysis function attached to its table (a new dict).

    ``attrs["suppress"]`` (keyword arguments for
    :func:`changing_tracks.disclosure.suppress`), completed by the older
    ``attrs["counts"]`` / ``attrs["derived"]``; empty when none was declared.
    """
    spec = dict(table.attrs.get("suppress") or {})
    for key in ("counts", "derived"):
        if key not in spec and key in table.attrs:
            spec[key] = table.attrs[key]
    return spec


def _default_counts(table: pd.DataFrame, keep: Sequence[str] = ()) -> list[str]:
    """The count columns :func:`suppress` assumes: ``n`` and numeric ``n_*`` columns."""
    return [c for c in table.columns
            if isinstance(c, str) and (c == "n" or c.startswith("n_")) and c not in keep
            and pd.api.types.is_numeric_dtype(table[c].dtype)
            and not pd.api.types.is_bool_dtype(table[c].dtype)]


def _fit_spec(table: pd.DataFrame, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec without empty options and without counts or statistics the table lacks."""
    out = {k: v for k, v in spec.items() if v is not None}
    if "counts" in out:
        out["counts"] = [c for c in out["counts"] if c in table]
    if "derived" in out:
        out["derived"] = {k: v for k, v in out["derived"].items() if k in table}
    return out


def _bases(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _restrict(table: pd.DataFrame, spec: Mapping[str, Any], shown: Sequence[str],
              unpublished: Sequence[str] = ()) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table and spec cut to what a published table shows.

    Kept: the displayed columns, the counts the displayed statistics rest on
    (hidden with them, though not shown), the columns the spec's groups and
    total rows need, and every relation (``sums``, ``complements``) with at
    most one unknown column -- that column can be worked out from the known
    ones (a part from its whole and the other parts), so it stays in the
    check as a count that is not shown; this is repeated until nothing more
    is kept. The whole of a relation (``n`` in ``n = n_known + n_unknown``)
    counts as known even when this table does not show it, as wholes such as
    the number of young people are published elsewhere, unless it is named in
    ``unpublished`` (published nowhere). Counts, statistics and relations with
    two or more unknown columns are dropped: no single unpublished number can
    be worked out from them, and their small values must not hide published
    ones. Without
    declared ``counts`` the default count columns of the whole table are
    used; without declared ``derived`` every displayed float column rests on
    all of them (as :func:`suppress` assumes), so nothing is dropped from such
    a table.
    """
    spec = _fit_spec(table, spec)
    keep_cols = list(spec.get("keep") or [])
    counts = list(spec["counts"]) if "counts" in spec else _default_counts(table, keep_cols)
    wanted = set(shown)
    if "derived" in spec:
        derived = {k: _bases(v) for k, v in spec["derived"].items() if k in wanted}
    else:
        derived = {c: list(counts) for c in shown
                   if c in table and c not in counts and c not in keep_cols
                   and pd.api.types.is_float_dtype(table[c].dtype)}
    for bases in derived.values():
        wanted |= set(bases)
    for grouping in spec.get("groups") or []:
        wanted |= set([grouping] if isinstance(grouping, str) else grouping)
    wanted |= set(spec.get("total") or {})
    relations = [("sums", w, [w, *_bases(p)]) for w, p in (spec.get("sums") or {}).items()]
    relations += [("complements", a, [a, b]) for a, b in (spec.get("complements") or {}).items()]
    wholes = {members[0] if kind == "sums" else members[1] for kind, _, members in relations}
    known = wholes - set(unpublished)
    kept: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        for kind, key, members in relations:
            unknown = [m for m in members if m not in wanted and m not in known]
            if (kind, key) not in kept and len(unknown) <= 1:
                kept.add((kind, key))
                wanted |= set(members)
                changed = True
    present = [c for c in table.columns if c in wanted]
    out = {k: v for k, v in spec.items() if k in ("groups", "total")}
    out["counts"] = [c for c in counts if c in wanted]
    out["derived"] = derived
    sums = {w: _bases(p) for w, p in (spec.get("sums") or {}).items() if ("sums", w) in kept}
    if sums:
        out["sums"] = sums
    complements = {a: b for a, b in (spec.get("complements") or {}).items()
                   if ("complements", a) in kept}
    if complements:
        out["complements"] = complements
    if spec.get("keep"):
        out["keep"] = [c for c in spec["keep"] if c in wanted]
    if spec.get("additive") is not None:
        out["additive"] = [c for c in spec["additive"] if c in wanted]
    return table[present], out


def _count_columns(table: pd.DataFrame, spec: Mapping[str, Any]) -> list[str]:
    if spec.get("counts") is not None:
        return list(spec["counts"])
    return _default_counts(table, spec.get("keep") or ())


@dataclass
class Report:
    """One report's data (validated), year, service, disclosure policy and analysis choices."""

    data: Dataset
    year: str
    service: str | None = None
    policy: DisclosurePolicy = field(default_factory=DisclosurePolicy)
    analysis: dict = field(default_factory=dict)
    data_dir: Path = Path(".")
    #: In a report build, the folder where the build's reports keep the sections they have
    #: worked out for one another (:func:`shared_section`), used while ``data`` are the
    #: build's snapshot that :func:`open_report` gave; None: every section is worked out here.
    shared_sections: Path | None = None

    # ---------------------------------------------------------------- data
    @property
    def service_name(self) -> str:
        """The service's full name (or "all services")."""
        if self.service is None:
            return "all services"
        names = self.data.services.set_index("service")["name"]
        return str(names.get(self.service, self.service))

    @property
    def services(self) -> list[str]:
        """Services with participants, wellbeing or outcomes data in the report's year."""
        return self.cached("services", self._services)

    def _services(self) -> list[str]:
        present: set[str] = set()
        for name in ("participants", "wellbeing", "outcome_ratings"):
            frame = getattr(self.data, name)
            present |= set(frame.loc[frame["year"] == self.year, "service"].dropna())
        return sorted(present)

    @property
    def active_services(self) -> list[str]:
        """Services active in the report's year: with participants, wellbeing, outcome
        ratings or tutors in it (alphabetical ids). Audit ratings and stage placements
        are shown for these services only."""
        return self.cached("active services", self._active_services)

    def _active_services(self) -> list[str]:
        present = set(self.services)
        tutors = self.data.tutors
        present |= set(tutors.loc[tutors["year"] == self.year, "service"].dropna().astype(str))
        return sorted(present)

    @property
    def cutoff(self) -> pd.Timestamp:
        """Last date of the organisational records shown (:func:`organisation_cutoff`)."""
        return organisation_cutoff(self.year, self.analysis)

    def table(self, name: str, *, all_services: bool = False,
              all_years: bool = False) -> pd.DataFrame:
        """A table as the report sees it, without the loader's source columns.

        Parameters
        ----------
        name : str
            A table of the data (``participants``, ``attendance``, ``audit_ratings`` ...).
        all_services : bool, default False
            Every service's rows, not only the report's service (service reports).
        all_years : bool, default False
            Every year's rows (history, e.g. new and continuing participants).

        Returns
        -------
        DataFrame
            Yearly tables (participants, wellbeing, outcome ratings, tutors): the
            report's year. ``attendance``: register rows of the participants
            returned by ``table("participants")`` (same flags) whose session date
            falls in the programme year (September-August) of one of that
            participant's records, so that each register row belongs to one
            participant-year; rows without a session date are left out.
            ``cpd``: rows of the tutors returned by ``table("tutors")``.
            ``audit_ratings`` and ``stages``: the records of the services active
            in the year (:attr:`active_services`) dated on or before
            :func:`organisation_cutoff` (undated records kept); with
            ``all_years`` every record. ``attrs["settings"]`` records the
            cut-off, the services and how many undated records were kept.
            Other tables are returned whole.
        """
        return self.cached("table", lambda: self._table(name, all_services, all_years),
                           key=(name, bool(all_services), bool(all_years)))

    def _table(self, name: str, all_services: bool, all_years: bool) -> pd.DataFrame:
        frame = getattr(self.data, name)
        settings = None
        if name in _YEARLY:
            if not all_years:
                frame = frame[frame["year"] == self.year]
        elif name == "attendance":
            frame = self._registers(frame, all_services=all_services, all_years=all_years)
        elif name == "cpd":
            tutors = self.table("tutors", all_services=all_services, all_years=all_years)
            frame = frame[frame["tutor"].isin(tutors["tutor"])]
        elif name in _ORGANISATIONAL and not all_years:
            frame, settings = self._organisational(frame)
        if self.service is not None and not all_services and "service" in frame:
            frame = frame[frame["service"] == self.service]
        out = frame.drop(columns=[c for c in SOURCE_COLUMNS if c in frame]).reset_index(drop=True)
        if settings is not None:
            settings["undated_kept"] = int(out["date"].isna().sum()) if "date" in out else 0
            out.attrs["settings"] = settings
        return out

    def _registers(self, frame: pd.DataFrame, *, all_services: bool,
                   all_years: bool) -> pd.DataFrame:
        """Register rows linked to one participant-year of the report's participants."""
        people = self.table("participants", all_services=all_services, all_years=all_years)
        frame = frame[frame["participant"].isin(people["participant"])]
        if frame.empty:
            return frame
        records = pd.MultiIndex.from_arrays([people["participant"].astype(str),
                                             people["year"].astype(str)])
        session_year = programme_year_of(frame["session_date"]).astype(object)
        rows = pd.MultiIndex.from_arrays([frame["participant"].astype(str).to_numpy(),
                                          session_year.fillna("").to_numpy()])
        return frame[np.asarray(rows.isin(records), dtype=bool)]

    def _organisational(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Records of the active services dated up to the year's cut-off (undated kept)."""
        active = self.active_services
        cutoff = self.cutoff
        keep = np.asarray(frame["service"].astype(str).isin(active), dtype=bool)
        if "date" in frame:
            dates = pd.to_datetime(frame["date"], errors="coerce")
            keep = keep & np.asarray((dates.isna() | (dates <= cutoff)), dtype=bool)
        settings = {"year": self.year, "dated_up_to": cutoff.date().isoformat(),
                    "services": active}
        return frame[keep], settings

    def has(self, name: str, *, all_services: bool = False) -> bool:
        """Whether the report has any rows of a table."""
        return not self.table(name, all_services=all_services).empty

    def cached(self, name: str, compute: Callable[[], Any], *, key: Any = None,
               policy: bool = False, copy: bool = True) -> Any:
        """An analysis result worked out once per report, returned as a fresh copy.

        Several sections of a report rest on the same tables and analyses (the
        year's participants, the audit change, the wellbeing scores ...); each
        is computed once and kept on this report object, so nothing is shared
        between reports (a build's reports share whole sections instead:
        :func:`shared_section`). The result is keyed by ``name``, ``key`` (the
        arguments that matter), the year, service and analysis settings, and
        the data object; with ``policy`` also the disclosure policy (results
        quoting counts in words). Tables are returned as copies (and dicts,
        lists and tuples of them copied), so a caller changing what it gets
        cannot change what the next section sees. ``copy=False`` returns the
        kept object itself, for results no caller changes (such as prepared ids).
        """
        cache = self.__dict__.setdefault("_cache", {})
        full = (name, key, self.year, self.service, repr(sorted(self.analysis.items())),
                repr(self.policy) if policy else None)
        hit = cache.get(full)
        if hit is None or hit[0] is not self.data:
            hit = cache[full] = (self.data, compute())
        return _fresh(hit[1]) if copy else hit[1]

    # ---------------------------------------------------------------- output
    def setting(self, key: str) -> Any:
        """An analysis choice: the report's ``analysis`` value, else its default."""
        default = ANALYSIS_DEFAULTS[key]
        value = self.analysis.get(key, default)
        return default if value is None else value

    def publish(self, table: pd.DataFrame, columns: Mapping[str, str] | None = None, *,
                caption: str = "", decimals: int | Mapping[str, int] = 1,
                counts: Sequence[str] | None = None, derived: Mapping[str, Any] | None = None,
                people: str = "young people", organisations: bool = False,
                spec: Mapping[str, Any] | None = None, footnote: str = "",
                p_values: Sequence[str] = (), unpublished: Sequence[str] = (),
                **suppress_options: Any) -> Published:
        """Disclosure-controlled, formatted table with plain-English headings.

        Parameters
        ----------
        table : DataFrame
            A result table (participant ids refused; the loader's source columns dropped).
        columns : mapping, optional
            ``{result column: heading}``, choosing and ordering what is shown.
            Only these columns, the counts the shown statistics rest on and
            counts that can be worked out from them take part in disclosure
            control; relations (sums, complements) through two or more other
            columns are dropped, so columns that are not published cannot hide
            ones that are (the rule is spelled out in the module notes).
        caption : str
        decimals : int or mapping, default 1
            Decimal places of non-whole numbers, for every column or per result
            column (``{"p": 3, "ratio": 2}``; columns not listed get 1). Halves
            are rounded up. Counts are whole numbers with thousands separators.
        counts, derived : optional
            Count columns and ``{statistic: count column(s) it rests on}``.
        people : str, default "young people"
            What the counts count (the footnote says it).
        organisations : bool, default False
            The table describes music services, not people (audit scores,
            stages): no small-number suppression, and the footnote says so.
        spec : mapping, optional
            A whole disclosure spec (keyword arguments of
            :func:`changing_tracks.disclosure.suppress`).
        footnote : str
            Added after the disclosure footnote.
        p_values : sequence of str
            Result columns shown as p-values: three decimals, or "<0.001".
        unpublished : sequence of str
            Count columns published nowhere, not even as the total of another
            table (e.g. young people with any wellbeing questionnaire): with
            ``columns``, relations through them are dropped although they are
            a whole.
        **suppress_options
            ``groups``, ``total``, ``sums``, ``complements``, ``keep``, ``additive``.

        Returns
        -------
        Published
            ``table.attrs["count_columns"]``: the headings of the shown columns
            that count people (as disclosure control treated them);
            ``table.attrs["disclosure_warnings"]``: warnings raised by
            disclosure control (kept for tests and maintainers, not printed).

        Notes
        -----
        The spec is the caller's when any of ``spec``, ``counts``, ``derived``
        or ``**suppress_options`` is given -- it then replaces the table's
        ``attrs["suppress"]`` entirely (no merging of relations declared for a
        table the caller has since cut or changed) -- else the one the analysis
        function declared (:func:`declared_spec`).
        """
        self._refuse_ids(table)
        if organisations:
            chosen: dict[str, Any] = {"counts": [], "derived": {}}
        else:
            chosen = dict(spec or {})
            chosen.update({k: v for k, v in suppress_options.items() if v is not None})
            if counts is not None:
                chosen["counts"] = list(counts)
            if derived is not None:
                chosen["derived"] = dict(derived)
            if not chosen:
                chosen = declared_spec(table)
        unknown = sorted(set(chosen) - set(_SPEC_KEYS))
        if unknown:
            raise ValueError(f"disclosure spec: unknown options {unknown}; expected some of "
                             f"{list(_SPEC_KEYS)}")
        dropped = [c for c in ("participant", *SOURCE_COLUMNS) if c in table]
        clean = table.drop(columns=dropped) if dropped else table.copy(deep=False)
        clean.attrs = {}
        if columns is not None:
            missing = [c for c in columns if c not in clean]
            if missing:
                raise KeyError(f"columns not in the table: {missing}; it has {list(clean)}")
            clean, chosen = _restrict(clean, chosen, list(columns), unpublished)
        else:
            chosen = _fit_spec(clean, chosen)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            shown = suppress(clean, self.policy, people=people, **chosen) if len(clean) \
                else clean
        count_cols = [] if organisations else _count_columns(clean, chosen)
        if organisations:
            who = "the music service as an organisation" if self.service else \
                "music services as organisations"
            note = (f"These figures describe {who}, not individual people, so no numbers are "
                    "hidden.")
        else:
            note = shown.attrs.get("footnote", self.policy.describe(people=people))
        if footnote:
            note = f"{note} {footnote}".strip()
        headings = dict(columns) if columns is not None else {c: c for c in shown.columns}
        shown = shown[list(headings)]
        places = decimals if isinstance(decimals, Mapping) else {}
        default = 1 if isinstance(decimals, Mapping) else int(decimals)
        if len(shown):
            shown = pd.DataFrame({
                headings[c]: [_format(v, int(places.get(c, default)), c in p_values)
                              for v in shown[c].tolist()]
                for c in headings}, columns=list(headings.values()))
        else:
            shown = shown.rename(columns=headings)
        shown.attrs = {"count_columns": [h for c, h in headings.items() if c in count_cols],
                       "disclosure_warnings": [str(w.message) for w in caught]}
        return Published(shown.reset_index(drop=True), caption, note)

    def masked(self, table: pd.DataFrame, spec: Mapping[str, Any] | None = None, *,
               people: str = "young people", split: str | None = None,
               columns: Sequence[str] | None = None,
               unpublished: Sequence[str] = ()) -> pd.DataFrame:
        """The table as a figure may draw it: every value a published table would hide missing.

        Parameters
        ----------
        table : DataFrame
            A result table.
        spec : mapping, optional
            Disclosure spec; default the table's own (:func:`declared_spec`).
        people : str
        split : str, optional
            A column whose values are independent parts of the table (no
            relation links rows with different values): each part is
            suppressed on its own -- the same cells, much faster for big tables.
        columns : sequence of str, optional
            The columns a published table shows: disclosure control then sees
            what :meth:`publish` with these columns sees (so a sentence or figure
            hides exactly what that table hides); numbers in columns that
            table would not publish are missing. ``unpublished`` as in
            :meth:`publish`.

        Returns
        -------
        DataFrame
            Same rows, columns and attrs; hidden counts and statistics are
            missing (integer columns become ``Int64``, other numeric ones
            ``float64``); counts shown are rounded as published when the policy
            rounds. Comparing with ``table`` tells hidden from missing.
        """
        if table.empty:
            return table.copy()
        chosen = declared_spec(table) if spec is None else dict(spec)
        if columns is not None:
            source, chosen = _restrict(table, chosen, list(columns), unpublished)
        else:
            source, chosen = table, _fit_spec(table, chosen)
        source = source.copy()
        source.attrs = {}
        parts = [source] if split is None or split not in source else \
            [part for _, part in source.groupby(split, sort=False, dropna=False)]
        shown, masks = [], []
        with warnings.catch_warnings():
            # the same warning is recorded when the table itself is published
            warnings.simplefilter("ignore", UserWarning)
            for part in parts:
                display = suppress(part, self.policy, people=people, **chosen)
                shown.append(display)
                masks.append(suppression_mask(display, self.policy))
        if len(parts) == 1 and table.index.is_unique:
            display, mask = shown[0], masks[0]  # already in the table's order
        else:
            display = pd.concat(shown).loc[table.index]
            mask = pd.concat(masks).loc[table.index]
        out = table.copy()
        rounding = bool(self.policy.rounding_base and self.policy.rounding_base > 1)
        counts = set(_count_columns(source, chosen)) if rounding else set()
        dtypes = dict(zip(out.columns, out.dtypes)) if out.columns.is_unique else None
        for column in out.columns:
            dtype = dtypes[column] if dtypes is not None else out[column]
            if column not in mask:  # not published: numbers left out
                if pd.api.types.is_bool_dtype(dtype):
                    continue
                if pd.api.types.is_integer_dtype(dtype):
                    out[column] = pd.array([pd.NA] * len(out), dtype="Int64")
                elif pd.api.types.is_numeric_dtype(dtype):
                    out[column] = np.nan
                continue
            hidden = mask[column].to_numpy(dtype=bool)
            if column in counts:
                values = [pd.NA if h or not isinstance(v, (int, np.integer)) else int(v)
                          for v, h in zip(display[column].tolist(), hidden)]
                out[column] = pd.array(values, dtype="Int64")
                continue
            if not hidden.any():
                continue
            if pd.api.types.is_integer_dtype(dtype):
                out[column] = out[column].astype("Int64").mask(hidden)
            elif pd.api.types.is_numeric_dtype(dtype):
                out[column] = out[column].astype("float64").mask(hidden)
            else:
                out.loc[hidden, column] = None
        return out

    def figure(self, fig, *, alt: str = "", note: str = "") -> ShownFigure:
        """A figure for publication: drawn once (:func:`render_png`), checked for participant
        ids, closed."""
        try:
            _pin_empty_axis_labels(fig)
            png = render_png(fig, FIGURE_DPI)
            # checked as drawn: tick labels are only written when a figure is drawn
            check_no_identifiers(fig, self._ids(), what="figure", draw=False)
        finally:
            _close(fig)
        return ShownFigure(png, alt=alt, note=note)

    def plot(self, plot: Callable[..., Any], table: pd.DataFrame, *, n: str = "n",
             by: str | None = "service", noun: str | tuple[str, str] | None = None,
             alt: str = "", people: str = "young people", draw: pd.DataFrame | None = None,
             **kwargs: Any) -> ShownFigure | Note:
        """Plot only the groups large enough to publish, with a note naming what was left out.

        ``draw`` (optional, same index as ``table``) is what is drawn of the
        groups chosen on ``table``'s sizes, e.g. :meth:`masked` of it.
        """
        groups = figure_groups(table, self.policy, n, by=by, noun=noun, people=people)
        if groups.shown.empty:
            return Note(groups.note or f"No figure: every group has fewer than "
                                       f"{self.policy.threshold} {people}.")
        rows = groups.shown if draw is None else draw.loc[groups.shown.index]
        return self.figure(plot(rows, **kwargs), alt=alt, note=groups.note or "")

    def no_data(self, what: str) -> Note:
        """Say plainly that the data hold nothing for a section."""
        where = f" for {self.service_name}" if self.service else ""
        return Note(f"No data: the data hold no {what}{where} in {self.year}.")

    def provenance(self, **parameters: Any) -> Published:
        """Provenance footer: package version, parameters, data file checksums, build time."""
        from ..provenance import provenance

        table = provenance(self.data_dir, parameters)
        shown = table.rename(columns={"section": "Section", "item": "Item", "value": "Value"})
        return Published(shown, "How this report was made", "Checksums are SHA-256 of each "
                         "data file, so a reader can tell whether two reports used the same data.")

    def _ids(self) -> IdentifierSet:
        """The data's participant ids, prepared once for every table and figure checked."""
        return self.cached("participant ids", lambda: IdentifierSet(
            self.data.participants["participant"].dropna()), copy=False)

    def _refuse_ids(self, table: pd.DataFrame) -> None:
        check_no_identifiers(table, self._ids())


def _fresh(value: Any) -> Any:
    """A copy of a cached result for a caller to use as its own (see :meth:`Report.cached`)."""
    if isinstance(value, pd.DataFrame):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_fresh(v) for v in value)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float)):
        return value
    return copy.deepcopy(value)


#: Resolution of report figures (dots per inch).
FIGURE_DPI = 110


#: zlib level of the figures' PNG files: 3 encodes in half the time of Pillow's
#: default (6) for files about 2% larger.
PNG_COMPRESS_LEVEL = 3


def render_png(fig, dpi: float = FIGURE_DPI) -> bytes:
    """The figure as PNG, cropped to what is drawn plus matplotlib's padding.

    The image ``fig.savefig(..., bbox_inches="tight")`` gives, drawn once instead of twice:
    savefig draws the whole figure to find its tight box and then draws it again into a
    canvas of that size; here the figure is drawn at its own size and the tight box cut
    out of that picture, the padding beyond the canvas's edge filled with the figure's
    face colour. The two differ only by the box's position within a pixel (under half a
    pixel). A figure with something drawn outside its canvas, which savefig's canvas
    would grow to show, is saved by savefig. The figure keeps its own dpi and canvas.
    """
    original_dpi, original_canvas = fig.dpi, fig.canvas
    try:
        png = _draw_once(fig, dpi)
    finally:
        fig.set_canvas(original_canvas)
        fig.dpi = original_dpi
    if png is None:
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=dpi, bbox_inches="tight",
                    pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        png = out.getvalue()
    return png


def _overruns_canvas(drawn, width: int, height: int, dpi: float) -> bool:
    """Whether a figure's drawn box (``fig.get_tightbbox``, inches) goes more than half a
    pixel past its ``width`` x ``height`` pixel canvas; such a figure is saved by savefig
    (:func:`render_png`), and its picture is lopsided."""
    x0, y0, x1, y1 = (edge * dpi for edge in drawn.extents)  # pixels
    return bool(x0 < -0.5 or y0 < -0.5 or x1 > width + 0.5 or y1 > height + 0.5)


def _draw_once(fig, dpi: float) -> bytes | None:
    """:func:`render_png`'s single drawing; None if something is drawn outside the canvas."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba
    from matplotlib.image import imsave

    fig.dpi = dpi
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    width, height = canvas.get_width_height()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # inches
    if _overruns_canvas(drawn, width, height, dpi):
        return None
    box = drawn.padded(mpl.rcParams["savefig.pad_inches"])
    # savefig's canvas: the box's size in pixels, truncated; its top left corner at (0, 0)
    box_width, box_height = int(box.width * dpi), int(box.height * dpi)
    left, top = round(box.x0 * dpi), round(height - box.y1 * dpi)
    picture = np.asarray(canvas.buffer_rgba())
    cut = np.empty((box_height, box_width, 4), dtype=np.uint8)
    cut[...] = np.round(np.asarray(to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + box_width, width), min(top + box_height, height)
    if x1 > x0 and y1 > y0:
        cut[y0 - top:y1 - top, x0 - left:x1 - left] = picture[y0:y1, x0:x1]
    out = io.BytesIO()
    imsave(out, cut, format="png", origin="upper", dpi=dpi,
           pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return out.getvalue()


def _pin_empty_axis_labels(fig) -> None:
    """Give every empty axis label a fixed place, so that drawing does not work one out.

    On each of the several passes of a ``savefig`` (layout, tight box, drawing),
    matplotlib places each axis label beside its tick labels, laying the tick labels out
    again to do so. An empty label is never drawn and adds nothing to the tight box,
    so the figure comes out the same, pixel for pixel, a quarter to a third faster for
    figures of many panels.
    """
    for ax in fig.get_axes():
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.label.get_text():
                axis.set_label_coords(0.5, 0.5)


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


#: Analysis choices a report reads from the build configuration's ``[analysis]`` table,
#: with their defaults (each is documented where it is used, in
#: :mod:`changing_tracks.reports.service` and :mod:`changing_tracks.reports.programme`).
#: ``None`` means the analysis function's own documented default.
ANALYSIS_DEFAULTS: dict[str, Any] = {
    "wellbeing_scale": "SWEMWBS",
    "wellbeing_allow_missing": 0,
    "wellbeing_selection_cutoff": None,
    "wellbeing_reliable_change_threshold": None,
    "min_n_for_tests": 10,
    "meta_method": "dl",
    "funnel_overdispersion": "auto",
    "dunn_adjust": "holm",
    "attendance_threshold": 0.75,
    "audit_method": "median",
    "audit_halves": "keep",
    "audit_not_applicable": "majority",
    "audit_priorities": 10,
    "audit_gap": "not met",
    "audit_deadline": "2020-07-31",
    "audit_extended_deadline": "2020-09-30",
    "organisation_cutoff": None,
    "early_stages": ("exclusion", "segregation"),
    "outcomes_gap_threshold": 0.5,
    "majority": 0.5,
}


def check_analysis(analysis: Mapping[str, Any] | None) -> dict:
    """The analysis choices, refusing keys no report reads (a typo would be silently ignored)."""
    analysis = dict(analysis or {})
    unknown = sorted(set(analysis) - set(ANALYSIS_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown analysis setting(s) {', '.join(map(repr, unknown))}; "
                         f"expected any of: {', '.join(ANALYSIS_DEFAULTS)}")
    return analysis


def shared_section(section: Callable[..., Any]) -> Callable[..., Any]:
    """A report section (``section(report, ...)``) worked out once per build for every report
    that shows it.

    In a report build (:attr:`Report.shared_sections` set) the first report to work out a
    section keeps it in the build's folder, and the build's other reports read it from
    there: the annual learning report and the comparison across services of a year show
    many of the same sections. A kept section is keyed by the section, its arguments (with
    their defaults), the report's year, service, disclosure policy, analysis choices and
    data folder, and the figure settings (:data:`FIGURE_DPI`, matplotlib's rcParams); it is
    read only by a report whose data are still the build's snapshot, the same for every
    report. So a report shows the same either way. It is worked out as usual outside a
    build, when an argument is not a plain value (text, number, None, or a tuple of these),
    or when the folder cannot be read or written. Warnings the section raises are raised
    only where it is worked out.
    """
    signature = inspect.signature(section)

    @functools.wraps(section)
    def shown(report: Report, *args: Any, **kwargs: Any) -> Any:
        folder = report.shared_sections
        if folder is None or report.__dict__.get("_snapshot") is not report.data:
            return section(report, *args, **kwargs)
        bound = signature.bind(report, *args, **kwargs)
        bound.apply_defaults()
        arguments = list(bound.arguments.items())[1:]
        if not all(_plain(value) for _, value in arguments):
            return section(report, *args, **kwargs)
        import matplotlib as mpl

        key = repr((section.__module__, section.__qualname__, arguments, report.year,
                    report.service, report.policy, sorted(report.analysis.items()),
                    str(report.data_dir), FIGURE_DPI, PNG_COMPRESS_LEVEL,
                    sorted(mpl.rcParams.items())))
        path = Path(folder) / (hashlib.sha256(key.encode()).hexdigest() + ".pickle")
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except Exception:  # not kept yet (or unreadable): work it out
            pass
        result = section(report, *args, **kwargs)
        _keep(path, result)
        return result

    return shown


def _plain(value: Any) -> bool:
    """Whether a value's ``repr`` says all of it: text, a number, None, or a tuple of these."""
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _keep(path: Path, result: Any) -> None:
    """Save ``result`` at ``path`` for the build's other reports, whole or not at all."""
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
            temporary = Path(fh.name)
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except Exception:  # noqa: BLE001 -- keeping is an optimisation; the report goes on
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def open_report(data_dir: str | Path, year: str, service: str | None = None,
                disclosure: Mapping[str, Any] | None = None,
                analysis: Mapping[str, Any] | None = None) -> Report:
    """Load and validate the data and check the year and service exist.

    In a report build the data the build loaded and validated are used when
    the data folder is byte-for-byte unchanged (:mod:`.snapshot`).

    Raises ``ValueError`` naming what exists when the year or service does not,
    and :class:`~changing_tracks.DataValidationError` when the data are invalid.
    """
    analysis = check_analysis(analysis)
    policy = DisclosurePolicy.from_config(dict(disclosure or {}))
    from .snapshot import read_snapshot, section_folder

    # the report build loads the data once for all its notebooks (see .snapshot), and its
    # reports share the sections they have in common
    data = read_snapshot(data_dir)
    shared = section_folder() if data is not None else None
    if data is None:
        data = load_data(data_dir)
    report = Report(data=data, year=str(year), service=service, policy=policy,
                    analysis=analysis, data_dir=Path(data_dir), shared_sections=shared)
    if shared is not None:
        report.__dict__["_snapshot"] = data  # sections are shared while these are its data
    if report.year not in data.years:
        raise ValueError(f"programme year {year!r} is not in the data; the data have: "
                         + ", ".join(data.years))
    if service is not None and service not in set(data.services["service"]):
        raise ValueError(f"service {service!r} is not in services.csv; it lists: "
                         + ", ".join(data.services["service"]))
    return report
