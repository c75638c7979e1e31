"""Programme reports: every service side by side, and the annual learning report.

Section functions for the two programme-level notebooks,
``notebooks/cross_service_comparison.ipynb`` and
``notebooks/annual_learning_report.ipynb``. Each takes a
:class:`~changing_tracks.reports.Report` opened for one programme year across
all services (``open_report(data_dir, year)``) and returns what the notebook
shows: a :class:`~changing_tracks.reports.Published` table, a
:class:`~changing_tracks.reports.Note`, a
:class:`~changing_tracks.reports.ShownFigure`, or a :class:`Parts` list of
them (a list that displays as one block of HTML). A notebook cell is then one
call::

    report = open_report("../data/sample", "2019-20")
    programme.wellbeing_forest(report)

The functions compute nothing new: the numbers come from the analysis modules
(:mod:`~changing_tracks.participation`, :mod:`~changing_tracks.audit`,
:mod:`~changing_tracks.workforce`, :mod:`~changing_tracks.wellbeing`,
:mod:`~changing_tracks.outcomes`); this module chooses, labels and publishes
them. Every table goes through ``Report.publish`` (disclosure control), every
figure of numbers of people through ``Report.plot`` and is drawn from the
suppressed display copy, so a figure never shows a statistic a table would
hide. Audit scores and stages describe services, not people, and are published
without small-number suppression. Sentences with numbers in them (the
:class:`~changing_tracks.reports.Note` s and the HEARD summary) give a count of
people only when it may be published, and say "fewer than 10" otherwise.

Each section the notebooks show is a :func:`~changing_tracks.reports.shared_section`: in
a report build, the annual learning report and the comparison across services of a year
work out the sections they both show once, not once each.

No league tables: services are listed alphabetically by name (the "All
services" row last), never by a result, and no table has a rank column. When a
table is absent or empty for the year, the section returns a "No data" note,
never an exception.

Which records belong to a year
------------------------------
:meth:`Report.table <changing_tracks.reports.Report.table>` decides, by one
rule for every report: participants, wellbeing questionnaires, outcome ratings
and tutors carry a programme year; audit ratings and stages of inclusion are
the records of the services active in the year
(:attr:`Report.active_services <changing_tracks.reports.Report.active_services>`)
dated up to :func:`~changing_tracks.reports.organisation_cutoff` (default 30
September after the year ends, because lockdown moved the audit follow-up
deadline to 30 September 2020). So the 2018-19 reports have the July 2019
audit baseline but no follow-up, and the 2019-20 reports have both. Undated
records are kept.

Analysis choices
----------------
Read from the report's ``analysis`` settings (the build configuration's
``[analysis]`` table); keys not listed here are left to other reports. The
defaults are in :data:`changing_tracks.reports.ANALYSIS_DEFAULTS`:

``wellbeing_scale`` ("SWEMWBS")
    Scale compared across services. Services used WEMWBS or SWEMWBS; both give
    the SWEMWBS metric score, so services are compared on it only.
``wellbeing_allow_missing`` (0)
    Missing items a questionnaire may have and still be scored (prorated).
``meta_method`` ("dl")
    Between-service variance for the pooled random-effects estimate:
    DerSimonian-Laird ("dl") or Paule-Mandel ("pm").
``funnel_overdispersion`` ("auto")
    Widen the funnel plot's limits for over-dispersion: "auto", "multiplicative", "none".
``dunn_adjust`` ("holm")
    Adjustment of Dunn's pairwise p-values: "holm" or "fdr_bh".
``audit_method`` ("median")
    How raters' ratings of a statement are collated.
``audit_gap`` ("not met")
    What counts as a gap in the shared-gaps table: "not met" or "not fully met".
``audit_deadline`` ("2020-07-31"), ``audit_extended_deadline`` ("2020-09-30")
    Follow-up audit deadlines for the completion table.
``organisation_cutoff`` (None)
    Last date of the audit ratings and stage placements a year's report shows;
    default 30 September after the year ends
    (:func:`changing_tracks.reports.organisation_cutoff`, the rule both report
    modules use).
``early_stages`` (["exclusion", "segregation"])
    Stages of inclusion counted as early.
``outcomes_gap_threshold`` (0.5)
    A domain is a coverage gap when it has fewer than this share of the young
    people rated in the service's best-covered domain.
``majority`` (0.5)
    "Most services": more than this share of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import audit as _audit
from .. import outcomes as _outcomes
from .. import participation as _participation
from .. import wellbeing as _wellbeing
from .. import workforce as _workforce
from ..contracts import OUTCOME_DOMAINS, STAGE_AREAS, WAVES
from ..stats import sign_test
from . import (LOCKDOWN, POOLED, Note, Parts, Published, Report, ShownFigure, count_text,
               declared_spec, listing, p_text, percent, shared_section, year_dates)

__all__ = [
    "HEARD_PRINCIPLES",
    "FACTORS_FOR_SUCCESS",
    "PRIORITY_CHARACTERISTICS",
    # partners and reach
    "partners",
    "reach_summary",
    "reach_table",
    "activities_and_settings",
    # representation, engagement, equity
    "representation_table",
    "representation_figure",
    "engagement",
    "equity",
    # organisation: audit and stages
    "audit_completion",
    "audit_heatmaps",
    "audit_change_table",
    "pooled_audit_change",
    "audit_progress",
    "shared_gaps_table",
    "stages_grid",
    "early_stages",
    "stage_journey",
    # workforce
    "cpd_participation_table",
    "reflective_practice",
    "cpd_heatmap",
    "cpd_topics",
    "cpd_online_shift",
    "workforce_diversity",
    "genres",
    # wellbeing
    "wellbeing_attrition",
    "wellbeing_funnel",
    "wellbeing_forest",
    "wellbeing_shrunken",
    "wellbeing_kruskal",
    "wellbeing_pooled",
    "wellbeing_caveats",
    "copyright_note",
    # outcomes
    "outcomes_distribution",
    "outcomes_change",
    "outcomes_coverage",
    "domain_coverage_summary",
    "RATING_LEVELS",
    "rating_levels",
    "plot_rating_levels",
    # HEARD and factors for success
    "heard_evidence_table",
    "heard_evidence",
    "factor_evidence",
    "comparison_caveats",
]

#: Analysis choices and their defaults (see the module docstring).

#: The HEARD principles (Youth Music) and what each asks, in the evaluators' words.
HEARD_PRINCIPLES: dict[str, str] = {
    "Holistic": "personal, social and musical outcomes are all developed",
    "Equitable": "those facing the biggest barriers get the most support",
    "Authentic": "activities are designed with the young people they are for",
    "Representative": "participants and colleagues reflect our diverse society",
    "Diverse": "all genres and practices are valued equally",
}

#: The five factors for success of the 2019-20 learning report, numbered as there.
FACTORS_FOR_SUCCESS: dict[int, str] = {
    1: "Start somewhere, have a plan, track your progress",
    2: "Take an outcomes approach that values personal, social and musical outcomes equally",
    3: "Embrace critical reflection at all levels",
    4: "Expand inclusion strategy and practices beyond the 'project' into core music "
       "service provision",
    5: "Leaders must make the case for inclusion at all levels",
}

#: Characteristics of young people facing the biggest barriers (the representation table).
PRIORITY_CHARACTERISTICS: tuple[str, ...] = ("fsm", "sen_support", "ehc_plan", "looked_after",
                                             "young_carer", "eal")

_CHARACTERISTIC_LABELS = {
    "fsm": "FSM / Pupil Premium",
    "sen_support": "SEN support",
    "ehc_plan": "EHC plan",
    "looked_after": "Looked after",
    "young_carer": "Young carer",
    "eal": "EAL",
    "sex_female": "Female",
    "sex_male": "Male",
    "ethnicity_asian": "Asian",
    "ethnicity_black": "Black",
    "ethnicity_mixed": "Mixed",
    "ethnicity_white": "White",
    "ethnicity_other": "Other ethnic group",
    "disability": "Disabled",
}
_GROUP_LABELS = {"fsm": "FSM / Pupil Premium", "sen": "SEN (support or EHC plan)",
                 "looked_after": "Looked after", "young_carer": "Young carer", "eal": "EAL"}


# --------------------------------------------------------------------------
# Settings, labels and publishing helpers
# --------------------------------------------------------------------------

def _cached(report: Report, name: str, compute: Callable[[], Any], *,
            policy: bool = False) -> Any:
    """An analysis result computed once per report (:meth:`Report.cached`).

    Several sections (and the HEARD summary) need the same audit change, wellbeing
    pairs or representation table; they are kept on the report object itself, so
    nothing is shared between reports. With ``policy`` the result depends on the
    disclosure policy too (text quoting counts), so a changed policy computes it again.
    """
    return report.cached(f"programme {name}", compute, policy=policy)


def _opt(report: Report, key: str) -> Any:
    value = report.setting(key)
    if key == "wellbeing_scale" and value not in _wellbeing.SCALES:
        raise ValueError(f"analysis setting wellbeing_scale: expected one of "
                         f"{list(_wellbeing.SCALES)}, found {value!r}")
    if key in ("outcomes_gap_threshold", "majority") and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1):
        raise ValueError(f"analysis setting {key}: expected a share between 0 and 1, "
                         f"found {value!r}")
    return value


def _names(report: Report, short: bool = False) -> dict[str, str]:
    services = report.data.services
    names = dict(zip(services["service"].astype(str), services["name"].astype(str)))
    if short:
        names = {k: _short_name(v) for k, v in names.items()}
    return names


def _short_name(name: str) -> str:
    """"Waltham Forest Music Service" -> "Waltham Forest" (for figure labels)."""
    short = re.sub(r"\s+Music\s+(Services?|Service\s+Trust|Hub)$", "", name.strip())
    return short or name


def _relabel(report: Report, table: pd.DataFrame, columns: Sequence[str] = ("service",),
             short: bool = False) -> pd.DataFrame:
    """Service ids replaced by names (pooled and other labels kept), attrs kept."""
    names = _names(report, short)
    out = table.copy()
    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(
                lambda v: v if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                else names.get(str(v), str(v))).astype(object)
    return out


def _alphabetical(table: pd.DataFrame, column: str = "service") -> pd.DataFrame:
    """Rows ordered by service name (stable), pooled rows last: never by a result."""
    if column not in table.columns or table.empty:
        return table
    labels = table[column].astype(object)

    def key(i: int) -> tuple:
        value = labels.iloc[i]
        text = "" if value is None or value is pd.NA else str(value)
        pooled = text == POOLED or text.lower().startswith("pooled")
        return (1 if pooled else 0, "" if pooled else text.casefold())

    order = sorted(range(len(table)), key=key)
    return table.iloc[order]


def _publish(report: Report, table: pd.DataFrame, columns: Mapping[str, str],
             caption: str = "", **options: Any) -> Published:
    """:meth:`Report.publish` with service names and alphabetical order (never by a result).

    ``options`` are :meth:`Report.publish`'s keywords (``people``,
    ``organisations``, ``decimals``, ``footnote``, ``p_values``, and the
    disclosure spec: given, it replaces the table's own).
    """
    shown = _alphabetical(_relabel(report, table))
    return report.publish(shown, dict(columns), caption=caption, **options)


def _share(report: Report, k: int | float, n: int | float) -> str | None:
    """"27% of 150" for a sentence, or None when it would reveal a small number
    (the part, the rest or the whole below the threshold)."""
    k, n = int(k), int(n)
    if n <= 0:
        return None
    if bool(np.any(report.policy.is_sensitive([k, n - k, n]))):
        return None
    return f"{100 * k / n:.0f}% of {count_text(n, report.policy)}"


def _v(row: pd.Series | None, col: str) -> float | None:
    """A number from a row of a suppressed display copy; None when hidden or missing."""
    if row is None or col not in row.index:
        return None
    value = row[col]
    if value is None or value is pd.NA or isinstance(value, str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _shown_share(report: Report, row: pd.Series | None, part: str, whole: str,
                 pct: str | None = None, scale: float = 1.0) -> str | None:
    """"27% of 150" from a display row, or None when the table hides any of it.

    ``pct`` is the row's own percentage column (``scale`` 100 when it holds a
    share 0-1); without it the percentage is worked out from the two counts.
    """
    k, n = _v(row, part), _v(row, whole)
    if k is None or n is None or n <= 0:
        return None
    if pct is not None:
        value = _v(row, pct)
        if value is None:
            return None
        percent = value * scale
    else:
        percent = 100 * k / n
    return f"{percent:.0f}% of {count_text(n, report.policy)}"


def _display_rows(report: Report, table: pd.DataFrame, spec: Mapping[str, Any],
                  people: str = "young people", columns: Sequence[str] | None = None,
                  unpublished: Sequence[str] = (), **where: Any) -> pd.DataFrame:
    """Rows of the table as published (:meth:`Report.masked`) matching ``where`` (column=value)."""
    if table.empty:
        return table
    display = report.masked(table, spec, people=people, columns=columns,
                            unpublished=unpublished)
    mask = np.ones(len(table), dtype=bool)
    for col, value in where.items():
        mask &= (table[col].astype(object) == value).to_numpy(dtype=bool)
    return display[mask]


def _first(rows: pd.DataFrame) -> pd.Series | None:
    return rows.iloc[0] if len(rows) else None


def _signed(x: float, decimals: int = 1) -> str:
    """+1.2 / -0.3 / 0.0 (never "-0.0")."""
    text = f"{x:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plural(k: int, one: str, many: str | None = None) -> str:
    return f"{k} {one if k == 1 else (many or one + 's')}"


# --------------------------------------------------------------------------
# Partners and reach
# --------------------------------------------------------------------------

@shared_section
def partners(report: Report) -> Published | Note:
    """The partner music services active in the year: area, year joined, focus.

    Returns
    -------
    Published or Note
        One row per active service (organisations: no suppression).
    """
    active = report.active_services
    services = report.table("services")
    services = services[services["service"].astype(str).isin(active)]
    if services.empty:
        return report.no_data("partner services with participants, outcomes, wellbeing or "
                              "tutor records")
    table = services.assign(cohort=services["cohort"].astype("string"))
    columns = {"service": "Music service", "local_authority": "Local authority",
               "region": "Region", "cohort": "Joined Changing Tracks"}
    if "focus" in table.columns and table["focus"].notna().any():
        columns["focus"] = "Focus of its action research"
    return _publish(report, table, columns, f"Partner music services active in {report.year}",
                    organisations=True)


@shared_section
def reach_summary(report: Report) -> Note:
    """One paragraph: how many services, young people, activities, settings and tutors.

    Counts of people are given only when they may be published.
    """
    active = report.active_services
    if not active:
        return report.no_data("partner services with any records")
    services = report.table("services")
    cohorts = services[services["service"].astype(str).isin(active)]["cohort"].dropna()
    joined = [f"{int(k)} joined in {int(y)}"
              for y, k in cohorts.astype(int).value_counts().sort_index().items()]
    text = [f"In {report.year}, {_plural(len(active), 'partner music service')} took part"
            + (f" ({listing(joined)})." if joined else ".")]
    people = report.table("participants")
    if people.empty:
        text.append("The data hold no records of the young people taking part this year.")
    else:
        n = len(people.drop_duplicates(["service", "participant"]))
        activities = people["activity"].dropna().nunique() if "activity" in people else 0
        settings = people["setting"].dropna().nunique() if "setting" in people else 0
        text.append(f"They worked with {count_text(n, report.policy)} young people, in "
                    f"{_plural(activities, 'kind')} of activity and "
                    f"{_plural(settings, 'kind')} of setting.")
    tutors = report.table("tutors")
    if not tutors.empty:
        listed = count_text(len(tutors.drop_duplicates("tutor")), report.policy)
        text.append(f"{listed[0].upper() + listed[1:]} tutors and other staff are listed on "
                    "their inclusion work.")
    return Note(" ".join(text))


@shared_section
def reach_table(report: Report) -> Published | Note:
    """Young people reached per service: new and continuing, sessions and attendances.

    A young person is *continuing* when the same service had them the year
    before (:func:`changing_tracks.participation.reach`).
    """
    people = report.table("participants", all_years=True)
    if report.table("participants").empty:
        return report.no_data("participant records")
    registers = report.table("attendance", all_years=True)
    table = _participation.reach(people, registers if len(registers) else None,
                                 by=("service", "year"))
    spec = declared_spec(table)
    table = table[table["year"] == report.year]
    columns = {"service": "Music service", "n": "Young people", "n_new": "New this year",
               "n_continuing": "Continuing from last year",
               "n_history_unknown": "Not known (no data for last year)",
               "sessions_delivered": "Session dates", "attendances": "Attendances"}
    return _publish(report, table, columns, f"Young people reached, {report.year}",
                    footnote="Session dates are the distinct dates in the registers; the "
                             "All services row counts a date once.", **spec)


@shared_section
def activities_and_settings(report: Report) -> Parts | Note:
    """Young people by kind of activity and by setting, all services together."""
    people = report.table("participants", all_years=True)
    if report.table("participants").empty:
        return report.no_data("participant records")
    registers = report.table("attendance", all_years=True)
    out = Parts()
    for by, heading in (("activity", "Kind of activity"), ("setting", "Setting")):
        table = _participation.reach(people, registers if len(registers) else None,
                                     by=(by, "year"), pooled=False)
        spec = declared_spec(table)
        table = table[(table["year"] == report.year) & table[by].notna()]
        out.append(_publish(report, table, {by: heading, "n": "Young people",
                                          "sessions_delivered": "Session dates"},
                                  caption=f"Young people by {heading.lower()}, all services, "
                                          f"{report.year}", **spec))
    return out


# --------------------------------------------------------------------------
# Representation, engagement and equity
# --------------------------------------------------------------------------

def _representation(report: Report) -> pd.DataFrame | None:
    people = report.table("participants")
    benchmarks = report.table("benchmarks")
    if people.empty or benchmarks.empty:
        return None
    return _cached(report, "representation", lambda: _participation.representation(
        people, benchmarks, report.table("services"), year=report.year))


@shared_section
def representation_table(report: Report,
                         characteristics: Sequence[str] = PRIORITY_CHARACTERISTICS
                         ) -> Published | Note:
    """Share of young people with each characteristic against the local population.

    Parameters
    ----------
    report : Report
    characteristics : sequence of str
        Keys of :data:`changing_tracks.contracts.CHARACTERISTICS` (default the
        priority groups and EAL).

    Returns
    -------
    Published or Note
        Per service and all services: young people with the characteristic
        recorded, share (Wilson 95% CI), local population share, representation
        ratio (participant share / population share; 1 = as in the population).
    """
    table = _representation(report)
    if table is None:
        return report.no_data("participant records or population benchmarks")
    spec = declared_spec(table)
    table = table[table["characteristic"].isin(list(characteristics))]
    table = percent(table, ["share", "ci_low", "ci_high", "benchmark"])
    table = table.assign(characteristic=table["characteristic"].map(
        lambda c: _CHARACTERISTIC_LABELS.get(c, c)).astype(object))
    columns = {"service": "Music service", "characteristic": "Characteristic",
               "n_with": "Young people with it", "share": "% of those recorded",
               "benchmark": "% of local pupils", "ratio": "Representation ratio",
               "ratio_ci_low": "95% CI from", "ratio_ci_high": "to"}
    return _publish(report, table, columns,
                    f"Young people facing the biggest barriers against the local population, "
                    f"{report.year}", decimals=1,
                    footnote="Shares are of the young people whose characteristic is recorded; "
                             "population shares are from the school census for the service's "
                             "local authority and phase. Ratio above 1: a larger share than in "
                             "the population.", **spec)


@shared_section
def representation_figure(report: Report) -> Parts | Note:
    """Dot plot of representation ratios with their intervals, one panel per service.

    Shows the priority groups, EAL and sex (each service's ethnic groups are
    small, and the disclosure rules hide almost all of them).
    """
    table = _representation(report)
    if table is None:
        return report.no_data("participant records or population benchmarks")
    table = table[table["characteristic"].isin([*PRIORITY_CHARACTERISTICS, "sex_female",
                                                "sex_male"])]
    display = _relabel(report, report.masked(table, split="family"), short=True)
    table = _relabel(report, table, short=True)
    visible = display["ratio"].notna()
    blank = sorted(set(table["service"]) - set(table.loc[visible.to_numpy(), "service"]))
    keep = ~table["service"].isin(blank).to_numpy()
    figure = report.plot(_participation.plot_representation, table[keep], draw=display[keep],
                         n="n", by="service",
                         alt="Representation ratios with 95% intervals for each service")
    notes = ["'n/a': the ratio is hidden (fewer than "
             f"{report.policy.threshold} young people) or there is no population benchmark."]
    if blank:
        notes.append(f"Not shown, every ratio hidden: {listing(blank)}.")
    return Parts([figure, Note(" ".join(notes))])


@shared_section
def engagement(report: Report) -> Parts | Note:
    """Retention (completed of those who finished) and progression into regular provision."""
    people = report.table("participants")
    if people.empty:
        return report.no_data("participant records")
    out = Parts()
    retention = _participation.retention(people, by=("service", "year"))
    spec = declared_spec(retention)
    out.append(_publish(report, percent(retention, ["share_completed", "ci_low", "ci_high"]),
                        {"service": "Music service", "n": "Young people",
                         "n_completed": "Completed", "n_withdrew": "Withdrew",
                         "n_active": "Still taking part", "share_completed":
                         "% completed (of those who finished)", "ci_low": "95% CI from",
                         "ci_high": "to"},
                        f"Retention, {report.year}", **spec,
                        footnote="Young people still taking part at the end of the records "
                                 "are left out of the percentage."))
    progression, spec = _progression(report)
    out.append(_publish(report, percent(progression, ["share_progressed", "ci_low", "ci_high"]),
                        {"service": "Music service", "n": "Completed",
                         "n_known": "Next step known", "n_progressed":
                         "Went on to regular provision", "share_progressed":
                         "% of those known", "ci_low": "95% CI from", "ci_high": "to"},
                        f"Progression into regular music-service provision (lessons, "
                        f"ensembles, music centres), {report.year}", **spec))
    return out


def _progression(report: Report) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Progression per service and its spec, once per report (engagement and the HEARD summary)."""
    def compute() -> tuple[pd.DataFrame, dict[str, Any]]:
        table = _participation.progression(report.table("participants"),
                                           by=("service", "year"))
        return table, declared_spec(table)
    return _cached(report, "progression", compute)


