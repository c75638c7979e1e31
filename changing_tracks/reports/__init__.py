"""What the report notebooks call: a report's data and rules, and publishable tables and figures.

A :class:`Report` holds the validated data for one programme year (and one
service, for a service report), the disclosure policy and the analysis
choices. Every table a report shows goes through :meth:`Report.publish`, which
refuses participant ids, applies disclosure control (small numbers suppressed,
with secondary suppression) and gives plain-English headings; every figure
goes through :meth:`Report.figure`, which refuses figures naming a participant.
Section functions in :mod:`.sections` build on these, so that a notebook cell
is one call and a sentence.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..disclosure import DisclosurePolicy, check_no_identifiers, figure_groups, suppress
from ..loaders import SOURCE_COLUMNS, Dataset, load_data

__all__ = ["Report", "Published", "Note", "ShownFigure", "open_report", "POOLED"]

#: Label of pooled rows across services, as the analysis modules write it.
POOLED = "All services"

#: Tables whose rows belong to a programme year (filtered by ``Report.table``).
_YEARLY = ("participants", "wellbeing", "outcome_ratings", "tutors")

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


def _format(value: Any, decimals: int) -> Any:
    """Counts as whole numbers, other numbers rounded; symbols and text unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        return f"{value:,.{decimals}f}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%d %b %Y") if not pd.isna(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


@dataclass
class Report:
    """One report's data (validated), year, service, disclosure policy and analysis choices."""

    data: Dataset
    year: str
    service: str | None = None
    policy: DisclosurePolicy = field(default_factory=DisclosurePolicy)
    analysis: dict = field(default_factory=dict)
    data_dir: Path = Path(".")

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
        present: set[str] = set()
        for name in ("participants", "wellbeing", "outcome_ratings"):
            frame = getattr(self.data, name)
            present |= set(frame.loc[frame["year"] == self.year, "service"].dropna())
        return sorted(present)

    def table(self, name: str, *, all_services: bool = False) -> pd.DataFrame:
        """A table for the report: its year only (for yearly tables) and its service only
        (unless ``all_services``), without the loader's source columns."""
        frame = getattr(self.data, name)
        if name in _YEARLY:
            frame = frame[frame["year"] == self.year]
        elif name == "attendance":
            ids = self.table("participants", all_services=all_services)["participant"]
            frame = frame[frame["participant"].isin(ids)]
        elif name == "cpd":
            tutors = self.table("tutors", all_services=all_services)["tutor"]
            frame = frame[frame["tutor"].isin(tutors)]
        if self.service is not None and not all_services and "service" in frame:
            frame = frame[frame["service"] == self.service]
        return frame.drop(columns=[c for c in SOURCE_COLUMNS if c in frame]).reset_index(drop=True)

    def has(self, name: str, *, all_services: bool = False) -> bool:
        """Whether the report has any rows of a table."""
        return not self.table(name, all_services=all_services).empty

    # ---------------------------------------------------------------- output
    def publish(self, table: pd.DataFrame, columns: Mapping[str, str] | None = None, *,
                caption: str = "", decimals: int = 1, counts: Sequence[str] | None = None,
                derived: Mapping[str, Any] | None = None, people: str = "young people",
                **suppress_options: Any) -> Published:
        """Disclosure-controlled, formatted table with plain-English headings.

        ``columns`` maps result columns to headings, choosing and ordering what is
        shown; suppression sees every count column first, so a hidden count also
        hides what rests on it. Counts are the ``n``/``n_*`` columns unless
        ``counts`` says otherwise; statistics rest on the counts named in
        ``derived`` (default: on every count in the row). Other keywords go to
        :func:`changing_tracks.disclosure.suppress` (``groups``, ``total``,
        ``sums``, ``complements``, ``keep``, ``additive``). The table's own
        ``attrs["suppress"]`` spec, if an analysis function set one, is the default.
        """
        self._refuse_ids(table)
        spec = dict(table.attrs.get("suppress", {}))
        spec.update({k: v for k, v in suppress_options.items() if v is not None})
        if counts is not None:
            spec["counts"] = counts
        if derived is not None:
            spec["derived"] = derived
        if "counts" not in spec and "counts" in table.attrs:
            spec["counts"] = table.attrs["counts"]
        if "derived" not in spec and "derived" in table.attrs:
            spec["derived"] = table.attrs["derived"]
        clean = table.drop(columns=[c for c in ("participant", *SOURCE_COLUMNS) if c in table])
        if "counts" in spec:
            spec["counts"] = [c for c in spec["counts"] if c in clean]
        if "derived" in spec:
            spec["derived"] = {k: v for k, v in spec["derived"].items() if k in clean}
        shown = suppress(clean, self.policy, people=people, **spec) if len(clean) else clean
        footnote = shown.attrs.get("footnote", self.policy.describe(people=people))
        if columns is not None:
            missing = [c for c in columns if c not in shown]
            if missing:
                raise KeyError(f"columns not in the table: {missing}; it has {list(shown)}")
            shown = shown[list(columns)].rename(columns=dict(columns))
        shown = shown.map(lambda v: _format(v, decimals)) if len(shown) else shown
        return Published(shown.reset_index(drop=True), caption, footnote)

    def figure(self, fig, *, alt: str = "", note: str = "") -> ShownFigure:
        """A figure for publication: checked for participant ids, rendered once, closed."""
        check_no_identifiers(fig, self._ids(), what="figure")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        _close(fig)
        return ShownFigure(buffer.getvalue(), alt=alt, note=note)

    def plot(self, plot: Callable[..., Any], table: pd.DataFrame, *, n: str = "n",
             by: str | None = "service", noun: str | tuple[str, str] | None = None,
             alt: str = "", people: str = "young people", **kwargs: Any) -> ShownFigure | Note:
        """Plot only the groups large enough to publish, with a note naming what was left out."""
        groups = figure_groups(table, self.policy, n, by=by, noun=noun, people=people)
        if groups.shown.empty:
            return Note(groups.note or f"No figure: every group has fewer than "
                                       f"{self.policy.threshold} {people}.")
        return self.figure(plot(groups.shown, **kwargs), alt=alt, note=groups.note or "")

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

    def _ids(self) -> pd.Series:
        return self.data.participants["participant"].dropna()

    def _refuse_ids(self, table: pd.DataFrame) -> None:
        check_no_identifiers(table, self._ids())


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def open_report(data_dir: str | Path, year: str, service: str | None = None,
                disclosure: Mapping[str, Any] | None = None,
                analysis: Mapping[str, Any] | None = None) -> Report:
    """Load and validate the data and check the year and service exist.

    Raises ``ValueError`` naming what exists when the year or service does not,
    and :class:`~changing_tracks.DataValidationError` when the data are invalid.
    """
    data = load_data(data_dir)
    policy = DisclosurePolicy.from_config(dict(disclosure or {}))
    report = Report(data=data, year=str(year), service=service, policy=policy,
                    analysis=dict(analysis or {}), data_dir=Path(data_dir))
    if report.year not in data.years:
        raise ValueError(f"programme year {year!r} is not in the data; the data have: "
                         + ", ".join(data.years))
    if service is not None and service not in set(data.services["service"]):
        raise ValueError(f"service {service!r} is not in services.csv; it lists: "
                         + ", ".join(data.services["service"]))
    return report