def _equity_tables(report: Report) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    """Equity gaps of all services together, one (measure, table, spec) per measure
    (worked out once per report: the equity section and the HEARD summary)."""
    return _cached(report, "equity tables", lambda: _equity_gaps(report))


def _equity_gaps(report: Report) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    gaps = _participation.equity_gaps(report.table("participants"), None, by=("year",),
                                      pooled=False)
    gaps = gaps.assign(service=POOLED)
    args = gaps.attrs.get("suppress_by_measure", {})
    return [(m, gaps[gaps["measure"] == m], dict(args.get(m, {})))
            for m in ("retention", "progression") if (gaps["measure"] == m).any()]


@shared_section
def equity(report: Report) -> Parts | Note:
    """Do priority groups complete and progress as often as their peers? All services together."""
    people = report.table("participants")
    if people.empty:
        return report.no_data("participant records")
    tables = _equity_tables(report)
    if not tables:
        return report.no_data("records of priority groups")
    gaps = pd.concat([t for _, t, _ in tables])
    shown = Parts()
    displays = []
    for measure, part, spec in tables:
        displays.append(report.masked(part, spec))
        table = percent(part, ["estimate_group", "estimate_peers", "difference", "ci_low",
                                "ci_high"])
        table = table.assign(group=table["group"].map(lambda g: _GROUP_LABELS.get(g, g))
                             .astype(object))
        what = ("% completed (of those who finished)" if measure == "retention"
                else "% went on to regular provision (of completers known)")
        shown.append(_publish(report,
            table, {"group": "Group", "n_group": "Young people in the group",
                    "n_peers": "Their peers", "estimate_group": f"Group: {what}",
                    "estimate_peers": "Peers", "difference": "Difference (points)",
                    "ci_low": "95% CI from", "ci_high": "to"},
            caption=f"{measure.capitalize()}: priority groups and their peers, all services, "
                    f"{report.year}", **spec))
    display = pd.concat(displays) if displays else gaps.iloc[0:0]
    for col in ("n_group", "n_peers"):  # the bars' labels say "n=c" where the table hides n
        if col in display:
            display[col] = display[col].astype(object).where(display[col].notna(),
                                                             report.policy.symbol)
    if len(display):
        figure = report.plot(lambda d: _participation.plot_equity_gaps(
            d, service=POOLED, year=report.year), gaps, draw=display, n="n", by="group",
            noun=("group", "groups"), alt="Retention and progression of priority groups and "
                                          "their peers")
        shown.insert(0, figure)
    return shown


# --------------------------------------------------------------------------
# Organisation: the ED&I audit
# --------------------------------------------------------------------------

def _audit_data(report: Report) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    ratings = report.table("audit_ratings")
    statements = report.table("audit_statements")
    if ratings.empty or statements.empty:
        return None
    return ratings, statements


def _audit_change(report: Report) -> pd.DataFrame | None:
    data = _audit_data(report)
    if data is None:
        return None
    return _cached(report, "audit_change",
                   lambda: _audit.change(*data, method=_opt(report, "audit_method")))


@shared_section
def audit_completion(report: Report) -> Parts | Note:
    """When each service completed its baseline and follow-up audit, against the deadline."""
    data = _audit_data(report)
    if data is None:
        return report.no_data("ED&I audit ratings")
    ratings, _ = data
    waves = tuple(w for w in WAVES if (ratings["wave"] == w).any())
    table = _audit.completion(ratings, deadline=pd.Timestamp(_opt(report, "audit_deadline")),
                              extended_deadline=pd.Timestamp(
                                  _opt(report, "audit_extended_deadline")),
                              waves=waves)
    columns = {"service": "Music service"}
    for wave in waves:
        key = wave.replace("-", "_")
        columns[f"{key}_completed"] = f"{wave.capitalize()} completed"
        columns[f"n_raters_{key}"] = f"Raters ({wave})"
    if "follow-up" in waves:
        columns["status"] = "Follow-up"
        columns["deadline"] = "Deadline"
    out = Parts([_publish(report, table, columns,
                          f"ED&I audit completion (records up to "
                          f"{report.cutoff:%d %B %Y})",
                          organisations=True)])
    missing = sorted(set(report.active_services) - set(table["service"].astype(str)))
    if "follow-up" not in waves:
        out.append(Note(f"No follow-up audit falls within {report.year}: the follow-up was due "
                        f"after it, so this report shows the baseline only."))
    if missing:
        names = _names(report)
        out.append(Note("No audit ratings are recorded for "
                        + listing([names.get(s, s) for s in missing]) + "."))
    return out


@shared_section
def audit_heatmaps(report: Report) -> Parts | Note:
    """Service x section heatmaps of audit scores: baseline, follow-up and change."""
    table = _audit_change(report)
    if table is None or table.empty:
        return report.no_data("ED&I audit ratings")
    table = _relabel(report, table, short=True)
    out = Parts()
    titles = {"baseline": "Audit scores at baseline (% of the applicable maximum)",
              "follow-up": "Audit scores at follow-up (% of the applicable maximum)",
              "change": "Change in audit scores, baseline to follow-up (percentage points)"}
    has_follow_up = table["pct_follow_up"].notna().any()
    for value in ("baseline", "follow-up", "change"):
        if value != "baseline" and not has_follow_up:
            continue
        column = {"baseline": "pct_baseline", "follow-up": "pct_follow_up",
                  "change": "change_pct"}[value]
        if table[column].notna().any():
            out.append(report.figure(_audit.plot_heatmap(table, value=value), alt=titles[value]))
    if not has_follow_up:
        out.append(Note(f"No follow-up audit falls within {report.year}, so there is no change "
                        "to show yet."))
    return out


@shared_section
def audit_change_table(report: Report) -> Published | Note:
    """Total audit score per service at baseline and follow-up, with statements improved."""
    table = _audit_change(report)
    if table is None or table.empty:
        return report.no_data("ED&I audit ratings")
    table = table[table["section"].astype(str) == "Total"]
    columns = {"service": "Music service", "pct_baseline": "Baseline (%)",
               "pct_follow_up": "Follow-up (%)", "change_pct": "Change (points)",
               "n_improved": "Statements improved", "n_same": "Same",
               "n_declined": "Declined", "p_sign": "Sign test p"}
    return _publish(report, table, columns,
                    "Total ED&I audit score, % of the applicable maximum (raters' ratings "
                    f"collated by the {_opt(report, 'audit_method')} per statement)",
                    organisations=True, decimals=1, p_values=["p_sign"],
                    footnote="Statements compared are those rated at both audits; the exact "
                             "sign test asks whether improvements outnumber declines more than "
                             "chance would give.")


def pooled_audit_change(change_table: pd.DataFrame) -> pd.DataFrame:
    """Audit progress across services, per section: how many services improved, and by how much.

    Parameters
    ----------
    change_table : DataFrame
        Output of :func:`changing_tracks.audit.change` (``service``,
        ``section``, ``section_title``, ``pct_baseline``, ``pct_follow_up``,
        ``change_pct``).

    Returns
    -------
    DataFrame
        One row per section in the table's order ("1", "2", "3", "Total"):
        ``section``, ``section_title``, ``n`` (services with both audits, =
        ``n_services``), ``n_services``, ``n_baseline_only`` (services with a
        baseline score but no follow-up), ``mean_baseline``,
        ``mean_follow_up``, ``mean_change`` (means over the ``n`` services, %
        of the applicable maximum and percentage points), ``min_change``,
        ``max_change``, ``n_improved``, ``n_same``, ``n_declined`` (services
        whose score rose, stayed the same, fell), ``p_sign`` (exact sign test
        across services, ties excluded; missing when none changed). Counts are
        of services, not people.

    Examples
    --------
    >>> t = pd.DataFrame({"service": ["a", "b", "c"], "section": "Total",
    ...                   "section_title": "All sections", "pct_baseline": [50.0, 60.0, 70.0],
    ...                   "pct_follow_up": [60.0, 58.0, None]})
    >>> t["change_pct"] = t["pct_follow_up"] - t["pct_baseline"]
    >>> out = pooled_audit_change(t)
    >>> out[["n", "n_baseline_only", "mean_change", "n_improved"]].to_dict("records")
    [{'n': 2, 'n_baseline_only': 1, 'mean_change': 4.0, 'n_improved': 1}]
    """
    needed = ["section", "pct_baseline", "pct_follow_up", "change_pct"]
    missing = [c for c in needed if c not in change_table.columns]
    if missing:
        raise ValueError(f"change_table: expected the columns of audit.change, missing {missing}")
    columns = ["section", "section_title", "n", "n_services", "n_baseline_only", "mean_baseline",
               "mean_follow_up", "mean_change", "min_change", "max_change", "n_improved",
               "n_same", "n_declined", "p_sign"]
    rows = []
    sections = list(dict.fromkeys(change_table["section"].astype(str)))
    for section in sections:
        part = change_table[change_table["section"].astype(str) == section]
        base = pd.to_numeric(part["pct_baseline"], errors="coerce").astype(float)
        follow = pd.to_numeric(part["pct_follow_up"], errors="coerce").astype(float)
        both = base.notna() & follow.notna()
        delta = (follow - base)[both]
        improved, declined = int((delta > 0).sum()), int((delta < 0).sum())
        title = (str(part["section_title"].iloc[0]) if "section_title" in part.columns
                 else section)
        rows.append({
            "section": section, "section_title": title, "n": int(both.sum()),
            "n_services": int(both.sum()),
            "n_baseline_only": int((base.notna() & follow.isna()).sum()),
            "mean_baseline": float(base[both].mean()) if both.any() else np.nan,
            "mean_follow_up": float(follow[both].mean()) if both.any() else np.nan,
            "mean_change": float(delta.mean()) if both.any() else np.nan,
            "min_change": float(delta.min()) if both.any() else np.nan,
            "max_change": float(delta.max()) if both.any() else np.nan,
            "n_improved": improved, "n_same": int((delta == 0).sum()), "n_declined": declined,
            "p_sign": sign_test(improved, declined),
        })
    out = pd.DataFrame(rows, columns=columns)
    for col in ("n", "n_services", "n_baseline_only", "n_improved", "n_same", "n_declined"):
        out[col] = out[col].astype("int64")
    out.attrs["settings"] = {"unit": "service", "mean": "unweighted mean over services with both "
                             "audits", "test": "exact two-sided sign test across services, "
                                               "ties excluded"}
    return out


@shared_section
def audit_progress(report: Report) -> Parts | Note:
    """Audit progress of all services together, per section, with a sentence saying it."""
    table = _audit_change(report)
    if table is None or table.empty:
        return report.no_data("ED&I audit ratings")
    summary = pooled_audit_change(table)
    out = Parts()
    total = summary[summary["section"] == "Total"]
    if total.empty or int(total["n"].iloc[0]) == 0:
        out.append(Note(f"No service has both a baseline and a follow-up audit by the end of "
                        f"{report.year}, so progress cannot be measured yet."))
    else:
        row = total.iloc[0]
        out.append(Note(
            f"Of the {_plural(int(row['n']), 'service')} with both audits, the total score rose "
            f"for {int(row['n_improved'])}, stayed the same for {int(row['n_same'])} and fell for "
            f"{int(row['n_declined'])}; on average it moved from {row['mean_baseline']:.0f}% to "
            f"{row['mean_follow_up']:.0f}% of the applicable maximum ({row['mean_change']:+.1f} "
            "percentage points)."
            + (f" {_plural(int(row['n_baseline_only']), 'service')} had not completed the "
               "follow-up." if row["n_baseline_only"] else "")))
    out.append(_publish(report,
        summary, {"section_title": "Section", "n": "Services with both audits",
                  "mean_baseline": "Mean at baseline (%)", "mean_follow_up":
                  "Mean at follow-up (%)", "mean_change": "Mean change (points)",
                  "min_change": "Smallest change", "max_change": "Largest change",
                  "n_improved": "Services improved", "n_same": "Same", "n_declined": "Declined",
                  "p_sign": "Sign test p"},
        caption="ED&I audit progress, all services together (unweighted means over services)",
        organisations=True, p_values=["p_sign"]))
    return out


@shared_section
def shared_gaps_table(report: Report) -> Published | Note:
    """Audit statements that most services have not met, at each service's latest audit."""
    data = _audit_data(report)
    if data is None:
        return report.no_data("ED&I audit ratings")
    gap = _opt(report, "audit_gap")
    majority = _opt(report, "majority")
    gaps = _audit.shared_gaps(*data, gap=gap, method=_opt(report, "audit_method"))
    if gaps.empty:
        return report.no_data("rated ED&I audit statements")
    most = gaps[gaps["n_gap"] > majority * gaps["n_services"]]
    if most.empty:
        return Note(f"No audit statement is {gap} at more than {majority:.0%} of the services "
                    "rating it.")
    names = _names(report, short=True)
    most = most.assign(services=most["services"].map(
        lambda s: "; ".join(names.get(x.strip(), x.strip()) for x in str(s).split(";")
                            if x.strip())).astype(object),
        section=most["section"].astype(str))
    return _publish(report, most, {"statement": "Statement", "section": "Section",
                                   "text": "What it says", "n_services": "Services rating it",
                                   "n_gap": f"Services where {gap}",
                                   "services": "Which services"},
                    f"Shared gaps: statements {gap} at more than {majority:.0%} of the services "
                    "(each service's latest audit)", organisations=True)


# --------------------------------------------------------------------------
# Organisation: stages of inclusion
# --------------------------------------------------------------------------

@shared_section
def stages_grid(report: Report) -> Published | Note:
    """Service x area table of the stage each service places itself at (latest placement)."""
    stages = report.table("stages")
    if stages.empty:
        return report.no_data("stages of inclusion self-placements")
    grid = _workforce.stage_grid(stages, wave="latest")
    wide = _workforce.pivot_stage_grid(grid).reset_index()
    placed = grid.groupby("service")["wave"].agg(lambda w: "follow-up" if set(w) == {"follow-up"}
                                                 else "baseline" if set(w) == {"baseline"}
                                                 else "mixed")
    wide["placement"] = wide["service"].map(placed).astype(object)
    areas = [a for a in STAGE_AREAS if a in wide.columns]
    columns = {"service": "Music service", **{a: a[0].upper() + a[1:] for a in areas},
               "placement": "Placement shown"}
    return _publish(report, wide, columns,
                    f"Stages of inclusion: where each service places itself, latest placement "
                    f"by {report.cutoff:%B %Y}",
                    organisations=True,
                    footnote="Stages run exclusion, segregation, integration, inclusion. "
                             "'Placement shown' says whether the cells are the service's "
                             "follow-up or (where it has none yet) its baseline.")


@shared_section
def early_stages(report: Report) -> Parts | Note:
    """The areas where most services are still at the early stages, with a sentence."""
    stages = report.table("stages")
    if stages.empty:
        return report.no_data("stages of inclusion self-placements")
    early = tuple(_opt(report, "early_stages"))
    majority = _opt(report, "majority")
    table = _workforce.early_stage_areas(stages, early=early, wave="latest")
    most = table[table["n_early"] > majority * table["n"]]
    words = " or ".join(early)
    if most.empty:
        note = Note(f"In no area are more than {majority:.0%} of the services still at an early "
                    f"stage ({words}).")
    else:
        items = [f"{r.area} ({r.n_early} of {r.n})" for r in most.itertuples()]
        note = Note(f"Areas where most services still place themselves at an early stage "
                    f"({words}): {listing(items)}.")
    columns = {"area": "Area", "n": "Services placed",
               **{f"n_{s}": s.capitalize() for s in ("exclusion", "segregation", "integration",
                                                     "inclusion")},
               "n_early": "At an early stage", "pct_early": "% at an early stage"}
    published = _publish(report, table, columns, caption="Services at each stage, per area "
                               "(latest placement)", organisations=True, decimals=0)
    return Parts([note, published])


def _stage_journey(report: Report, stages: pd.DataFrame) -> pd.DataFrame:
    """Each service's stage journey (``stages`` is the report's stages table), once per report."""
    return _cached(report, "stage journey", lambda: _workforce.stage_journey(stages))


@shared_section
def stage_journey(report: Report) -> Parts | Note:
    """Each service's move between its baseline and follow-up placements, per area."""
    stages = report.table("stages")
    if stages.empty:
        return report.no_data("stages of inclusion self-placements")
    journey = _stage_journey(report, stages)
    summary = _workforce.journey_summary(journey)
    both = summary[summary["area"] != _workforce.ALL_AREAS]["n"]
    if int(both.sum()) == 0:
        return Note(f"No service has both a baseline and a follow-up placement by the end of "
                    f"{report.year}, so no journey can be shown yet.")
    out = Parts()
    figure = _workforce.plot_stage_journey(_relabel(report, journey, short=True))
    out.append(report.figure(figure, alt="Each service's stage at baseline and follow-up, "
                                         "per area"))
    published = _publish(report,
        summary, {"area": "Area", "n": "Services with both placements",
                  "n_moved_on": "Moved on", "n_same": "Same", "n_moved_back": "Moved back",
                  "n_baseline_only": "Baseline only", "steps_total": "Steps moved (net)"},
        caption="Stages of inclusion: moves between baseline and follow-up", organisations=True)
    out.append(published)
    return out


# --------------------------------------------------------------------------
# Workforce: CPD, critical reflection, diversity, genres
# --------------------------------------------------------------------------

def _workforce_spec(table: pd.DataFrame, kind: str) -> dict[str, Any]:
    """The workforce table's suppression spec, making sure each share rests on its part too.

    A share resting on the number of tutors only would give a hidden count away
    ("c" next to 90% of 10 tutors is 9), so every share here also rests on the
    count it is a share of, and that count's complement is protected. Relations
    the workforce module declares are kept.
    """
    spec = declared_spec(table)
    derived = dict(spec.get("derived", {}))
    parts: dict[str, str] = {}
    complements: dict[str, str] = {}
    sums: dict[str, list[str]] = {}
    if kind == "participation":
        parts = {"pct_any_cpd": "n_any_cpd", "ci_low_any_cpd": "n_any_cpd",
                 "ci_high_any_cpd": "n_any_cpd", "pct_reflection": "n_reflection",
                 "ci_low_reflection": "n_reflection", "ci_high_reflection": "n_reflection"}
        complements = {"n_any_cpd": "n", "n_reflection": "n"}
        sums = {"n": ["n_any_cpd", "n_no_cpd"]}
    elif kind == "regularity":
        parts = {"pct_regular": "n_regular", "ci_low": "n_regular", "ci_high": "n_regular"}
        sums = {"n": ["n_regular", "n_some", "n_none"]}
    elif kind == "summary":
        # Sessions and hours per tutor listed are volumes of CPD, not numbers of tutors;
        # they keep resting on the tutors listed, as the workforce module declares.
        parts = {"pct_attended": "n_attended"}
        complements = {"n_attended": "n"}
    elif kind == "diversity":
        parts = {"pct": "n_with", "ci_low": "n_with", "ci_high": "n_with",
                 "ratio_population": "n_with"}
        derived["pct_participants"] = ["n_participants", "n_participants_with"]
        derived["ratio_participants"] = ["n", "n_with", "n_participants", "n_participants_with"]
        complements = {"n_with": "n", "n_participants_with": "n_participants"}
    elif kind == "shares":
        parts = {"pct": "n_with", "ci_low": "n_with", "ci_high": "n_with"}
        complements = {"n_with": "n"}
    for stat, part in parts.items():
        if stat in table.columns:
            base = derived.get(stat, "n")
            base = [base] if isinstance(base, str) else list(base)
            derived[stat] = list(dict.fromkeys([*base, part]))
    spec["derived"] = derived
    if complements:
        spec["complements"] = {**spec.get("complements", {}),
                               **{k: v for k, v in complements.items()
                                  if k in table.columns and v in table.columns}}
    if sums:
        spec["sums"] = {**spec.get("sums", {}),
                        **{k: v for k, v in sums.items()
                           if k in table.columns and all(p in table.columns for p in v)}}
    spec["counts"] = list(dict.fromkeys([*spec.get("counts", []),
                                         *[c for c in parts.values() if c in table.columns]]))
    return spec


def _workforce_data(report: Report) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    tutors = report.table("tutors")
    cpd = report.table("cpd")
    if tutors.empty or cpd.empty:
        return None
    return tutors, cpd


def _cpd_participation(data: tuple[pd.DataFrame, pd.DataFrame], report: Report
                       ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """CPD participation and its spec (``data`` is :func:`_workforce_data` of the report)."""
    def compute() -> tuple[pd.DataFrame, dict[str, Any]]:
        table = _workforce.cpd_participation(*data, year=report.year)
        return table, _workforce_spec(table, "participation")
    return _cached(report, "cpd participation", compute)


def _regularity(data: tuple[pd.DataFrame, pd.DataFrame], report: Report
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Reflective regularity and its spec (``data`` is :func:`_workforce_data` of the report)."""
    def compute() -> tuple[pd.DataFrame, dict[str, Any]]:
        table = _workforce.reflective_regularity(*data, year=report.year)
        return table, _workforce_spec(table, "regularity")
    return _cached(report, "reflective regularity", compute)


def _cpd_summary(report: Report, data: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """CPD by service and topic (``data`` is :func:`_workforce_data` of the report)."""
    return _cached(report, "cpd summary", lambda: _workforce.cpd_summary(*data,
                                                                         year=report.year))


@shared_section
def cpd_participation_table(report: Report) -> Published | Note:
    """Share of tutors per service who took part in any CPD and in critical reflection groups."""
    data = _workforce_data(report)
    if data is None:
        return report.no_data("tutor or CPD records")
    table, spec = _cpd_participation(data, report)
    return _publish(report, table, {
        "service": "Music service", "n": "Tutors", "n_any_cpd": "Took part in any CPD",
        "pct_any_cpd": "%", "n_reflection": "Took part in critical reflection groups",
        "pct_reflection": "% ", "ci_low_reflection": "95% CI from",
        "ci_high_reflection": "to"},
        f"CPD and critical reflection among tutors on inclusion work, {report.year}",
        people="tutors", **spec)


@shared_section
def reflective_practice(report: Report) -> Parts | Note:
    """Tutors in critical reflection termly or more often, per service, with a sentence."""
    data = _workforce_data(report)
    if data is None:
        return report.no_data("tutor or CPD records")
    table, spec = _regularity(data, report)
    out = Parts()
    row = _first(_display_rows(report, table, spec, people="tutors", service=POOLED))
    if row is not None:
        groups = table[(table["service"] != POOLED) & ((table["n_regular"] + table["n_some"]) > 0)]
        share = _shown_share(report, row, "n_regular", "n", "pct_regular")
        out.append(Note(
            f"{len(groups)} of the {_plural(len(table) - 1, 'service')} ran critical "
            "reflection groups this year. "
            + (f"{share[0].upper() + share[1:]} tutors took part termly or more often."
               if share else "The number taking part termly or more often is too small to "
                             "show.")))
    out.append(_publish(report, table, {
        "service": "Music service", "n": "Tutors", "n_regular": "Termly or more often",
        "n_some": "Some terms", "n_none": "None", "pct_regular": "% termly or more often",
        "ci_low": "95% CI from", "ci_high": "to"},
        f"Regular critical reflection: tutors in a group in every term, {report.year}",
        people="tutors", **spec))
    return out


@shared_section
def cpd_heatmap(report: Report, value: str = "hours_per_tutor") -> ShownFigure | Note:
    """Service x topic heatmap of CPD hours per tutor (services with enough tutors)."""
    data = _workforce_data(report)
    if data is None:
        return report.no_data("tutor or CPD records")
    table = _cpd_summary(report, data)
    display = report.masked(table, _workforce_spec(table, "summary"), people="tutors")
    return report.plot(lambda d: _workforce.plot_cpd_heatmap(d, value=value, year=report.year),
                       _relabel(report, table, short=True),
                       draw=_relabel(report, display, short=True), n="n", by="service",
                       people="tutors", alt="CPD hours per tutor by service and topic")


@shared_section
def cpd_topics(report: Report) -> Published | Note:
    """CPD by topic, all services together: tutors taking part, sessions and hours."""
    data = _workforce_data(report)
    if data is None:
        return report.no_data("tutor or CPD records")
    table = _cpd_summary(report, data)
    pooled = table[table["service"] == POOLED]
    if pooled.empty:
        pooled = table
    return _publish(report, pooled, {
        "topic": "Topic", "n_attended": "Tutors taking part", "pct_attended": "% of tutors",
        "n_meetings": "Sessions held", "hours_per_tutor": "Hours per tutor (all tutors)"},
        caption=f"CPD topics, all services, {report.year}",
        people="tutors", **_workforce_spec(table, "summary"))


@shared_section
def cpd_online_shift(report: Report) -> Parts | Note:
    """Online and in-person CPD by term, all services together (the shift under lockdown)."""
    data = _workforce_data(report)
    if data is None:
        return report.no_data("tutor or CPD records")
    tutors, cpd = data
    table = _workforce.cpd_format(cpd, tutors, by="term")
    spec = declared_spec(table)
    table = table[table["year"].astype(str) == report.year]
    pooled = table[table["service"] == POOLED]
    if pooled.empty:
        pooled = table
    if pooled.empty:
        return report.no_data("CPD sessions")
    online = pooled[pooled["format"] == "online"]
    parts = []
    for r in online.itertuples():
        if r.n_sessions_total:
            parts.append(f"{r.term} {r.pct_sessions:.0f}%")
    out = Parts()
    if parts:
        out.append(Note("Share of tutor-sessions held online, by term: " + listing(parts) + "."
                        + (" Lockdown began on 23 March 2020; CPD moved online from the "
                           "summer term." if _in_year(report, LOCKDOWN) else "")))
    out.append(_publish(report, pooled, {
        "term": "Term", "format": "Format", "n": "Tutors", "n_sessions": "Tutor-sessions",
        "n_meetings": "Sessions held", "hours": "Tutor-hours",
        "pct_sessions": "% of tutor-sessions"},
        caption=f"CPD online and in person, all services, {report.year}", people="tutors",
        **spec))
    return out


def _in_year(report: Report, day: pd.Timestamp) -> bool:
    start, end = year_dates(report.year)
    return bool(start <= day <= end)


def _diversity(report: Report) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Workforce diversity rows of all services together (or of the one service), once
    per report (the workforce section and the HEARD summary)."""
    return _cached(report, "diversity", lambda: _diversity_rows(report))


def _diversity_rows(report: Report) -> tuple[pd.DataFrame, dict[str, Any]]:
    people = report.table("participants")
    table = _workforce.workforce_diversity(
        report.table("tutors"), people if len(people) else None, report.table("benchmarks"),
        report.table("services"), year=report.year)
    spec = _workforce_spec(table, "diversity")
    pooled = table[table["service"] == POOLED]
    return (pooled if len(pooled) else table), spec


def _genre_shares(report: Report) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Genre shares of all services together and their spec, once per report."""
    def compute() -> tuple[pd.DataFrame, dict[str, Any]]:
        shares = _workforce.genre_shares(report.table("tutors"), year=report.year,
                                         kinds=("genres",))
        spec = _workforce_spec(shares, "shares")
        pooled = shares[shares["service"] == POOLED]
        return (pooled if len(pooled) else shares), spec
    return _cached(report, "genre shares", compute)


def _genre_breadth(report: Report, tutors: pd.DataFrame) -> pd.DataFrame:
    """Genre breadth per service (``tutors`` is the report's tutors table), once per report."""
    return _cached(report, "genre breadth", lambda: _workforce.genre_breadth(
        tutors, year=report.year, kinds=("genres",)))


@shared_section
def workforce_diversity(report: Report) -> Parts | Note:
    """The workforce against the young people and the local population (all services)."""
    tutors = report.table("tutors")
    if tutors.empty:
        return report.no_data("tutor records")
    pooled, spec = _diversity(report)
    pooled = pooled.assign(label=pooled["characteristic"].map(
        lambda c: _CHARACTERISTIC_LABELS.get(c, c)).astype(object))
    display = report.masked(pooled, spec, people="tutors")
    out = Parts()
    out.append(report.plot(lambda d: _workforce.plot_workforce_profile(
        d, service=str(d["service"].iloc[0]), year=report.year), pooled, draw=display, n="n",
        by=None, people="tutors", noun=("characteristic", "characteristics"),
        alt="Workforce, young people and local population compared"))
    hidden = [str(label) for label, v, raw in zip(pooled["label"], display["pct"], pooled["pct"])
              if pd.isna(v) and not pd.isna(raw)]
    if hidden:
        out.append(Note("Workforce bars are missing where the share is hidden (fewer than "
                        f"{report.policy.threshold} tutors): {listing(hidden)}."))
    published = _publish(report, pooled, {
        "label": "Characteristic", "n": "Tutors (recorded)", "n_with": "With it",
        "pct": "% of tutors", "pct_participants": "% of young people",
        "pct_population": "% of local pupils", "ratio_participants":
        "Ratio: tutors / young people"},
        caption=f"Workforce diversity, all services, {report.year}", people="tutors", **spec)
    published.footnote += (" Staff groups are small. Disability has no young-people or "
                           "population comparator in the data.")
    out.append(published)
    return out


@shared_section
def genres(report: Report) -> Parts | Note:
    """Genres taught (the 'Diverse' principle): breadth per service and shares overall."""
    tutors = report.table("tutors")
    if tutors.empty or "genres" not in tutors.columns or tutors["genres"].isna().all():
        return report.no_data("genres taught by tutors")
    breadth = _genre_breadth(report, tutors)
    pooled, shares_spec = _genre_shares(report)
    out = Parts()
    out.append(_publish(report, breadth, {
        "service": "Music service", "n": "Tutors (genres recorded)",
        "n_distinct": "Genres taught", "n_categories": "Genres listed",
        "evenness": "Evenness (1 = all equally)", "top": "Most taught"},
        f"Breadth of genres taught, {report.year}", people="tutors", decimals=2,
        footnote="Evenness is the Shannon index over the genres taught divided by its "
                 "largest possible value for the genres listed.", **declared_spec(breadth)))
    out.append(_publish(report, pooled, {"value": "Genre", "n_with": "Tutors teaching it",
                                         "pct": "% of tutors"},
                        caption=f"Genres taught, all services, {report.year}",
                        people="tutors", **shares_spec))
    return out


# --------------------------------------------------------------------------
# Wellbeing
# --------------------------------------------------------------------------

def _scored(report: Report) -> pd.DataFrame | None:
    responses = report.table("wellbeing")
    if responses.empty:
        return None
    return _cached(report, "scored", lambda: _wellbeing.score(
        responses, allow_missing=_opt(report, "wellbeing_allow_missing")))


def _pairs(report: Report, scored: pd.DataFrame) -> pd.DataFrame:
    return _cached(report, "pairs", lambda: _wellbeing.pair(
        scored, scale=_opt(report, "wellbeing_scale")))


def _change(report: Report, scored: pd.DataFrame) -> pd.DataFrame:
    scale = _opt(report, "wellbeing_scale")
    return _cached(report, "change", lambda: _wellbeing.change_by(
        _pairs(report, scored), "service", scale=scale))


def _scale_words(report: Report) -> str:
    scale = _opt(report, "wellbeing_scale")
    return ("SWEMWBS metric score (7-35)" if scale == "SWEMWBS"
            else "WEMWBS total score (14-70)")


def _attrition(report: Report, scored: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Attrition per service and its disclosure spec, once per report (``scored`` is
    :func:`_scored` of the report).

    Published with the columns of :data:`_ATTRITION` only: the counts of young
    people with any questionnaire (``n``, named ``unpublished``) and with a
    follow-up only are published nowhere, so :meth:`Report.publish` leaves
    them out of the suppression (otherwise their small values would force
    hiding the numbers that matter).
    """
    def compute() -> tuple[pd.DataFrame, dict[str, Any]]:
        table = _wellbeing.attrition(scored, scale=_opt(report, "wellbeing_scale"),
                                     by="service")
        return table, declared_spec(table)
    return _cached(report, "attrition", compute)


#: The attrition table's columns and headings (table and sentences hide the same cells).
_ATTRITION = {
    "service": "Music service", "n_baseline": "With a baseline", "n_paired": "With both",
    "n_lost": "Lost to follow-up", "pct_lost": "% lost", "pct_lost_ci_low": "95% CI from",
    "pct_lost_ci_high": "to"}

#: The pooled wellbeing change table's columns and headings.
_POOLED_CHANGE = {
    "n": "Young people with both scores", "mean_baseline": "Baseline mean",
    "sd_baseline": "SD", "mean_follow_up": "Follow-up mean", "sd_follow_up": "SD ",
    "mean_change": "Mean change", "ci_low": "95% CI from", "ci_high": "to",
    "d_z": "Effect size d_z", "pct_improved": "% reliably improved",
    "pct_deteriorated": "% reliably deteriorated",
    "n_outside_validated_age": "Below the validated age"}


def copyright_note(report: Report) -> Note:
    """The WEMWBS / SWEMWBS copyright line, for wherever the scale appears."""
    return Note(_wellbeing.COPYRIGHT)


@shared_section
def wellbeing_attrition(report: Report) -> Published | Note:
    """Young people with a baseline, a follow-up, both, and lost to follow-up, per service."""
    scored = _scored(report)
    if scored is None:
        return report.no_data("wellbeing questionnaires")
    scale = _opt(report, "wellbeing_scale")
    table, spec = _attrition(report, scored)
    return _publish(report, table, _ATTRITION,
                    f"Young people with wellbeing questionnaires scored on the "
                    f"{_scale_words(report)}, {report.year}", footnote=_wellbeing.COPYRIGHT,
                    unpublished=["n"], spec=spec)


@shared_section
def wellbeing_funnel(report: Report) -> Parts | Note:
    """Funnel plot of each service's mean change against its number of young people."""
    scored = _scored(report)
    if scored is None:
        return report.no_data("wellbeing questionnaires")
    change = _change(report, scored)
    funnel = _wellbeing.funnel_data(change, overdispersion=_opt(report, "funnel_overdispersion"))
    if funnel.empty:
        return Note("No funnel plot: " + str(funnel.attrs.get("note", "fewer than 2 services "
                                                                      "with paired young people")))
    out = Parts()
    scale = _opt(report, "wellbeing_scale")
    table = _relabel(report, funnel, short=True)
    out.append(report.plot(lambda shown: _wellbeing.funnel_plot(shown, scale=scale), table,
                           n="n", by="service", alt="Funnel plot of mean change in wellbeing "
                                                   "by service"))
    row = funnel.iloc[0]
    target = float(row["target"])
    if bool(row["overdispersion_applied"]):
        adjustment = (f"The services vary more than chance alone would give (over-dispersion "
                      f"phi = {row['phi']:.2f}, p = {p_text(float(row['overdispersion_p']))}), "
                      f"so the limits are widened by the square root of phi "
                      f"(x{row['inflation']:.2f}; Spiegelhalter 2005) to allow for that extra "
                      "variation.")
    else:
        adjustment = (f"The services vary no more than chance would give (phi = {row['phi']:.2f}"
                      f", p = {p_text(float(row['overdispersion_p']))}), so the limits are not "
                      "widened.")
    outside = int((~funnel["position"].astype(str).str.startswith("inside")).sum())
    out.append(Note(
        f"The centre line is the mean change of all young people with both scores "
        f"({target:+.2f} points). Dashed lines are 95% and dotted 99.8% control limits, which "
        f"narrow as the number of young people grows. {adjustment} "
        + (f"{_plural(outside, 'service')} lie outside the 95% limits; a point outside them "
           "is a prompt to look at that service's context, not a verdict."
           if outside else "Every service lies inside the 95% limits.")))
    return out


@shared_section
def wellbeing_forest(report: Report) -> Parts | Note:
    """Forest plot of each service's mean change with the pooled random-effects estimate."""
    scored = _scored(report)
    if scored is None:
        return report.no_data("wellbeing questionnaires")
    change = _change(report, scored)
    forest = _wellbeing.forest_data(change, method=_opt(report, "meta_method"))
    if forest.empty:
        return Note("No forest plot: " + str(forest.attrs.get(
            "note", "fewer than 2 services with a standard error")))
    scale = _opt(report, "wellbeing_scale")
    out = Parts()
    table = _alphabetical(_relabel(report, forest, short=True))
    out.append(report.plot(lambda shown: _wellbeing.forest_plot(shown, scale=scale), table,
                           n="n", by="service", alt="Forest plot of mean change in wellbeing "
                                                   "by service with the pooled estimates"))
    random = forest[forest["kind"] == "pooled (random effects)"].iloc[0]
    fixed = forest[forest["kind"] == "pooled (fixed effect)"].iloc[0]
    method = str(random["method"]).split(" random effects")[0]
    out.append(Note(
        f"Pooled mean change, random effects ({method}): {random['estimate']:+.2f} points "
        f"(95% CI {random['ci_low']:+.2f} to {random['ci_high']:+.2f}). Between-service variance "
        f"tau² = {random['tau2']:.2f}; Cochran's Q = {random['q']:.1f} on {int(random['q_df'])} "
        f"df (p = {random['q_p']:.3g}); I² = {100 * random['i2']:.0f}%. "
        + (f"The fixed-effect estimate ({fixed['estimate']:+.2f}) weights each service by the "
           "precision of its mean, so services whose young people changed very uniformly "
           "dominate it; with services this different, read the random-effects estimate."
           if random["i2"] >= 0.5 else
           f"The fixed-effect estimate is {fixed['estimate']:+.2f}.")))
    spec = declared_spec(forest)
    services = forest[forest["kind"] == "service"]
    out.append(_publish(report, services, {
        "service": "Music service", "estimate": "Mean change", "ci_low": "95% CI from",
        "ci_high": "to", "weight_random": "Weight in the pooled estimate (%)"},
        f"Mean change in the {_scale_words(report)} per service (follow-up minus baseline)",
        decimals=2, footnote=_wellbeing.COPYRIGHT, **spec))
    return out


@shared_section
def wellbeing_shrunken(report: Report) -> Parts | Note:
    """Partially pooled (shrunken) service estimates from a random-intercept model."""
    scored = _scored(report)
    if scored is None:
        return report.no_data("wellbeing questionnaires")
    pairs = _pairs(report, scored)
    if pairs.empty:
        return report.no_data("young people with both a baseline and a follow-up questionnaire")
    table = _wellbeing.shrunken_estimates(pairs, "service")
    out = Parts()
    pooled = table[table["kind"] != "service"]
    notes = [n for n in table["note"].dropna().astype(str).unique() if n]
    if len(pooled) and pd.notna(pooled["estimate"].iloc[0]):
        p = pooled.iloc[0]
        tried = ", ".join(table.attrs.get("settings", {}).get("optimisers", ()))
        out.append(Note(
            f"Random-intercept model fitted by REML (statsmodels MixedLM; optimisers tried: "
            f"{tried or 'default'}; kept the fit with the highest likelihood, "
            f"{p['optimiser']}). Model mean change "
            f"{p['estimate']:+.2f} points (95% CI {p['ci_low']:+.2f} to {p['ci_high']:+.2f}, "
            f"z = {p['z']:.2f}, p = {p['p']:.3g}). statsmodels reports Wald z statistics, not "
            "t (no Kenward-Roger correction), so with few services this interval is too "
            f"narrow. Between-service variance {p['group_var']:.2f}, within-service "
            f"{p['residual_var']:.2f}: each service's estimate is pulled towards the model mean, "
            "small services most." + (" " + "; ".join(notes).capitalize() + "." if notes else "")))
    else:
        out.append(Note("No model fitted: " + ("; ".join(notes) or "too few young people")))
    spec = declared_spec(table)
    spec.pop("total", None)
    services = table[table["kind"] == "service"]
    out.append(_publish(report, services, {
        "service": "Music service", "mean_change": "Service's own mean change",
        "estimate": "Shrunken estimate", "shrinkage": "Weight on its own mean"},
        f"Shrunken (partially pooled) mean change in the {_scale_words(report)}",
        decimals=2, **spec))
    return out


@shared_section
def wellbeing_kruskal(report: Report) -> Parts | Note:
    """Kruskal-Wallis across services and Dunn's pairwise tests: a secondary, descriptive table."""
    scored = _scored(report)
    if scored is None:
        return report.no_data("wellbeing questionnaires")
    pairs = _pairs(report, scored)
    adjust = _opt(report, "dunn_adjust")
    table = _wellbeing.kruskal_dunn(pairs, "service", adjust=adjust) if len(pairs) else None
    if table is None or table.empty:
        return Note("No Kruskal-Wallis test: fewer than 2 services have young people with both "
                    "scores.")
    table = _relabel(report, table, columns=("group_a", "group_b"), short=True)
    adjust_words = {"holm": "Holm's method", "fdr_bh": "Benjamini-Hochberg (false discovery "
                                                        "rate)"}[adjust]
    spec = declared_spec(table)
    table = table.assign(df=pd.array([None if pd.isna(v) else int(v) for v in table["df"]],
                                     dtype="Int64"))
    published = _publish(report, table, {
        "test": "Test", "group_a": "Service", "group_b": "Compared with",
        "statistic": "H or z", "df": "df", "p": "p", "p_adjusted": "Adjusted p"},
        caption="Do changes differ between services? Kruskal-Wallis test, then Dunn's pairwise "
                f"tests with p-values adjusted by {adjust_words}",
        decimals=3, p_values=["p", "p_adjusted"], **spec)
    return Parts([Note("A secondary, descriptive analysis: it asks whether the spread of changes "
                       "differs between services more than chance would give, not which service "
                       "did better. Comparisons involving a service with fewer young people than "
                       "the threshold are hidden."), published])


@shared_section
def wellbeing_pooled(report: Report) -> Parts | Note:
    """Wellbeing change of all young people with both scores, with the random-effects estimate."""
    scored = _scored(report)
    if scored is None:
        return report.no_data("wellbeing questionnaires")
    change = _change(report, scored)
    pooled = change[change["service"] == POOLED]
    if pooled.empty or int(pooled["n"].iloc[0]) == 0:
        return report.no_data("young people with both a baseline and a follow-up questionnaire")
    out = Parts()
    out.append(_publish(report, pooled, _POOLED_CHANGE,
        caption=f"Wellbeing change, all services together, {_scale_words(report)} (paired t "
                "interval; d_z = mean change / SD of change)",
        decimals=2, spec=declared_spec(change), footnote=_wellbeing.COPYRIGHT))
    forest = _wellbeing.forest_data(change, method=_opt(report, "meta_method"))
    random = forest[forest["kind"] == "pooled (random effects)"] if len(forest) else forest
    if len(random):
        r = random.iloc[0]
        method = str(r["method"]).split(" random effects")[0]
        out.append(Note(f"Allowing for differences between services (random-effects "
                        f"meta-analysis, {method}), the pooled mean change is "
                        f"{r['estimate']:+.2f} points (95% CI {r['ci_low']:+.2f} to "
                        f"{r['ci_high']:+.2f}); I² = {100 * r['i2']:.0f}% of the variation "
                        "between services is more than chance."))
    reliable = pooled.iloc[0]
    out.append(Note(f"Reliable change uses a threshold of {reliable['rc_threshold']:.2f} points "
                    f"({reliable['rc_source']})."))
    return out


@shared_section
def wellbeing_caveats(report: Report) -> Parts | Note:
    """The caveats that go next to any wellbeing change, with this year's numbers."""
    scored = _scored(report)
    if scored is None:
        return report.no_data("wellbeing questionnaires")
    scale = _opt(report, "wellbeing_scale")
    threshold = report.policy.threshold
    notes = Parts()
    change = _change(report, scored)
    services = change[change["service"] != POOLED]
    small = int(report.policy.is_sensitive(services["n"]).sum())
    notes.append(Note(
        f"Small numbers: {small} of the {_plural(len(services), 'service')} with paired "
        f"questionnaires have fewer than {threshold} young people with both scores; their "
        "results are hidden in the tables and left out of the figures, and every service's "
        "interval is wide."))
    table, spec = _attrition(report, scored)
    row = _first(_display_rows(report, table, spec, columns=list(_ATTRITION), unpublished=["n"],
                               service=POOLED))
    lost = _shown_share(report, row, "n_lost", "n_baseline", "pct_lost")
    lockdown = (" Lockdown from 23 March 2020 interrupted the follow-up questionnaires."
                if _in_year(report, LOCKDOWN) else "")
    comparison = _wellbeing.completer_comparison(scored, scale=scale, by=None)
    crow = _first(_display_rows(report, comparison, declared_spec(comparison)))
    compare = ""
    difference, low, high = (_v(crow, c) for c in ("difference", "ci_low", "ci_high"))
    if difference is not None and low is not None and high is not None:
        compare = (f" At baseline, those who completed scored {_signed(difference)} points "
                   f"compared with those lost (95% CI {_signed(low)} to {_signed(high)})"
                   + ("; the change among completers may not describe everyone."
                      if low > 0 or high < 0 else
                      ": no clear sign that those lost started differently."))
    notes.append(Note("Attrition: " + (f"{_upper(lost)} young people with a baseline have no "
                                       "usable follow-up." if lost else
                                       "the numbers with and without a usable follow-up are "
                                       "hidden to protect small groups.")
                      + lockdown + compare))
    pooled = change[change["service"] == POOLED]
    prow = _first(_display_rows(report, pooled, declared_spec(change),
                                columns=list(_POOLED_CHANGE)))
    outside, n_pooled = _v(prow, "n_outside_validated_age"), _v(prow, "n")
    if outside is None or n_pooled is None:
        age = ("The number below the validated age is hidden to protect small groups."
               if len(pooled) and int(pooled["n_outside_validated_age"].iloc[0]) else
               "No young person with both scores was below the validated age.")
    elif outside:
        age = (f"{count_text(outside, report.policy)} of the "
               f"{count_text(n_pooled, report.policy)} young people with "
               "both scores were below the validated age at baseline; their scores are outside "
               "the validated range.")
    else:
        age = "No young person with both scores was below the validated age."
    notes.append(Note("Age: WEMWBS is validated from age 13 and SWEMWBS from 11; nothing "
                      "validates either under 11. " + age))
    notes.append(Note(
        "Regression to the mean: with no comparison group, young people who start low tend to "
        "score higher next time whatever happens, so part of any rise may be regression to the "
        "mean. No selection cut-off is recorded in these data, so its size is not estimated."))
    names = _names(report, short=True)
    by_instrument: dict[str, list[str]] = {}
    for service, part in scored.dropna(subset=["service"]).groupby("service"):
        used = sorted(set(part["instrument"].dropna().astype(str)))
        key = used[0] if len(used) == 1 else "both"
        by_instrument.setdefault(key, []).append(names.get(str(service), str(service)))
    described = "; ".join(f"{k}: {listing(sorted(by_instrument[k]))}"
                          for k in ("WEMWBS", "SWEMWBS", "both") if k in by_instrument)
    notes.append(Note(
        f"Instruments: services used different questionnaires ({described}). "
        + ("They are compared on the SWEMWBS metric score only, which both questionnaires "
           "give (the seven SWEMWBS items, converted with the official table)."
           if scale == "SWEMWBS" else "This report uses the WEMWBS total, so services that used "
                                      "SWEMWBS only are left out.")))
    notes.append(copyright_note(report))
    return notes


# --------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------

def _outcomes_data(report: Report) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    ratings = report.table("outcome_ratings")
    indicators = report.table("outcome_indicators")
    if ratings.empty or indicators.empty:
        return None
    return ratings, indicators


#: The three levels of :func:`rating_levels`: (name, ratings counted, colour).
RATING_LEVELS: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("not yet or emerging (1-2)", (1, 2), "#d6604d"),
    ("developing (3)", (3,), "#bababa"),
    ("secure or strong (4-5)", (4, 5), "#4393c3"),
)


def rating_levels(distribution: pd.DataFrame) -> pd.DataFrame:
    """Tutor ratings in three levels: 1-2 (not yet, emerging), 3 (developing), 4-5 (secure, strong).

    Merging the five ratings into three keeps the counts large enough to
    publish (a "strong" rating at baseline is rare), so that no bar of a
    figure loses a segment to disclosure control.

    Parameters
    ----------
    distribution : DataFrame
        Output of :func:`changing_tracks.outcomes.distribution` (``n``,
        ``n_ratings``, ``n_1`` ... ``n_5`` and the grouping columns).

    Returns
    -------
    DataFrame
        The grouping columns, ``n`` (young people rated), ``n_ratings``,
        ``n_low``, ``n_mid``, ``n_high`` (ratings at each level; they add up to
        ``n_ratings``) and ``pct_low``, ``pct_mid``, ``pct_high`` (% of
        ``n_ratings``). ``attrs["suppress"]``: each percentage rests on ``n``,
        ``n_ratings`` and its level's count; ``n_ratings = n_low + n_mid +
        n_high``.

    Examples
    --------
    >>> d = pd.DataFrame({"domain": ["personal"], "n": [12], "n_ratings": [20], "n_1": [2],
    ...                   "n_2": [6], "n_3": [5], "n_4": [4], "n_5": [3]})
    >>> rating_levels(d)[["n_low", "n_mid", "n_high", "pct_high"]].to_dict("records")
    [{'n_low': 8, 'n_mid': 5, 'n_high': 7, 'pct_high': 35.0}]
    """
    needed = ["n", "n_ratings", *(f"n_{k}" for k in range(1, 6))]
    missing = [c for c in needed if c not in distribution.columns]
    if missing:
        raise ValueError(f"distribution: expected the columns of outcomes.distribution, "
                         f"missing {missing}")
    keys = [c for c in distribution.columns
            if not (c == "n" or str(c).startswith(("n_", "pct_")))
            and c not in ("median", "q1", "q3", "iqr")]
    out = distribution[keys].copy()
    out["n"] = distribution["n"].astype("int64")
    out["n_ratings"] = distribution["n_ratings"].astype("int64")
    total = out["n_ratings"].to_numpy(dtype=float)
    for short, (_, values, _) in zip(("low", "mid", "high"), RATING_LEVELS):
        out[f"n_{short}"] = sum(distribution[f"n_{k}"].astype("int64") for k in values)
    for short in ("low", "mid", "high"):
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"pct_{short}"] = np.where(total > 0, 100 * out[f"n_{short}"] / total, np.nan)
    out.attrs["suppress"] = {
        "counts": ["n", "n_ratings", "n_low", "n_mid", "n_high"],
        "derived": {f"pct_{k}": ["n", "n_ratings", f"n_{k}"] for k in ("low", "mid", "high")},
        "sums": {"n_ratings": ["n_low", "n_mid", "n_high"]},
    }
    return out.reset_index(drop=True)


def plot_rating_levels(levels: pd.DataFrame, label: Sequence[str] = ("domain", "wave"),
                       title: str = ""):
    """Diverging bars of :func:`rating_levels`: 1-2 left of zero, 3 split, 4-5 right.

    Parameters
    ----------
    levels : DataFrame
        Output of :func:`rating_levels` (or its suppressed display copy: a bar
        with a hidden level is drawn as a grey outline labelled "hidden").
    label : sequence of str
        Columns naming each bar.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    table = levels.reset_index(drop=True)
    pct = np.column_stack([pd.to_numeric(table[f"pct_{k}"].astype(object), errors="coerce")
                           .to_numpy(dtype=float) for k in ("low", "mid", "high")]) \
        if len(table) else np.zeros((0, 3))
    names = [" · ".join(str(table[c].iloc[i]) for c in label if c in table.columns)
             + f" (n={table['n'].iloc[i]})" for i in range(len(table))]
    fig = Figure(figsize=(8, 0.4 * max(len(table), 1) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(table))
    start = -(pct[:, 0] + pct[:, 1] / 2)
    left = start.copy()
    for k, (name, _, colour) in enumerate(RATING_LEVELS):
        ax.barh(y, np.nan_to_num(pct[:, k]), left=np.nan_to_num(left), color=colour,
                edgecolor="white", linewidth=0.5, label=name)
        left = left + pct[:, k]
    hidden = ~np.isfinite(pct).all(axis=1)
    for i in np.flatnonzero(hidden):
        ax.text(0, i, "hidden (small numbers)", ha="center", va="center", fontsize=8,
                color="0.3")
    ax.axvline(0, color="0.3", lw=0.8)
    ticks = np.arange(-100, 101, 25)
    ax.set_xlim(-100, 100)
    ax.set_xticks(ticks, labels=[f"{abs(t):.0f}%" for t in ticks])
    ax.set_yticks(y, labels=names)
    ax.invert_yaxis()
    ax.set_xlabel("% of tutor ratings (developing split around 0)")
    if title:
        ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=3, frameon=False)
    return fig


@shared_section
def outcomes_distribution(report: Report) -> Parts | Note:
    """Tutor ratings by domain: all services by wave (figure), and per service (table)."""
    data = _outcomes_data(report)
    if data is None:
        return report.no_data("tutor-rated outcomes")
    out = Parts()
    waves = rating_levels(_outcomes.distribution(*data, by=("domain", "wave")))
    out.append(report.plot(lambda d: plot_rating_levels(
        d, title="Tutor ratings by domain and wave, all services"),
        waves, draw=report.masked(waves), n="n", by=None, noun=("bar", "bars"),
        alt="Tutor ratings by domain and wave in three levels"))
    table = _outcomes.distribution(*data, by=("service", "domain"))
    out.append(_publish(report, table, {
        "service": "Music service", "domain": "Domain", "n": "Young people rated",
        "n_ratings": "Ratings", "median": "Median rating", "q1": "Lower quartile",
        "q3": "Upper quartile", "pct_top2": "% rated 4-5"},
        f"Tutor ratings of outcomes per service and domain, all ratings in {report.year} "
        "(1 not yet ... 5 strong)",
        footnote="Ratings at baseline, interim and follow-up together; the change table "
                 "compares each young person's first and last rating."))
    return out


def _outcomes_change(report: Report, data: tuple[pd.DataFrame, pd.DataFrame]
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Outcome change per service and domain and its spec (``data`` is
    :func:`_outcomes_data` of the report), once per report."""
    def compute() -> tuple[pd.DataFrame, dict[str, Any]]:
        table = _outcomes.change(*data, by=("service", "domain"))
        return table, declared_spec(table)
    return _cached(report, "outcomes change", compute)


def _service_coverage(report: Report, data: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Outcome domain coverage per service (``data`` is :func:`_outcomes_data` of the
    report), once per report (the coverage section and the HEARD summary)."""
    def compute() -> pd.DataFrame:
        people = report.table("participants")
        return _outcomes.coverage(*data, people if len(people) else None, by=("service",),
                                  threshold=_opt(report, "outcomes_gap_threshold"))
    return _cached(report, "service coverage", compute)


@shared_section
def outcomes_change(report: Report) -> Parts | Note:
    """First to last tutor rating: improved / same / declined per service and domain.

    A table only: with small groups most "same" and "lower" shares are hidden,
    and a bar chart would show the gaps as if they were zero.
    """
    data = _outcomes_data(report)
    if data is None:
        return report.no_data("tutor-rated outcomes")
    table, spec = _outcomes_change(report, data)
    out = Parts()
    out.append(_publish(report, table, {
        "service": "Music service", "domain": "Domain", "n_compared": "Young people compared",
        "pct_improved": "% rated higher", "pct_same": "% same", "pct_declined": "% rated lower",
        "median_change": "Median change (points)", "p_sign": "Sign test p"},
        f"Change from first to last tutor rating, per service and domain, {report.year}",
        p_values=["p_sign"],
        footnote="Each young person counts once per domain, by the sign of their mean change "
                 "over the domain's indicators; young people rated only once are left out.",
        **spec))
    return out


def domain_coverage_summary(coverage: pd.DataFrame) -> pd.DataFrame:
    """Per service: how many of the three domains were rated, and which are gaps.

    Parameters
    ----------
    coverage : DataFrame
        Output of :func:`changing_tracks.outcomes.coverage` grouped by service
        (``service``, ``domain``, ``n_participants``, ``gap``).

    Returns
    -------
    DataFrame
        One row per service (alphabetical, as in ``coverage``): ``service``,
        ``n_domains`` (domains in the framework, 3), ``n_domains_rated``
        (domains with at least one young person rated), ``all_rated`` (bool),
        ``n_gaps`` and ``gaps`` (domains flagged as a gap, comma-separated).

    Examples
    --------
    >>> cov = pd.DataFrame({"service": "a", "domain": ["personal", "social", "musical"],
    ...                     "n_participants": [10, 0, 12], "gap": [False, True, False]})
    >>> domain_coverage_summary(cov)[["n_domains_rated", "all_rated", "gaps"]].values.tolist()
    [[2, False, 'social']]
    """
    needed = ["service", "domain", "n_participants", "gap"]
    missing = [c for c in needed if c not in coverage.columns]
    if missing:
        raise ValueError(f"coverage: expected the columns of outcomes.coverage, missing {missing}")
    rows = []
    for service, part in coverage.groupby("service", sort=False):
        rated = part[pd.to_numeric(part["n_participants"], errors="coerce").fillna(0) > 0]
        gaps = [str(d) for d, g in zip(part["domain"], part["gap"]) if bool(g)]
        rows.append({"service": service, "n_domains": len(OUTCOME_DOMAINS),
                     "n_domains_rated": int(rated["domain"].nunique()),
                     "all_rated": bool(set(OUTCOME_DOMAINS) <= set(rated["domain"].astype(str))),
                     "n_gaps": len(gaps), "gaps": ", ".join(gaps)})
    columns = ["service", "n_domains", "n_domains_rated", "all_rated", "n_gaps", "gaps"]
    out = pd.DataFrame(rows, columns=columns)
    for col in ("n_domains", "n_domains_rated", "n_gaps"):
        out[col] = out[col].astype("int64")
    return out


@shared_section
def outcomes_coverage(report: Report) -> Parts | Note:
    """Whether each service's evidence covers the personal, social and musical domains."""
    data = _outcomes_data(report)
    if data is None:
        return report.no_data("tutor-rated outcomes")
    table = _service_coverage(report, data)
    summary = domain_coverage_summary(table)
    names = _names(report, short=True)
    all_three = int(summary["all_rated"].sum())
    gaps = summary[summary["n_gaps"] > 0]
    text = (f"All three domains (personal, social and musical) were rated for {all_three} of the "
            f"{_plural(len(summary), 'service')} with outcome ratings. ")
    if gaps.empty:
        text += ("No service has a domain rated for fewer than "
                 f"{_opt(report, 'outcomes_gap_threshold'):.0%} as many young people as its "
                 "best-covered domain.")
    else:
        text += ("Gaps (a domain rated for fewer than "
                 f"{_opt(report, 'outcomes_gap_threshold'):.0%} as many young people as the "
                 "service's best-covered domain): "
                 + "; ".join(f"{names.get(r.service, r.service)} ({r.gaps})"
                             for r in gaps.itertuples()) + ".")
    published = _publish(report, table, {
        "service": "Music service", "domain": "Domain", "n_participants": "Young people rated",
        "n_participants_total": "Young people taking part", "pct_participants": "% rated",
        "n_indicators_rated": "Indicators rated", "n_indicators": "Indicators in the framework",
        "gap": "Gap"}, f"Coverage of the three outcome domains, {report.year}",
        **declared_spec(table))
    return Parts([Note(text), published])


# --------------------------------------------------------------------------
# HEARD principles and factors for success
# --------------------------------------------------------------------------

_YES, _PARTIAL, _NONE = "Yes", "Partial", "No data"


def _ev_holistic(report: Report) -> tuple[str, str]:
    data = _outcomes_data(report)
    if data is None:
        return _NONE, f"No tutor-rated outcomes are recorded for {report.year}."
    summary = domain_coverage_summary(_service_coverage(report, data))
    k, s = int(summary["all_rated"].sum()), len(summary)
    gaps = int((summary["n_gaps"] > 0).sum())
    table, spec = _outcomes_change(report, data)
    where = {"service": POOLED} if (table["service"] == POOLED).any() else {}
    rows = _display_rows(report, table, spec, **where)
    parts = []
    for domain in OUTCOME_DOMAINS:
        row = _first(rows[table.loc[rows.index, "domain"].astype(str) == domain])
        if row is None:
            continue
        share = _shown_share(report, row, "n_improved", "n_compared", "pct_improved") \
            if _v(row, "n_improved") is not None else None
        if share is None and _v(row, "pct_improved") is not None:
            share = (f"{_v(row, 'pct_improved'):.0f}% of "
                     f"{count_text(_v(row, 'n_compared'), report.policy)}")
        parts.append(f"{domain} {share}" if share else f"{domain} not shown (small numbers)")
    text = (f"Tutors rated all three domains (personal, social, musical) at {k} of "
            f"{_plural(s, 'service')}; "
            + (f"{_plural(gaps, 'service')} rated a domain" if gaps else "none rated a domain")
            + f" for under {_opt(report, 'outcomes_gap_threshold'):.0%} as many young people as "
              "its best-covered one.")
    if parts:
        text += (" Young people rated higher at their last rating than at their first: "
                 + "; ".join(parts) + ".")
    return (_YES if k == s and s > 0 and gaps == 0 else _PARTIAL), text


def _ev_equitable(report: Report) -> tuple[str, str]:
    sentences = []
    table = _representation(report)
    has_people = not report.table("participants").empty
    if table is not None:
        spec = declared_spec(table)
        table = table[table["characteristic"].isin(["fsm", "sen_support", "ehc_plan",
                                                    "looked_after", "young_carer"])]
        where = {"service": POOLED} if (table["service"] == POOLED).any() else {}
        rows = _display_rows(report, table, spec, **where)
        over, similar, under, hidden = [], [], [], []
        for index, row in rows.iterrows():
            label = _CHARACTERISTIC_LABELS.get(str(table.loc[index, "characteristic"]))
            ratio, low, high = (_v(row, c) for c in ("ratio", "ratio_ci_low", "ratio_ci_high"))
            if ratio is None or low is None or high is None:
                hidden.append(label)
            elif low > 1:
                over.append(f"{label} ({ratio:.1f} times)")
            elif high < 1:
                under.append(f"{label} ({ratio:.1f} times)")
            else:
                similar.append(label)
        bits = []
        if over:
            bits.append(f"larger shares than local pupils of {listing(over)} (95% interval "
                        "of the representation ratio wholly above 1)")
        if similar:
            bits.append(f"shares like local pupils' of {listing(similar)}")
        if under:
            bits.append(f"smaller shares of {listing(under)} (interval wholly below 1)")
        if bits:
            sentences.append("All services together reached " + "; ".join(bits) + ".")
        if hidden:
            sentences.append(f"Not shown (small numbers or no benchmark): {listing(hidden)}.")
    if has_people:
        bits = []
        for measure, part, spec in _equity_tables(report):
            if measure != "retention":
                continue
            for index, row in _display_rows(report, part, spec).iterrows():
                group, peers = _v(row, "estimate_group"), _v(row, "estimate_peers")
                if group is not None and peers is not None:
                    name = _GROUP_LABELS.get(str(part.loc[index, "group"]))
                    bits.append(f"{name} {100 * group:.0f}% vs {100 * peers:.0f}%")
        if bits:
            sentences.append("Completion among priority groups vs their peers: "
                             + "; ".join(bits) + ".")
    if not sentences:
        return _NONE, (f"No participant records with characteristics, or no population "
                       f"benchmarks, for {report.year}.")
    return (_YES if table is not None and has_people else _PARTIAL), " ".join(sentences)


def _ev_authentic(report: Report) -> tuple[str, str]:
    text = ("Whether activities were designed with the young people they are for (co-design) "
            "is not recorded in these data.")
    if not report.table("stages").empty:
        text += (" The stages of inclusion include a 'pupil voice' area that services place "
                 "themselves on (Part 2): a self-assessment, not a record of co-design.")
    return _NONE, text


def _shown_categories(report: Report, counts: Sequence[int], totals: Sequence[int]) -> list[bool]:
    """Which categories of one family (ethnic groups, or sex) a sentence may give a share for.

    A share is hidden when its count, the rest or the total is small; when
    exactly one category is hidden, the next smallest is hidden too, so the
    hidden one cannot be worked out from the others.
    """
    shown = [_share(report, k, n) is not None for k, n in zip(counts, totals)]
    hidden = [i for i, ok in enumerate(shown) if not ok and counts[i] > 0]
    if len(hidden) == 1:
        others = sorted((counts[i], i) for i, ok in enumerate(shown) if ok and counts[i] > 0)
        if others:
            shown[others[0][1]] = False
    return shown


def _ev_representative(report: Report) -> tuple[str, str]:
    tutors = report.table("tutors")
    people = report.table("participants")
    if tutors.empty and people.empty:
        return _NONE, f"No participant or tutor records for {report.year}."
    sentences = []
    table = _representation(report)
    if table is not None:
        pooled = table[table["service"] == POOLED] if (table["service"] == POOLED).any() else table
        bits, hidden = [], []
        for family in ("sex", "ethnicity"):
            rows = pooled[pooled["characteristic"].astype(str).str.startswith(family + "_")]
            rows = rows[rows["benchmark"].notna()]
            ok = _shown_categories(report, [int(k) for k in rows["n_with"]],
                                   [int(n) for n in rows["n_known"]])
            for r, show in zip(rows.itertuples(), ok):
                label = _CHARACTERISTIC_LABELS[r.characteristic]
                if show:
                    bits.append(f"{label} {100 * r.share:.0f}% vs {100 * r.benchmark:.0f}%")
                else:
                    hidden.append(label)
        if bits:
            sentences.append("Young people vs local pupils (all services): " + "; ".join(bits)
                             + (f" ({listing(hidden)}: not shown, small numbers)."
                                if hidden else "."))
    if len(tutors):
        pooled, spec = _diversity(report)
        rows = _display_rows(report, pooled, spec, people="tutors")
        bits, hidden = [], []
        for index, row in rows.iterrows():
            characteristic = str(pooled.loc[index, "characteristic"])
            if characteristic == "disability":
                continue
            label = _CHARACTERISTIC_LABELS.get(characteristic, characteristic)
            pct, versus = _v(row, "pct"), _v(row, "pct_participants")
            if pct is not None and versus is not None:
                bits.append(f"{label} {pct:.0f}% vs {versus:.0f}%")
            else:
                hidden.append(label)
        if bits:
            sentences.append("Tutors vs young people: " + "; ".join(bits)
                             + (f" ({listing(hidden)}: not shown, small numbers or no "
                                "comparator)." if hidden else "."))
        elif hidden:
            sentences.append(f"Tutor characteristics are recorded, but every group has fewer "
                             f"than {report.policy.threshold} tutors or no comparator.")
    if not sentences:
        return _NONE, "No characteristics of young people or tutors with comparators."
    return (_YES if len(sentences) == 2 else _PARTIAL), " ".join(sentences)


def _ev_diverse(report: Report) -> tuple[str, str]:
    tutors = report.table("tutors")
    if tutors.empty or "genres" not in tutors.columns or tutors["genres"].isna().all():
        return _NONE, f"No record of the genres tutors teach in {report.year}."
    pooled, spec = _genre_shares(report)
    rows = _display_rows(report, pooled, spec, people="tutors")
    taught = int((pooled["n_with"] > 0).sum())
    text = f"Tutors teach {taught} of the {pooled['value'].nunique()} genres listed"
    shown = [(_v(row, "pct"), str(pooled.loc[i, "value"])) for i, row in rows.iterrows()
             if _v(row, "pct") is not None and _v(row, "n_with") is not None]
    n = _v(_first(rows), "n")
    if shown and n is not None:
        pct, value = max(shown)
        text += (f"; the most taught is {value} ({pct:.0f}% of "
                 f"{count_text(n, report.policy)} tutors)")
    few = int(((pooled["n_with"] > 0) & report.policy.is_sensitive(pooled["n_with"])).sum())
    text += (f"; {few} {'genre is' if few == 1 else 'genres are'} taught by fewer than "
             f"{report.policy.threshold} tutors." if few else ".")
    breadth = _genre_breadth(report, tutors)
    services = breadth[(breadth["service"] != POOLED) & breadth["evenness"].notna()
                       & ~report.policy.is_sensitive(breadth["n"])]
    if len(services) > 1:
        text += (f" Evenness across genres (1 = all equally taught) ranges from "
                 f"{services['evenness'].min():.2f} to {services['evenness'].max():.2f} "
                 "between services.")
    return _YES, text


def _ev_plan(report: Report) -> tuple[str, str]:
    sentences = []
    data = _audit_data(report)
    active = report.active_services
    if data is not None:
        ratings, statements = data
        waves = [set(w) for _, w in ratings.groupby("service")["wave"]]
        base = sum("baseline" in w for w in waves)
        follow = sum("follow-up" in w for w in waves)
        sentences.append(f"ED&I self-assessment audit: baseline by {base} of {len(active)} "
                         f"services, follow-up by {follow}.")
        total = pooled_audit_change(_audit_change(report))
        total = total[total["section"] == "Total"]
        if len(total) and int(total["n"].iloc[0]):
            t = total.iloc[0]
            sentences.append(f"Total score rose for {int(t['n_improved'])} of the "
                             f"{_plural(int(t['n']), 'service')} with both (mean change "
                             f"{t['mean_change']:+.1f} percentage points).")
    stages = report.table("stages")
    if len(stages):
        placed = [set(w) for _, w in stages.groupby("service")["wave"]]
        both = sum({"baseline", "follow-up"} <= w for w in placed)
        sentences.append(f"Stages of inclusion: {len(placed)} services placed themselves, "
                         f"{both} at both baseline and follow-up.")
    if not sentences:
        return _NONE, f"No audit ratings or stages placements recorded by the end of {report.year}."
    return (_YES if data is not None else _PARTIAL), " ".join(sentences)


def _ev_outcomes(report: Report) -> tuple[str, str]:
    data = _outcomes_data(report)
    if data is None:
        return _NONE, f"No tutor-rated outcomes are recorded for {report.year}."
    people = report.table("participants")
    coverage = _outcomes.coverage(*data, people if len(people) else None, by=("year",),
                                  threshold=_opt(report, "outcomes_gap_threshold"))
    parts = []
    for index, row in _display_rows(report, coverage, declared_spec(coverage)).iterrows():
        ratings = _v(row, "n_ratings")
        share = _shown_share(report, row, "n_participants", "n_participants_total",
                             "pct_participants")
        parts.append(f"{coverage.loc[index, 'domain']} "
                     + (f"{int(ratings):,} ratings" if ratings is not None else "ratings hidden")
                     + (f" ({share} young people rated)" if share else ""))
    status, holistic = _ev_holistic(report)
    return status, ("Tutor ratings in each domain, all services: " + "; ".join(parts) + ". "
                    + holistic.split(" Young people rated higher")[0])


def _ev_reflection(report: Report) -> tuple[str, str]:
    data = _workforce_data(report)
    if data is None:
        return _NONE, f"No tutor or CPD records for {report.year}."
    table, spec = _cpd_participation(data, report)
    services = table[table["service"] != POOLED]
    where = {"service": POOLED} if (table["service"] == POOLED).any() else {}
    row = _first(_display_rows(report, table, spec, people="tutors", **where))
    running = int((services["n_reflection"] > 0).sum()) if len(services) else \
        int((table["n_reflection"] > 0).sum())
    total = len(services) if len(services) else len(table)
    share = _shown_share(report, row, "n_reflection", "n", "pct_reflection")
    text = (f"Critical reflection groups ran in {running} of {_plural(total, 'service')}; "
            + (f"{share} tutors took part." if share else
               "the number of tutors taking part is hidden (small numbers)."))
    regular, rspec = _regularity(data, report)
    rrow = _first(_display_rows(report, regular, rspec, people="tutors", **where))
    share = _shown_share(report, rrow, "n_regular", "n", "pct_regular")
    if share:
        text += f" {_upper(share)} tutors took part termly or more often."
    any_share = _shown_share(report, row, "n_any_cpd", "n", "pct_any_cpd")
    if any_share:
        text += f" {_upper(any_share)} tutors took part in some CPD."
    return _YES, text


def _ev_core(report: Report) -> tuple[str, str]:
    sentences = []
    stages = report.table("stages")
    if len(stages):
        summary = _workforce.journey_summary(_stage_journey(report, stages))
        overall = summary[summary["area"] == _workforce.ALL_AREAS]
        if len(overall) and int(overall["n"].iloc[0]):
            o = overall.iloc[0]
            sentences.append(f"Stages of inclusion: {int(o['n_moved_on'])} of "
                             f"{int(o['n'])} service-area placements moved on between baseline "
                             f"and follow-up, {int(o['n_moved_back'])} moved back.")
        early = _workforce.early_stage_areas(stages, early=tuple(_opt(report, "early_stages")))
        most = early[early["n_early"] > _opt(report, "majority") * early["n"]]
        if len(most):
            sentences.append("Most services are still at an early stage in: "
                             + listing(list(most["area"])) + ".")
    if not report.table("participants").empty:
        table, spec = _progression(report)
        where = {"service": POOLED} if (table["service"] == POOLED).any() else {}
        row = _first(_display_rows(report, table, spec, **where))
        share = _shown_share(report, row, "n_progressed", "n_known", "share_progressed", 100)
        if share:
            sentences.append(f"{_upper(share)} completers whose next step is known went on to "
                             "regular music-service provision.")
    if not sentences:
        return _NONE, f"No stages placements or progression records for {report.year}."
    return _PARTIAL, " ".join(sentences) + (" These are indirect measures: the data do not "
                                            "record changes to core provision itself.")


def _ev_leaders(report: Report) -> tuple[str, str]:
    return _NONE, ("No quantitative measure of leaders making the case for inclusion is in the "
                   "data. Section 1 of the ED&I audit ('Embedding equality, diversity and "
                   "inclusion') has statements about the board and senior leaders, but does not "
                   "measure advocacy.")


_PRINCIPLE_EVIDENCE: dict[str, tuple[Callable[[Report], tuple[str, str]], str]] = {
    "Holistic": (_ev_holistic, "Part 3: outcomes"),
    "Equitable": (_ev_equitable, "Part 3: representation and equity"),
    "Authentic": (_ev_authentic, "-"),
    "Representative": (_ev_representative, "Part 1: workforce diversity; Part 3: representation"),
    "Diverse": (_ev_diverse, "Part 1: genres"),
}
_FACTOR_EVIDENCE: dict[int, tuple[Callable[[Report], tuple[str, str]], str]] = {
    1: (_ev_plan, "Part 2: audit and stages"),
    2: (_ev_outcomes, "Part 3: outcomes"),
    3: (_ev_reflection, "Part 1: CPD and critical reflection"),
    4: (_ev_core, "Part 2: stages journey; partners and reach (progression)"),
    5: (_ev_leaders, "-"),
}


def _evidence(report: Report, function: Callable[[Report], tuple[str, str]]) -> tuple[str, str]:
    """(status, statement) of one principle or factor, worked out once per report: the
    annual report quotes each factor on its own and again in the HEARD summary."""
    return _cached(report, f"evidence {function.__name__}", lambda: function(report),
                   policy=True)


def heard_evidence_table(report: Report) -> pd.DataFrame:
    """What evidence the data hold for each HEARD principle and each factor for success.

    Every statement is computed from the analysis modules for the report's
    year; counts of people are given only when they may be published. Where
    the data hold nothing (co-design for *Authentic*; leaders making the case,
    factor 5), the status is "No data" -- evidence is never invented.

    Returns
    -------
    DataFrame
        Ten rows: the five principles (Holistic, Equitable, Authentic,
        Representative, Diverse), then factors 1-5. Columns ``kind`` ("HEARD
        principle" or "Factor for success"), ``item`` (name, or "1. Start
        somewhere..."), ``meaning`` (what it asks), ``status`` ("Yes",
        "Partial" or "No data"), ``evidence`` (a short statement), ``where``
        (where in the annual report). No counts: nothing to suppress.
    """
    rows = []
    for name, meaning in HEARD_PRINCIPLES.items():
        function, where = _PRINCIPLE_EVIDENCE[name]
        status, text = _evidence(report, function)
        rows.append({"kind": "HEARD principle", "item": name, "meaning": meaning,
                     "status": status, "evidence": text, "where": where})
    for number, factor in FACTORS_FOR_SUCCESS.items():
        function, where = _FACTOR_EVIDENCE[number]
        status, text = _evidence(report, function)
        rows.append({"kind": "Factor for success", "item": f"{number}. {factor}",
                     "meaning": "", "status": status, "evidence": text, "where": where})
    out = pd.DataFrame(rows, columns=["kind", "item", "meaning", "status", "evidence", "where"])
    out.attrs["settings"] = {"year": report.year, "threshold": report.policy.threshold}
    return out


@shared_section
def heard_evidence(report: Report) -> Published:
    """The HEARD summary table: evidence per principle and factor, with "No data" where none."""
    table = heard_evidence_table(report)
    table = table.assign(item=[f"{i} ({m})" if m else i
                               for i, m in zip(table["item"], table["meaning"])])
    published = _publish(report, table, {"kind": "", "item": "Principle or factor",
                                       "status": "Evidence in the data",
                                       "evidence": "What the data show",
                                       "where": "Where in this report"},
                               caption=f"What the {report.year} data say about the HEARD "
                                       "principles and the factors for success",
                               counts=[], derived={})
    published.footnote = (f"Numbers of young people or tutors below {report.policy.threshold} "
                          "are not given. 'Partial': the data hold indirect or incomplete "
                          "evidence. 'No data': the data hold nothing on this.")
    return published


@shared_section
def factor_evidence(report: Report, number: int) -> Note:
    """One factor for success and what the data show for it, as a highlighted sentence."""
    if number not in FACTORS_FOR_SUCCESS:
        raise ValueError(f"number: expected a factor for success from 1 to 5, found {number!r}")
    function, _ = _FACTOR_EVIDENCE[number]
    status, text = _evidence(report, function)
    lead = f"Factor for success {number}: '{FACTORS_FOR_SUCCESS[number]}'. "
    if status == _NONE:
        return Note(lead + "No data: " + text)
    return Note(lead + "What the data show: " + text)


@shared_section
def comparison_caveats(report: Report) -> Note:
    """How to read the comparison: no league table, and the main caveats, in one paragraph."""
    threshold = report.policy.threshold
    return Note(
        "Services are listed alphabetically and are not ranked: they work with different "
        "young people in different settings, and most groups are small, so differences "
        "between services are uncertain. Numbers below "
        f"{threshold} young people (or tutors) are hidden, and so is anything computed from "
        "them. Wellbeing change in an uncontrolled before-and-after design may partly be "
        "regression to the mean; some questionnaires come from young people below the "
        "scales' validated age; lockdown in 2020 cut follow-ups short; and services that used "
        "different questionnaires are compared on the SWEMWBS metric score only.")
