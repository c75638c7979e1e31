"""Sections of a service report: one music service's programme year, ready to show.

Each public function takes a :class:`~changing_tracks.reports.Report` opened for
one service (``open_report(data_dir, year, service=...)``) and returns what a
notebook cell shows: a :class:`~changing_tracks.reports.Published` table, a
:class:`~changing_tracks.reports.Note`, a
:class:`~changing_tracks.reports.ShownFigure`, a
:class:`~changing_tracks.reports.Text` (generated prose) or
:class:`~changing_tracks.reports.Parts` (a few of these shown one after another). The numbers
come from the analysis modules (:mod:`~changing_tracks.participation`,
:mod:`~changing_tracks.wellbeing`, :mod:`~changing_tracks.audit`,
:mod:`~changing_tracks.outcomes`, :mod:`~changing_tracks.workforce`); this
module only chooses, labels and publishes them. Every table about young people
or tutors goes through :meth:`Report.publish` (disclosure control), every figure
through :meth:`Report.plot` / :meth:`Report.figure`. A section whose data are
missing returns a "no data" note, never an exception.

Sections, in report order (:data:`SECTIONS`):

1. introduction -- :func:`introduction`;
2. who took part -- :func:`reach_summary`, :func:`reach_by`,
   :func:`representation_table`, :func:`representation_figure`;
3. engagement and progression -- :func:`attendance_table`,
   :func:`attendance_figure`, :func:`retention_table`, :func:`progression_table`,
   :func:`equity_tables`, :func:`equity_figure`;
4. organisation -- :func:`audit_completion`, :func:`audit_scores`,
   :func:`audit_figure`, :func:`audit_disagreement`, :func:`audit_priorities`,
   :func:`stages_table`, :func:`stages_figure`;
5. workforce -- :func:`cpd_participation_table`, :func:`cpd_topics_table`,
   :func:`cpd_format_table`, :func:`workforce_diversity_table`,
   :func:`workforce_figure`, :func:`genres_table`;
6. wellbeing -- :func:`wellbeing_summary`, :func:`wellbeing_attrition`,
   :func:`wellbeing_change`, :func:`wellbeing_reliable_change`,
   :func:`wellbeing_figures`, :func:`wellbeing_caveats`;
7. tutor-rated outcomes -- :func:`outcomes_distribution_table`,
   :func:`outcomes_distribution_figure`, :func:`outcomes_change_table`,
   :func:`outcomes_change_figure`, :func:`outcomes_coverage`;
8. provenance -- :meth:`Report.provenance` (called by the notebook directly).

Analysis choices read from ``report.analysis`` (all optional; the default is
the analysis module's documented default):

``wellbeing_scale`` (``"SWEMWBS"``)
    Scale analysed: the SWEMWBS metric score (from SWEMWBS questionnaires and
    the seven SWEMWBS items of WEMWBS ones) or the ``"WEMWBS"`` total.
``wellbeing_allow_missing`` (``0``)
    Most unanswered items a questionnaire may have and still be scored
    (prorated, :func:`changing_tracks.wellbeing.score`); 0 = complete only.
``wellbeing_selection_cutoff`` (``None``)
    Baseline score below which young people were selected for the project;
    when given, the change expected from regression to the mean is estimated.
``wellbeing_reliable_change_threshold`` (``None``)
    Reliable-change threshold in scale points; default Jacobson-Truax from the
    scale's published SD/reliability (SWEMWBS 2.86, WEMWBS 10.2).
``min_n_for_tests`` (``10``)
    Fewest young people for a p-value (wellbeing and outcomes).
``attendance_threshold`` (``0.75``)
    Attendance rate counted as regular attendance.
``audit_method`` / ``audit_halves`` / ``audit_not_applicable``
    (``"median"`` / ``"keep"`` / ``"majority"``): how raters' ratings are collated
    (:func:`changing_tracks.audit.collate`).
``audit_priorities`` (``10``)
    Lowest-rated statements listed as action priorities.
``audit_deadline`` / ``audit_extended_deadline`` (``"2020-07-31"`` / ``"2020-09-30"``)
    Follow-up audit deadlines (lockdown moved July to September 2020).
``organisation_cutoff`` (``None``)
    Audit ratings and stage placements count for a programme year when dated
    on or before this date; default 30 September after the year ends (the
    lockdown extension of the 2020 audit deadline). Undated rows always count.
    Applied by :meth:`Report.table` (:func:`changing_tracks.reports.organisation_cutoff`).
``outcomes_gap_threshold`` (``0.5``)
    Share of the best-covered domain's young people below which an outcome
    domain is flagged as a gap (:func:`changing_tracks.outcomes.coverage`).

The headings of the columns that count people (as disclosure control treats
them) are listed in ``Published.table.attrs["count_columns"]``, so that tests
can check that no small count is shown; disclosure warnings raised while
publishing are kept in ``Published.table.attrs["disclosure_warnings"]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .. import audit as _audit
from .. import outcomes as _outcomes
from .. import participation as _participation
from .. import wellbeing as _wellbeing
from .. import workforce as _workforce
from ..contracts import OUTCOME_DOMAINS, STAGE_AREAS
from . import (LOCKDOWN, POOLED, Note, Parts, Published, Report, ShownFigure, Text, count_text,
               declared_spec, listing, percent, year_dates)

__all__ = [
    "SECTIONS",
    "LOCKDOWN",
    "introduction",
    "reach_summary",
    "reach_by",
    "representation_table",
    "representation_figure",
    "attendance_table",
    "attendance_figure",
    "retention_table",
    "progression_table",
    "equity_tables",
    "equity_figure",
    "audit_completion",
    "audit_scores",
    "audit_figure",
    "audit_disagreement",
    "disagreement_counts",
    "audit_priorities",
    "stages_table",
    "stages_figure",
    "cpd_participation_table",
    "cpd_topics_table",
    "cpd_format_table",
    "workforce_diversity_table",
    "workforce_figure",
    "genres_table",
    "wellbeing_summary",
    "wellbeing_attrition",
    "wellbeing_change",
    "wellbeing_reliable_change",
    "wellbeing_figures",
    "wellbeing_caveats",
    "outcomes_distribution_table",
    "outcomes_distribution_figure",
    "outcomes_change_table",
    "outcomes_change_figure",
    "outcomes_coverage",
]


_Shown = Any  # Published | Note | ShownFigure | Text | Parts


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------



def _part_text(part: int, whole: int, policy: Any) -> str:
    """"k" of a whole for a sentence, or "some" when k or the rest (whole - k) is small."""
    if policy.is_sensitive([int(part)])[0] or policy.is_sensitive([int(whole) - int(part)])[0]:
        return "some" if part else "none"
    return count_text(part, policy)


def _raters_text(wave: str, ratings: pd.DataFrame) -> str:
    k = ratings.loc[ratings["wave"] == wave, "rater"].nunique()
    return f"{wave} ({k} {_plural(k, 'rater', 'raters')})"


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _date_text(value: Any) -> str:
    if value is None or value is pd.NaT or pd.isna(value):
        return "date not recorded"
    ts = pd.Timestamp(value)
    return f"{ts.day} {ts:%B %Y}"


def _where(report: Report) -> str:
    return f"{report.service_name}, {report.year}"


_CHARACTERISTIC_LABELS = {
    "fsm": "Free school meals / Pupil Premium",
    "sen_support": "SEN support",
    "ehc_plan": "EHC plan",
    "looked_after": "Looked after",
    "young_carer": "Young carer",
    "eal": "English as an additional language",
    "sex_female": "Female",
    "sex_male": "Male",
    "ethnicity_asian": "Ethnicity: Asian",
    "ethnicity_black": "Ethnicity: Black",
    "ethnicity_mixed": "Ethnicity: Mixed",
    "ethnicity_white": "Ethnicity: White",
    "ethnicity_other": "Ethnicity: Other",
    "disability": "Disabled",
}
_GROUP_LABELS = {
    "fsm": "Free school meals / Pupil Premium",
    "sen": "SEN support or EHC plan",
    "looked_after": "Looked after",
    "young_carer": "Young carer",
    "eal": "English as an additional language",
}


# --------------------------------------------------------------------------
# 1. Introduction
# --------------------------------------------------------------------------

def introduction(report: Report) -> Text:
    """Who, when, what: the service, year, young people, activities and which data exist.

    Counts of people are shown under the disclosure policy (:func:`count_text`);
    every data set the programme collects is listed with "no data" where the
    service's table is empty for the year, and the disclosure policy is stated.

    Returns
    -------
    Text
    """
    policy = report.policy
    people = report.table("participants")
    lines = [f"**{report.service_name}, programme year {report.year}.**", ""]
    if people.empty:
        lines.append("The data hold no participants for this service in this year.")
    else:
        activities = [a for a in pd.unique(people["activity"].dropna())]
        settings = [s for s in pd.unique(people["setting"].dropna())]
        lines.append(
            f"{count_text(people['participant'].nunique(), policy)} young people took part, "
            f"in {len(activities)} {_plural(len(activities), 'activity', 'activities')} "
            f"({listing(activities)}) in "
            f"{len(settings)} {_plural(len(settings), 'kind of setting', 'kinds of setting')} "
            f"({listing(settings)}).")
    lines += ["", "What the data hold for this service and year:", ""]
    held: list[tuple[str, str | None]] = []

    registers = report.table("attendance")
    held.append(("Attendance registers",
                 f"{registers['session_date'].nunique():,} session dates recorded"
                 if len(registers) else None))

    wellbeing = report.table("wellbeing")
    if wellbeing.empty:
        held.append(("Wellbeing questionnaires (WEMWBS / SWEMWBS)", None))
    else:
        instruments = sorted(wellbeing["instrument"].dropna().unique())
        held.append(("Wellbeing questionnaires",
                     f"{listing(instruments)} ({count_text(len(wellbeing), policy)} "
                     "questionnaires)"))

    ratings = report.table("outcome_ratings")
    if ratings.empty:
        held.append(("Tutor-rated outcomes", None))
    else:
        indicators = report.table("outcome_indicators")
        domains = indicators.loc[indicators["indicator"].isin(ratings["indicator"]), "domain"]
        domains = [d for d in OUTCOME_DOMAINS if d in set(domains)]
        held.append(("Tutor-rated outcomes",
                     f"{count_text(len(ratings), policy)} ratings of "
                     f"{count_text(ratings['participant'].nunique(), policy)} young people "
                     f"({listing(domains) or 'no known'} "
                     f"{_plural(len(domains), 'domain', 'domains')})"))

    audit = report.table("audit_ratings")
    if audit.empty:
        held.append(("ED&I self-assessment (audit)", None))
    else:
        waves = [w for w in ("baseline", "follow-up") if w in set(audit["wave"])]
        held.append(("ED&I self-assessment (audit)",
                     " and ".join(_raters_text(w, audit) for w in waves)))
    stages = report.table("stages")
    if stages.empty:
        held.append(("Stages of inclusion self-placement", None))
    else:
        waves = [w for w in ("baseline", "follow-up") if w in set(stages["wave"])]
        held.append(("Stages of inclusion self-placement", " and ".join(waves)))

    tutors = report.table("tutors")
    if tutors.empty:
        held.append(("Workforce (tutors and CPD)", None))
    else:
        cpd = report.table("cpd")
        held.append(("Workforce (tutors and CPD)",
                     f"{count_text(tutors['tutor'].nunique(), policy)} tutors; "
                     + (f"{count_text(len(cpd), policy)} CPD records" if len(cpd)
                        else "no CPD records")))

    services = report.table("services")
    authority = services["local_authority"].iloc[0] if len(services) else None
    benchmarks = report.table("benchmarks")
    has_benchmarks = authority is not None and \
        bool((benchmarks["local_authority"] == authority).any())
    held.append((f"Population benchmarks for {authority or 'the local authority'}",
                 "school census shares" if has_benchmarks else None))

    for what, detail in held:
        lines.append(f"- {what}: {detail if detail else '**no data**'}")
    missing = [what for what, detail in held if not detail]
    lines.append("")
    if missing:
        lines.append("Sections resting on " + listing([m.split(" (")[0].lower()
                                                         for m in missing])
                     + " say \"no data\" below.")
    else:
        lines.append("Every kind of data the programme collects is present.")
    lines += ["", policy.describe() + " Figures leave out groups of fewer than "
              f"{policy.threshold} people."]
    return Text("\n".join(lines))


# --------------------------------------------------------------------------
# 2. Who took part
# --------------------------------------------------------------------------

def reach_summary(report: Report) -> Published | Note:
    """Young people reached, new and continuing from last year, sessions delivered."""
    people = report.table("participants", all_years=True)
    if report.table("participants").empty:
        return report.no_data("participants")
    table = _participation.reach(people, report.table("attendance", all_years=True),
                                 by=("service", "year"),
                                 pooled=False)
    table = table[table["year"] == report.year].reset_index(drop=True)
    return report.publish(table, {
        "n": "Young people",
        "n_new": "New this year",
        "n_continuing": "Continuing from last year",
        "n_history_unknown": "Not known (no data for last year)",
        "sessions_delivered": "Session dates delivered",
        "attendances": "Attendances",
    }, caption=f"Reach: {_where(report)}", spec={
        "counts": ["n", "n_enrolments", "n_new", "n_continuing", "n_history_unknown"],
        "sums": {"n_enrolments": ["n_new", "n_continuing", "n_history_unknown"]}})


def reach_by(report: Report, by: str = "activity") -> Published | Note:
    """Young people and sessions by activity (``by="activity"``) or setting (``"setting"``)."""
    if by not in ("activity", "setting"):
        raise ValueError(f"by must be 'activity' or 'setting', not {by!r}")
    if report.table("participants").empty:
        return report.no_data("participants")
    people = report.table("participants", all_years=True)
    table = _participation.reach(people, report.table("attendance", all_years=True),
                                 by=("service", "year", by),
                                 pooled=False)
    table = table[table["year"] == report.year].reset_index(drop=True)
    table = table[["service", "year", by, "n", "sessions_delivered"]]
    return report.publish(table, {
        by: by.capitalize(),
        "n": "Young people",
        "sessions_delivered": "Session dates delivered",
    }, caption=f"Young people by {by}: {_where(report)}", spec={
        "counts": ["n"], "groups": [["service", "year"]], "additive": ["n"]})


def _representation(report: Report) -> pd.DataFrame:
    """The service's representation table (worked out once per report: table and figure)."""
    return report.cached("service representation", lambda: _participation.representation(
        report.table("participants"), report.table("benchmarks"), report.table("services"),
        year=report.year, pooled=False))


def _representation_spec(table: pd.DataFrame, ethnicity: bool) -> dict:
    """Disclosure spec for one part of :func:`participation.representation`'s table.

    Binary characteristics stand alone (the share with it and its complement
    among those recorded); the five ethnic groups add up to those recorded.
    """
    derived = dict(declared_spec(table).get("derived", {}))
    spec = {"counts": ["n", "n_known", "n_unknown", "n_with"], "derived": derived,
            "sums": {"n": ["n_known", "n_unknown"]}, "complements": {"n_with": "n_known"},
            "keep": ["benchmark", "df"]}
    if ethnicity:
        spec.update({"groups": [["service", "year"]], "additive": ["n_with"]})
    return spec


def representation_table(report: Report) -> Parts | Note:
    """Participants' profile against the local-authority population (shares, ratios, unknowns).

    Share of young people with each characteristic (among those with it
    recorded) with its Wilson 95% interval, the population share (school
    census, the phase named in the footnote), the representation ratio with its
    interval, and how many were not recorded. Ethnicity is a second table (its
    five groups add up to those recorded).
    """
    if report.table("participants").empty:
        return report.no_data("participants")
    table = _representation(report)
    attrs = dict(table.attrs)
    table = percent(table, ["share", "ci_low", "ci_high", "benchmark"])
    table["label"] = table["characteristic"].map(_CHARACTERISTIC_LABELS).fillna(
        table["characteristic"])
    columns = {
        "label": "Characteristic",
        "n_known": "Recorded",
        "n_with": "With it",
        "share": "% of recorded",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
        "benchmark": "Population %",
        "ratio": "Ratio",
        "ratio_ci_low": "Ratio CI low",
        "ratio_ci_high": "Ratio CI high",
        "n_unknown": "Not recorded",
    }
    phases = table["benchmark_phase"].dropna().unique()
    sources = table["benchmark_source"].dropna().unique()
    authority = table["local_authority"].iloc[0]
    parts = Parts()
    for ethnicity in (False, True):
        rows = table[(table["family"] == "ethnicity") == ethnicity].reset_index(drop=True)
        if rows.empty:
            continue
        rows.attrs = attrs
        published = report.publish(
            rows, columns, spec=_representation_spec(rows, ethnicity),
            caption=(f"Ethnicity of those taking part compared with {authority}"
                     if ethnicity else f"Who took part compared with {authority}")
            + f": {_where(report)}", decimals={"ratio": 2, "ratio_ci_low": 2,
                                               "ratio_ci_high": 2})
        published.footnote = (
            "Ratio = share of participants / population share (1 = represented as in the "
            "population); intervals are Wilson 95% intervals on the participant share. "
            f"Population shares: {listing(list(sources)) or 'none available'}"
            f" ({listing(list(phases)) or 'no'} phase"
            + (", rescaled to the five groups" if ethnicity else "") + "). "
            + published.footnote)
        parts.append(published)
    return parts


def representation_figure(report: Report) -> ShownFigure | Note:
    """Dot plot of representation ratios with intervals (values hidden in the table not drawn)."""
    if report.table("participants").empty:
        return report.no_data("participants")
    table = _representation(report)
    ethnic = (table["family"] == "ethnicity").to_numpy()
    plot_table = pd.concat([
        report.masked(table[~ethnic].reset_index(drop=True),
                _representation_spec(table, False)),
        report.masked(table[ethnic].reset_index(drop=True),
                _representation_spec(table, True))], ignore_index=True)
    plot_table["service"] = report.service_name
    if plot_table["ratio"].notna().sum() == 0:
        return Note("No figure: no representation ratio can be published for "
                    f"{report.service_name} in {report.year} (no benchmark, or groups too small).")
    shown = report.plot(_participation.plot_representation, plot_table, n="n", by="service",
                        alt=f"Representation ratios for {report.service_name}",
                        year=report.year)
    if isinstance(shown, ShownFigure):
        shown.note = " ".join(filter(None, [shown.note, (
            "Characteristics marked n/a have no population benchmark or are hidden in the "
            "table above because they rest on small numbers.")]))
    return shown


# --------------------------------------------------------------------------
# 3. Engagement and progression
# --------------------------------------------------------------------------

def _rates(report: Report) -> pd.DataFrame | Note:
    people = report.table("participants")
    registers = report.table("attendance")
    if registers.empty:
        return report.no_data("attendance registers")
    try:
        rates = _participation.attendance_rates(people, registers)
    except ValueError:
        problems = _participation.register_problems(people, registers)
        errors = int((problems["severity"] == "error").sum())
        return Note(f"Attendance is not reported: the registers of {report.service_name} "
                    f"contradict its participants table in {errors:,} places "
                    "(participation.register_problems lists them for the data holders).")
    return rates[rates["year"] == report.year]


def _attendance_summary(report: Report) -> pd.DataFrame | Note:
    """Attendance by activity and overall (worked out once per report: table and figure)."""
    return report.cached("service attendance summary", lambda: _attendance_by_activity(report))


def _attendance_by_activity(report: Report) -> pd.DataFrame | Note:
    rates = _rates(report)
    if isinstance(rates, Note):
        return rates
    if rates.empty:
        return report.no_data("attendance registers")
    threshold = float(report.setting("attendance_threshold"))
    overall = _participation.attendance_summary(rates, by=("service", "year"),
                                                threshold=threshold, pooled=False)
    by_activity = _participation.attendance_summary(rates, by=("service", "year", "activity"),
                                                    threshold=threshold, pooled=False)
    spec = declared_spec(by_activity)
    overall = overall.assign(activity="All activities")
    table = pd.concat([by_activity, overall[by_activity.columns]], ignore_index=True)
    spec = dict(spec)
    spec["groups"] = [["service", "year"]]
    spec["total"] = {"activity": "All activities"}
    spec["additive"] = ["n", "n_at_least", "n_no_sessions"]
    table.attrs = {"suppress": spec, "settings": by_activity.attrs.get("settings", {})}
    return table


def attendance_table(report: Report) -> Published | Note:
    """Attendance rates by activity: median, quartiles, mean and the share attending regularly."""
    table = _attendance_summary(report)
    if isinstance(table, Note):
        return table
    spec = declared_spec(table)
    threshold = float(table["threshold"].iloc[0])
    table = percent(table, ["mean", "q1", "median", "q3", "share_at_least", "ci_low",
                             "ci_high"])
    published = report.publish(table, {
        "activity": "Activity",
        "n": "Young people",
        "median": "Median attendance %",
        "q1": "Lower quartile %",
        "q3": "Upper quartile %",
        "mean": "Mean %",
        "n_at_least": f"Attended {threshold:.0%} or more",
        "share_at_least": f"% attending {threshold:.0%} or more",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
    }, caption=f"Attendance (sessions attended / sessions offered): {_where(report)}",
        spec=spec, decimals=0)
    return published


def attendance_figure(report: Report) -> ShownFigure | Note:
    """Box summary of attendance rates per activity (from the summary, not individual rates)."""
    table = _attendance_summary(report)
    if isinstance(table, Note):
        return table
    plot_table = report.masked(table, declared_spec(table)).assign(service=pd.NA)
    return report.plot(_participation.plot_attendance, plot_table, n="n", by="activity",
                       noun=("activity", "activities"),
                       alt=f"Attendance rates by activity, {report.service_name}",
                       year=report.year)


def retention_table(report: Report) -> Published | Note:
    """Completed / (completed + withdrew); young people still active are counted apart."""
    people = report.table("participants")
    if people.empty:
        return report.no_data("participants")
    table = _participation.retention(people, pooled=False)
    table = percent(table, ["share_completed", "ci_low", "ci_high"])
    return report.publish(table, {
        "n": "Young people",
        "n_completed": "Completed",
        "n_withdrew": "Withdrew",
        "n_active": "Still active",
        "n_status_unknown": "Not known",
        "share_completed": "Retention %",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
    }, caption=f"Retention: {_where(report)}")


def progression_table(report: Report) -> Published | Note:
    """Progression of completers into regular provision (lessons, ensemble, music centre)."""
    people = report.table("participants")
    if people.empty:
        return report.no_data("participants")
    table = _participation.progression(people, pooled=False)
    table = percent(table, ["share_progressed", "ci_low", "ci_high"])
    return report.publish(table, {
        "n": "Completers",
        "n_known": "Progression known",
        "n_progressed": "Progressed",
        "n_lessons": "Lessons",
        "n_ensemble": "Ensemble",
        "n_music_centre": "Music centre",
        "n_other": "Other",
        "share_progressed": "% progressed",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
    }, caption=f"Progression into regular music-service provision: {_where(report)}")


def _equity(report: Report) -> pd.DataFrame | Note:
    """Equity gaps of the service's year; ``attrs["suppress_by_measure"]`` has each
    measure's disclosure spec (as :func:`changing_tracks.participation.equity_gaps` sets it).
    Worked out once per report (tables and figure)."""
    return report.cached("service equity", lambda: _equity_gaps(report))


def _equity_gaps(report: Report) -> pd.DataFrame | Note:
    people = report.table("participants")
    if people.empty:
        return report.no_data("participants")
    registers = report.table("attendance")
    try:
        gaps = _participation.equity_gaps(people, registers if len(registers) else None,
                                          pooled=False)
    except ValueError:  # registers contradicting the participants: no attendance measure
        gaps = _participation.equity_gaps(people, None, pooled=False)
    return gaps


_MEASURE_TEXT = {
    "attendance": "Mean attendance rate (%)",
    "retention": "Retention: completed of those who finished (%)",
    "progression": "Progression into regular provision, among completers (%)",
}


def equity_tables(report: Report) -> Parts | Note:
    """Priority groups against their peers: attendance, retention and progression.

    Groups: free school meals / Pupil Premium, SEN, looked after, young carers.
    Differences are group minus peers in percentage points with Welch (attendance)
    or Newcombe (proportions) 95% intervals.
    """
    gaps = _equity(report)
    if isinstance(gaps, Note):
        return gaps
    args = gaps.attrs.get("suppress_by_measure", {})
    parts = Parts()
    for measure in ("attendance", "retention", "progression"):
        rows = gaps[gaps["measure"] == measure].reset_index(drop=True)
        if rows.empty:
            continue
        rows = percent(rows, ["estimate_group", "group_ci_low", "group_ci_high",
                               "estimate_peers", "peers_ci_low", "peers_ci_high",
                               "difference", "ci_low", "ci_high"])
        rows["label"] = rows["group"].map(_GROUP_LABELS).fillna(rows["group"])
        spec = dict(args.get(measure, {}))
        columns = {"label": "Priority group", "n_group": "In group", "n_peers": "Peers",
                   "n_unknown": "Not recorded"}
        if measure != "attendance":
            columns.update({"n_group_outcome": "In group: " + (
                "completed" if measure == "retention" else "progressed"),
                "n_peers_outcome": "Peers: " + (
                "completed" if measure == "retention" else "progressed")})
        columns.update({"estimate_group": "Group %", "estimate_peers": "Peers %",
                        "difference": "Difference (points)", "ci_low": "95% CI low",
                        "ci_high": "95% CI high"})
        parts.append(report.publish(rows, columns, spec=spec,
                              caption=f"{_MEASURE_TEXT[measure]}: {_where(report)}"))
    return parts if parts else report.no_data("participants")


def equity_figure(report: Report) -> ShownFigure | Note:
    """Retention and progression of each priority group beside its peers (groups of 10+ only)."""
    gaps = _equity(report)
    if isinstance(gaps, Note):
        return gaps
    args = gaps.attrs.get("suppress_by_measure", {})
    pieces = []
    for measure in ("retention", "progression"):
        rows = gaps[gaps["measure"] == measure].reset_index(drop=True)
        if len(rows):
            pieces.append(report.masked(rows, args.get(measure, {})))
    if not pieces:
        return report.no_data("participants")
    table = pd.concat(pieces, ignore_index=True)
    table["group"] = table["group"].map(_GROUP_LABELS).fillna(table["group"])
    # A group with nobody in it has nothing to draw: leave it out (and say so) like a small one.
    # So is a comparison whose group estimate is hidden (it rests on fewer people).
    table["n_group"] = table["n_group"].astype("Int64").mask(
        (table["n_group"] == 0) | table["estimate_group"].isna())
    table["label"] = table["group"] + " (" + table["measure"] + ")"
    table["service"] = report.service_name
    if not (table["n_group"].fillna(0) >= max(report.policy.threshold, 1)).any():
        return Note(f"No figure: in {report.service_name} every priority group's retention "
                    f"and progression rest on fewer than {report.policy.threshold} young "
                    "people, so they appear only as hidden numbers in the tables above.")
    return report.plot(_participation.plot_equity_gaps, table, n="n_group", by="label",
                       noun=("comparison", "comparisons"),
                       alt=f"Priority groups and their peers, {report.service_name}",
                       service=report.service_name, year=report.year)


# --------------------------------------------------------------------------
# 4. Organisation: audit and stages of inclusion
# --------------------------------------------------------------------------

def _audit_options(report: Report) -> dict:
    return {"method": report.setting("audit_method"),
            "halves": report.setting("audit_halves"),
            "not_applicable": report.setting("audit_not_applicable")}


def _audit_change(report: Report, ratings: pd.DataFrame) -> pd.DataFrame:
    """:func:`changing_tracks.audit.change` of the service (once per report: table and figure)."""
    return report.cached("service audit change", lambda: _audit.change(
        ratings, report.table("audit_statements"), **_audit_options(report)))


def audit_completion(report: Report) -> Published | Parts | Note:
    """When the service completed each audit wave, and the follow-up against its deadline."""
    ratings = report.table("audit_ratings")
    if ratings.empty:
        return report.no_data("ED&I audit ratings")
    deadline = pd.Timestamp(report.setting("audit_deadline"))
    extended = report.setting("audit_extended_deadline")
    extended = pd.Timestamp(extended) if extended else None
    table = _audit.completion(ratings, deadline=deadline.date(),
                              extended_deadline=extended.date() if extended is not None else None)
    cutoff = report.cutoff
    columns = {"baseline_completed": "Baseline completed",
               "n_raters_baseline": "Raters at baseline",
               "follow_up_completed": "Follow-up completed",
               "n_raters_follow_up": "Raters at follow-up"}
    if deadline <= cutoff:
        columns.update({"status": "Follow-up status", "deadline": "Deadline that applied"})
        table["deadline"] = pd.to_datetime(table["deadline"])
    published = report.publish(table, columns, organisations=True,
                         caption=f"Completion of the ED&I self-assessment: {_where(report)}")
    if deadline > cutoff:
        return Parts([Note(f"The follow-up audit was due by {_date_text(deadline)}"
                           + (f" ({_date_text(extended)} with the lockdown extension)"
                              if extended is not None else "")
                           + f", after the {report.year} programme year: this report shows "
                           "the audit as it stood by the end of the year."), published])
    return published


def audit_scores(report: Report) -> Published | Note:
    """Section and total scores at each wave, change, and statements improved / same / declined."""
    ratings = report.table("audit_ratings")
    if ratings.empty:
        return report.no_data("ED&I audit ratings")
    table = _audit_change(report, ratings)
    table["section_label"] = np.where(table["section"] == "Total", "Total",
                                      table["section"].astype(str) + ". "
                                      + table["section_title"].astype(str))
    table["p_sign"] = table["p_sign"].astype("float64")
    return report.publish(table, {
        "section_label": "Section",
        "score_baseline": "Baseline score",
        "pct_baseline": "Baseline %",
        "score_follow_up": "Follow-up score",
        "pct_follow_up": "Follow-up %",
        "change_pct": "Change (% points)",
        "n_paired": "Statements rated at both",
        "n_improved": "Improved",
        "n_same": "Same",
        "n_declined": "Declined",
        "p_sign": "Sign test p",
        "note": "Note",
    }, caption=f"ED&I self-assessment scores (collated {table['method'].iloc[0]} of raters): "
               f"{_where(report)}", organisations=True,
        decimals={"p_sign": 3, "score_baseline": 1, "score_follow_up": 1})


def audit_figure(report: Report) -> ShownFigure | Note:
    """Dumbbell chart: % of the applicable maximum at baseline and follow-up, per section."""
    ratings = report.table("audit_ratings")
    if ratings.empty:
        return report.no_data("ED&I audit ratings")
    table = _audit_change(report, ratings)
    table["service"] = report.service_name
    return report.figure(_audit.plot_dumbbell(table),
                         alt=f"Audit scores at baseline and follow-up, {report.service_name}")


def disagreement_counts(collated: pd.DataFrame, disagree_at: int = 2) -> pd.DataFrame:
    """Statements by how far the raters' ratings were apart, per wave.

    Parameters
    ----------
    collated : DataFrame
        Output of :func:`changing_tracks.audit.collate` for one service
        (``wave``, ``n_rated``, ``spread``, ``n_raters``).
    disagree_at : int, default 2
        Spread counted as disagreement.

    Returns
    -------
    DataFrame
        One row per wave present: ``wave``, ``n_raters`` (most raters of a
        statement), ``n_statements`` (statements rated by at least two
        raters), ``n_same`` (spread 0), ``n_one_apart`` (spread 0 < s <
        ``disagree_at``), ``n_disagree`` (spread >= ``disagree_at``),
        ``pct_disagree``.
    """
    rows = []
    for wave in ("baseline", "follow-up"):
        part = collated[collated["wave"] == wave]
        if part.empty:
            continue
        several = part[part["n_rated"] >= 2]
        spread = several["spread"].astype("float64")
        n = len(several)
        n_disagree = int((spread >= disagree_at).sum())
        rows.append({"wave": wave, "n_raters": int(part["n_raters"].max()),
                     "n_statements": n, "n_same": int((spread == 0).sum()),
                     "n_one_apart": int(((spread > 0) & (spread < disagree_at)).sum()),
                     "n_disagree": n_disagree,
                     "pct_disagree": 100 * n_disagree / n if n else np.nan})
    return pd.DataFrame(rows, columns=["wave", "n_raters", "n_statements", "n_same",
                                       "n_one_apart", "n_disagree", "pct_disagree"])


def audit_disagreement(report: Report) -> Published | Note:
    """How often the service's raters agreed on a statement, per wave."""
    ratings = report.table("audit_ratings")
    if ratings.empty:
        return report.no_data("ED&I audit ratings")
    opts = _audit_options(report)
    collated = _audit.collate(ratings, method=opts["method"], halves=opts["halves"],
                              not_applicable=opts["not_applicable"])
    table = disagreement_counts(collated)
    if table["n_statements"].sum() == 0:
        return Note("Rater agreement cannot be shown: each statement was rated by one rater.")
    return report.publish(table, {
        "wave": "Wave",
        "n_raters": "Raters",
        "n_statements": "Statements rated by 2+ raters",
        "n_same": "All raters agreed",
        "n_one_apart": "One point apart",
        "n_disagree": "Two points apart (disagree)",
        "pct_disagree": "% disagreeing",
    }, caption=f"Rater agreement in the ED&I self-assessment: {_where(report)}",
        organisations=True)


def audit_priorities(report: Report) -> Published | Note:
    """The lowest-rated statements at the latest wave: candidates for the action plan."""
    ratings = report.table("audit_ratings")
    if ratings.empty:
        return report.no_data("ED&I audit ratings")
    table = _audit.priorities(ratings, report.table("audit_statements"),
                              n=int(report.setting("audit_priorities")),
                              **_audit_options(report))
    if table.empty:
        return Note(f"No action priorities: every statement {report.service_name} rated "
                    "was fully met at its latest audit.")
    table["disagree"] = table["disagree"].astype(bool)
    table["spread"] = table["spread"].astype("float64")
    return report.publish(table, {
        "rank": "Priority",
        "statement": "Statement",
        "section": "Section",
        "text": "Statement wording",
        "rating_label": "Collated rating",
        "spread": "Raters' spread (points)",
        "disagree": "Raters disagree",
    }, caption=f"Action priorities: lowest-rated statements at the {table['wave'].iloc[0]} "
               f"audit, {_where(report)}", organisations=True, decimals=0)


def _journey(report: Report) -> pd.DataFrame | None:
    stages = report.table("stages")
    if stages.empty:
        return None
    return report.cached("service stage journey", lambda: _workforce.stage_journey(stages))


def stages_table(report: Report) -> Published | Note:
    """Where the service placed itself on the stages of inclusion per area, and how it moved."""
    journey = _journey(report)
    if journey is None:
        return report.no_data("stages of inclusion self-placements")
    return report.publish(journey, {
        "area": "Area",
        "stage_baseline": "Baseline stage",
        "stage_follow_up": "Follow-up stage",
        "direction": "Journey",
    }, caption=f"Stages of inclusion (exclusion → segregation → integration → inclusion): "
               f"{_where(report)}", organisations=True)


def stages_figure(report: Report) -> ShownFigure | Note:
    """Each area's move between the stages of inclusion from baseline to follow-up."""
    journey = _journey(report)
    if journey is None:
        return report.no_data("stages of inclusion self-placements")
    journey = journey.assign(service=report.service_name)
    areas = [a for a in STAGE_AREAS if a in set(journey["area"])]
    return report.figure(_workforce.plot_stage_journey(journey, areas=areas),
                         alt=f"Stages of inclusion journey per area, {report.service_name}")


# --------------------------------------------------------------------------
# 5. Workforce
# --------------------------------------------------------------------------

def _tutors(report: Report) -> tuple[pd.DataFrame, pd.DataFrame]:
    return report.table("tutors"), report.table("cpd")


def cpd_participation_table(report: Report) -> Parts | Note:
    """Share of tutors in any CPD and in critical reflection, and how regularly (termly or more)."""
    tutors, cpd = _tutors(report)
    if tutors.empty:
        return report.no_data("tutors")
    part = _workforce.cpd_participation(tutors, cpd, report.year, pooled=False)
    part = part[part["service"] == report.service].reset_index(drop=True)
    spec = {"counts": ["n", "n_any_cpd", "n_reflection", "n_no_cpd"],
            "derived": {"pct_any_cpd": ["n", "n_any_cpd"],
                        "ci_low_any_cpd": ["n", "n_any_cpd"],
                        "ci_high_any_cpd": ["n", "n_any_cpd"],
                        "pct_reflection": ["n", "n_reflection"],
                        "ci_low_reflection": ["n", "n_reflection"],
                        "ci_high_reflection": ["n", "n_reflection"]},
            "sums": {"n": ["n_any_cpd", "n_no_cpd"]},
            "complements": {"n_reflection": "n"}}
    first = report.publish(part, {
        "n": "Tutors",
        "n_any_cpd": "Any CPD",
        "pct_any_cpd": "% any CPD",
        "n_reflection": "Critical reflection",
        "pct_reflection": "% critical reflection",
        "ci_low_reflection": "95% CI low",
        "ci_high_reflection": "95% CI high",
    }, caption=f"Tutors taking part in CPD: {_where(report)}", spec=spec, people="tutors",
        decimals=0)
    regular = _workforce.reflective_regularity(tutors, cpd, report.year, pooled=False)
    regular = regular[regular["service"] == report.service].reset_index(drop=True)
    spec = {"counts": ["n", "n_regular", "n_some", "n_none"],
            "derived": {"pct_regular": ["n", "n_regular"], "ci_low": ["n", "n_regular"],
                        "ci_high": ["n", "n_regular"]},
            "sums": {"n": ["n_regular", "n_some", "n_none"]}}
    second = report.publish(regular, {
        "n": "Tutors",
        "n_regular": "Every term",
        "n_some": "Some terms",
        "n_none": "Never",
        "pct_regular": "% every term",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
    }, caption=f"Critical reflection termly or more often: {_where(report)}", spec=spec,
        people="tutors", decimals=0)
    return Parts([first, second])


def cpd_topics_table(report: Report) -> Published | Note:
    """CPD by topic: tutors attending, sessions held and hours (per tutor listed)."""
    tutors, cpd = _tutors(report)
    if tutors.empty:
        return report.no_data("tutors")
    if cpd.empty:
        return report.no_data("CPD records")
    table = _workforce.cpd_summary(tutors, cpd, report.year, pooled=False)
    table = table[table["service"] == report.service].reset_index(drop=True)
    spec = declared_spec(table)
    spec["derived"] = dict(spec.get("derived", {}), pct_attended=["n", "n_attended"],
                           hours_per_tutor=["n", "n_attended"],
                           sessions_per_tutor=["n", "n_attended"])
    spec["complements"] = {"n_attended": "n"}
    return report.publish(table, {
        "topic": "Topic",
        "n_attended": "Tutors attending",
        "pct_attended": "% of tutors",
        "n_meetings": "Sessions held",
        "hours": "Tutor-hours",
        "hours_per_tutor": "Hours per tutor",
    }, caption=f"CPD and reflective practice by topic: {_where(report)}", spec=spec,
        people="tutors", decimals={"pct_attended": 0, "hours": 1, "hours_per_tutor": 1})


def cpd_format_table(report: Report) -> Published | Note:
    """Online vs in-person CPD by term (the shift online from April 2020)."""
    tutors, cpd = _tutors(report)
    if tutors.empty:
        return report.no_data("tutors")
    if cpd.empty:
        return report.no_data("CPD records")
    table = _workforce.cpd_format(cpd, tutors, pooled=False)
    table = table[(table["service"] == report.service) & (table["year"] == report.year)]
    table = table.reset_index(drop=True)
    if table.empty or table["n_sessions"].sum() == 0:
        return report.no_data("CPD records")
    spec = declared_spec(table)
    return report.publish(table, {
        "term": "Term",
        "format": "Format",
        "n": "Tutors",
        "n_meetings": "Sessions held",
        "hours": "Tutor-hours",
        "pct_hours": "% of the term's hours",
    }, caption=f"CPD online and in person: {_where(report)}", spec=spec, people="tutors",
        decimals={"pct_hours": 0, "hours": 1})


def _diversity(report: Report) -> pd.DataFrame | None:
    tutors = report.table("tutors")
    if tutors.empty:
        return None
    return report.cached("service diversity", lambda: _diversity_table(report, tutors))


def _diversity_table(report: Report, tutors: pd.DataFrame) -> pd.DataFrame:
    table = _workforce.workforce_diversity(tutors, report.table("participants"),
                                           report.table("benchmarks"), report.table("services"),
                                           year=report.year, pooled=False)
    table = table[table["service"] == report.service].reset_index(drop=True)
    table["family"] = table["characteristic"].str.split("_").str[0]
    return table


_DIVERSITY_SPEC = {
    "counts": ["n", "n_with", "n_unknown", "n_participants", "n_participants_with",
               "n_participants_unknown"],
    "derived": {"pct": ["n", "n_with"], "ci_low": ["n", "n_with"], "ci_high": ["n", "n_with"],
                "pct_participants": ["n_participants", "n_participants_with"],
                "ratio_participants": ["n", "n_with", "n_participants", "n_participants_with"],
                "ratio_population": ["n", "n_with"]},
    "complements": {"n_with": "n", "n_participants_with": "n_participants"},
    "keep": ["pct_population"],
}


def workforce_diversity_table(report: Report) -> Published | Note:
    """Tutors' sex, ethnicity and disability against the participants and the local population."""
    table = _diversity(report)
    if table is None:
        return report.no_data("tutors")
    table["label"] = table["characteristic"].map(_CHARACTERISTIC_LABELS).fillna(
        table["characteristic"])
    return report.publish(table, {
        "label": "Characteristic",
        "n": "Tutors recorded",
        "n_with": "Tutors with it",
        "pct": "% of tutors",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
        "pct_participants": "% of participants",
        "pct_population": "% of local pupils",
        "n_unknown": "Tutors not recorded",
    }, caption=f"Workforce diversity: {_where(report)}", spec=_DIVERSITY_SPEC, people="tutors",
        decimals=0)


def workforce_figure(report: Report) -> ShownFigure | Note:
    """Workforce vs participants vs population, per characteristic (staff groups of 10+ only)."""
    table = _diversity(report)
    if table is None:
        return report.no_data("tutors")
    plot_table = report.masked(table, _DIVERSITY_SPEC, people="tutors")
    plot_table["characteristic"] = plot_table["characteristic"].map(
        _CHARACTERISTIC_LABELS).fillna(plot_table["characteristic"])
    plot_table["service"] = report.service_name
    return report.plot(_workforce.plot_workforce_profile, plot_table, n="n",
                       by="characteristic", noun=("characteristic", "characteristics"),
                       people="tutors", service=report.service_name, year=report.year,
                       alt=f"Workforce, participants and population, {report.service_name}")


def genres_table(report: Report) -> Parts | Note:
    """Genres taught by the service's tutors (the HEARD "Diverse" principle)."""
    tutors = report.table("tutors")
    if tutors.empty:
        return report.no_data("tutors")
    breadth = _workforce.genre_breadth(tutors, report.year, kinds=("genres",), pooled=False)
    breadth = breadth[breadth["service"] == report.service]
    shares = _workforce.genre_shares(tutors, report.year, kinds=("genres",), pooled=False)
    shares = shares[shares["service"] == report.service].reset_index(drop=True)
    spec = {"counts": ["n", "n_with"],
            "derived": {"pct": ["n", "n_with"], "ci_low": ["n", "n_with"],
                        "ci_high": ["n", "n_with"]},
            "complements": {"n_with": "n"}}
    parts = Parts()
    if len(breadth) and not report.policy.is_sensitive([int(breadth["n"].iloc[0])])[0] \
            and int(breadth["n"].iloc[0]) > 0:
        row = breadth.iloc[0]
        parts.append(Note(
            f"Tutors teach {int(row['n_distinct'])} of the {int(row['n_categories'])} genres "
            f"the programme records; evenness {float(row['evenness']):.2f} on a scale from 0 "
            "(one genre only) to 1 (every genre taught equally often)."))
    parts.append(report.publish(shares, {
        "value": "Genre",
        "n_with": "Tutors teaching it",
        "pct": "% of tutors",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
    }, caption=f"Genres taught: {_where(report)}", spec=spec, people="tutors", decimals=0))
    return parts


# --------------------------------------------------------------------------
# 6. Wellbeing
# --------------------------------------------------------------------------

def _scale(report: Report) -> str:
    scale = str(report.setting("wellbeing_scale"))
    if scale not in _wellbeing.SCALES:
        raise ValueError(f"analysis wellbeing_scale must be one of {_wellbeing.SCALES}, "
                         f"not {scale!r}")
    return scale


def _scored(report: Report) -> pd.DataFrame | None:
    responses = report.table("wellbeing")
    if responses.empty:
        return None
    return report.cached("service wellbeing scores", lambda: _wellbeing.score(
        responses, allow_missing=int(report.setting("wellbeing_allow_missing"))))


def _no_wellbeing(report: Report) -> Note:
    return Note(f"No data: {report.service_name} did not collect wellbeing questionnaires "
                f"(WEMWBS or SWEMWBS) in {report.year}, so this section has nothing to show. "
                "The programme treats such measures as optional.")


def _change_options(report: Report) -> dict:
    return {"scale": _scale(report),
            "min_n_for_tests": int(report.setting("min_n_for_tests")),
            "threshold": report.setting("wellbeing_reliable_change_threshold"),
            "selection_cutoff": report.setting("wellbeing_selection_cutoff")}


def _change(report: Report, scored: pd.DataFrame) -> pd.DataFrame:
    """The service's wellbeing change (``scored`` is :func:`_scored` of the report)."""
    def compute() -> pd.DataFrame:
        table = _wellbeing.change_by(scored, by="service", **_change_options(report))
        return table[table["service"] != POOLED].reset_index(drop=True)
    return report.cached("service wellbeing change", compute)


def _attrition(report: Report, scored: pd.DataFrame, scale: str) -> pd.DataFrame:
    """The service's wellbeing attrition (``scored`` is :func:`_scored` of the report)."""
    def compute() -> pd.DataFrame:
        attrition = _wellbeing.attrition(scored, scale=scale)
        return attrition[attrition["service"] != POOLED]
    return report.cached("service wellbeing attrition", compute, key=scale)


def wellbeing_summary(report: Report) -> Parts | Note:
    """Which instrument(s) the service used, which scale is analysed, and the copyright line."""
    scored = _scored(report)
    if scored is None:
        return _no_wellbeing(report)
    scale = _scale(report)
    instruments = sorted(scored["instrument"].dropna().unique())
    if scale == "SWEMWBS":
        how = ("Change is analysed on the SWEMWBS metric score (7-35), converted from the raw "
               "total with the official table; for WEMWBS questionnaires it is computed from "
               "their seven SWEMWBS items, so that one scale covers both instruments.")
    else:
        how = ("Change is analysed on the WEMWBS total (14-70), from WEMWBS questionnaires "
               "only.")
    allow = int(report.setting("wellbeing_allow_missing"))
    missing = ("Only fully answered questionnaires are scored." if allow == 0 else
               f"Questionnaires with up to {allow} unanswered "
               f"{_plural(allow, 'item', 'items')} are prorated (flagged in the data).")
    text = (f"{report.service_name} used {listing(instruments)} in {report.year}. "
            f"{how} {missing}")
    return Parts([Note(text), Note(_wellbeing.COPYRIGHT)])


def _attrition_published(report: Report, attrition: pd.DataFrame, scale: str) -> Published:
    """The attrition table as published: baseline = paired + lost, and follow-up only.

    Only the counts shown take part in disclosure control, so that the number of
    young people with any questionnaire (not shown) cannot force hiding the rest.
    """
    table = attrition[["service", "n_baseline", "n_paired", "n_lost", "n_follow_up_only",
                       "pct_lost", "pct_lost_ci_low", "pct_lost_ci_high"]]
    lost = ["n_baseline", "n_lost"]
    return report.publish(table, {
        "n_baseline": "Baseline",
        "n_paired": "Both (paired)",
        "n_lost": "Lost to follow-up",
        "pct_lost": "% lost",
        "pct_lost_ci_low": "95% CI low",
        "pct_lost_ci_high": "95% CI high",
        "n_follow_up_only": "Follow-up only",
    }, caption=f"Wellbeing ({scale}): young people with a baseline score, how many also have "
               f"a follow-up, and how many were lost, {_where(report)}",
        spec={"counts": ["n_baseline", "n_paired", "n_lost", "n_follow_up_only"],
              "derived": {"pct_lost": lost, "pct_lost_ci_low": lost, "pct_lost_ci_high": lost},
              "sums": {"n_baseline": ["n_paired", "n_lost"]}}, decimals=0)


def _visible_int(published: Published, heading: str) -> int | None:
    """A count as shown in a published one-row table, or None when hidden or missing."""
    if published.table.empty or heading not in published.table:
        return None
    value = published.table[heading].iloc[0]
    try:
        return int(str(value).replace(",", ""))
    except ValueError:
        return None


def wellbeing_attrition(report: Report) -> Parts | Note:
    """Baseline, paired and lost numbers, % lost, and completers vs non-completers at baseline."""
    scored = _scored(report)
    if scored is None:
        return _no_wellbeing(report)
    scale = _scale(report)
    attrition = _attrition(report, scored, scale).reset_index(drop=True)
    if attrition.empty:
        return Note(f"No {scale} scores could be computed from the questionnaires "
                    f"of {report.service_name} in {report.year}.")
    first = _attrition_published(report, attrition, scale)
    comparison = _wellbeing.completer_comparison(
        scored, scale=scale, min_n_for_tests=int(report.setting("min_n_for_tests")))
    comparison = comparison[comparison["service"] != POOLED].reset_index(drop=True)
    second = report.publish(comparison, {
        "n_completers": "Completers",
        "mean_completers": "Mean",
        "sd_completers": "SD",
        "n_non_completers": "Lost to follow-up",
        "mean_non_completers": "Mean ",
        "sd_non_completers": "SD ",
        "difference": "Difference",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
        "p": "p (Welch)",
    }, caption="Baseline scores of those with and without a follow-up (were those lost "
               "different to begin with?)", decimals={"p": 3})
    return Parts([first, second])


def wellbeing_change(report: Report) -> Published | Note:
    """Mean change (follow-up minus baseline), 95% CI, paired t, and both effect sizes labelled."""
    scored = _scored(report)
    if scored is None:
        return _no_wellbeing(report)
    table = _change(report, scored)
    if table.empty or int(table["n"].iloc[0]) == 0:
        return Note(f"No young person of {report.service_name} has both a baseline and a "
                    f"follow-up {_scale(report)} score in {report.year}.")
    published = report.publish(table, {
        "n": "Young people paired",
        "mean_baseline": "Baseline mean",
        "sd_baseline": "Baseline SD",
        "mean_follow_up": "Follow-up mean",
        "sd_follow_up": "Follow-up SD",
        "mean_change": "Mean change",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
        "p": "p (paired t)",
        "d_z": "d_z (change / SD of change)",
        "d_av": "d_av (change / average SD)",
    }, caption=f"Wellbeing change ({table['scale'].iloc[0]}), follow-up minus baseline: "
               f"{_where(report)}",
        decimals={"p": 3, "d_z": 2, "d_av": 2})
    row = table.iloc[0]
    note = str(row.get("note") or "")
    published.footnote = (
        "A positive change is a rise in wellbeing. d_z divides the mean change by the SD "
        "of the individual changes; d_av by the average of the baseline and follow-up SDs "
        "(Lakens 2013): they answer different questions and can differ several-fold. "
        f"p-values are given only for {int(report.setting('min_n_for_tests'))} or more "
        "young people." + (f" {note}." if note else "") + " " + published.footnote)
    return published


def wellbeing_reliable_change(report: Report) -> Parts | Note:
    """Young people whose change exceeds the reliable-change threshold, with the threshold used."""
    scored = _scored(report)
    if scored is None:
        return _no_wellbeing(report)
    table = _change(report, scored)
    if table.empty or int(table["n"].iloc[0]) == 0:
        return Note("No reliable-change figures: nobody has both a baseline and a follow-up.")
    row = table.iloc[0]
    categories = {"improved": "Reliably improved",
                  "no_reliable_change": "No reliable change",
                  "deteriorated": "Reliably deteriorated"}
    long = pd.DataFrame({
        "category": list(categories.values()),
        "n": [int(row[f"n_{c}"]) for c in categories],
        "pct": [float(row[f"pct_{c}"]) for c in categories],
        "ci_low": [float(row[f"pct_{c}_ci_low"]) for c in categories],
        "ci_high": [float(row[f"pct_{c}_ci_high"]) for c in categories],
    })
    long["n"] = long["n"].astype("int64")
    long["n_paired"] = int(row["n"])  # the base of every percentage (not shown)
    threshold = float(row["rc_threshold"])
    note = Note(f"A change counts as reliable when it is at least {threshold:.2f} "
                f"{row['scale']} points either way ({row['rc_source']}). This is about "
                "individual change beyond measurement error, not a clinical judgement.")
    published = report.publish(long, {
        "category": "Change",
        "n": "Young people",
        "pct": "%",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
    }, caption=f"Reliable change ({row['scale']}): {_where(report)}",
        spec={"counts": ["n", "n_paired"],
              "derived": {c: ["n", "n_paired"] for c in ("pct", "ci_low", "ci_high")},
              "groups": [], "additive": ["n"]}, decimals=0)
    return Parts([note, published])


def wellbeing_figures(report: Report) -> Parts | Note:
    """Mean baseline and follow-up with 95% CI, and the distribution of individual change.

    Drawn only when at least ``threshold`` young people are paired (the
    individual lines of the paired plot are never drawn).
    """
    scored = _scored(report)
    if scored is None:
        return _no_wellbeing(report)
    scale = _scale(report)
    pairs = _wellbeing.pair(scored, scale=scale)
    if pairs.empty:
        return Note(f"No figure: no young person has both a baseline and a follow-up {scale} "
                    "score.")
    pairs = pairs.assign(n=len(pairs), service=report.service_name)
    threshold = _wellbeing.reliable_change_threshold(
        scale, threshold=report.setting("wellbeing_reliable_change_threshold"))["threshold"]
    first = report.plot(_wellbeing.paired_plot, pairs, n="n", by="service",
                        show_individuals=False, ncols=1,
                        alt=f"Mean {scale} at baseline and follow-up, {report.service_name}")
    second = report.plot(_wellbeing.change_distribution_plot, pairs, n="n", by="service",
                         threshold=threshold, scale=scale,
                         alt=f"Distribution of individual {scale} change, {report.service_name}")
    if isinstance(first, Note):
        return first
    return Parts([first, second])


def wellbeing_caveats(report: Report) -> Parts | Note:
    """Caveats: regression to the mean, age validity, lockdown attrition, small n, copyright."""
    scored = _scored(report)
    if scored is None:
        return _no_wellbeing(report)
    policy = report.policy
    scale = _scale(report)
    table = _change(report, scored)
    notes = Parts()
    n_paired = int(table["n"].iloc[0]) if len(table) else 0
    row = table.iloc[0] if len(table) else None
    cutoff = report.setting("wellbeing_selection_cutoff")
    if row is not None and cutoff is not None and pd.notna(row.get("rtm_expected")) \
            and not policy.is_sensitive([n_paired])[0]:
        notes.append(Note(
            f"Regression to the mean: young people selected because their baseline was below "
            f"{float(cutoff):g} would be expected to score about {float(row['rtm_expected']):.1f} "
            f"points higher at follow-up with no real change (Barnett et al. 2005); the change "
            f"beyond that is {float(row['change_beyond_rtm']):.1f} points."))
    else:
        notes.append(Note(
            "Regression to the mean: this is a before-and-after comparison with no comparison "
            "group. Young people chosen for a project because they were struggling tend to "
            "score higher the second time even without any effect, so part of any rise may "
            "be regression to the mean. No selection cut-off was given, so its size is not "
            "estimated here."))
    outside = int((scored["age_valid"] == False).sum())  # noqa: E712  (NA stays out)
    unknown_age = int(scored["age_valid"].isna().sum())
    min_ages = "WEMWBS is validated from age 13 and SWEMWBS from 11"
    if outside:
        paired_outside = int(row["n_outside_validated_age"]) if row is not None and \
            pd.notna(row.get("n_outside_validated_age")) else 0
        notes.append(Note(
            f"Age validity: {_part_text(outside, len(scored), policy)} of the questionnaires "
            f"came from young people younger than the validated age ({min_ages}; nothing "
            f"validates either scale under 11), including "
            f"{_part_text(paired_outside, n_paired, policy)} of the young people paired. "
            "Their scores are outside the validated range and should be read with caution."))
    else:
        notes.append(Note(f"Age validity: {min_ages}; no questionnaire here came from a "
                          "younger respondent"
                          + (f" ({count_text(unknown_age, policy)} had no age recorded)."
                             if unknown_age else ".")))
    attrition = _attrition(report, scored, scale)
    dates = pd.to_datetime(scored["date"], errors="coerce")
    year_start, year_end = year_dates(report.year)
    if year_start <= LOCKDOWN <= year_end and len(attrition):
        shown = _attrition_published(report, attrition.reset_index(drop=True), scale)
        lost, base = _visible_int(shown, "Lost to follow-up"), _visible_int(shown, "Baseline")
        late = int(((scored["wave"] == "follow-up") & (dates >= LOCKDOWN)).sum())
        how_many = (f"{lost:,} of the {base:,} young people with a baseline have no follow-up"
                    if lost is not None and base is not None else
                    "young people with a baseline but no follow-up are counted in the table "
                    "above")
        notes.append(Note(
            f"Lockdown: sessions stopped on 23 March 2020, before many follow-ups were due; "
            f"{how_many}, and "
            + (f"{count_text(late, policy)} follow-up questionnaires were collected after "
               "lockdown began (often online)." if late else
               "no follow-up questionnaire was collected after lockdown began.")
            + " Those who stayed may differ from those lost: compare their baseline scores "
            "above."))
    min_n = int(report.setting("min_n_for_tests"))
    if n_paired < min_n:
        notes.append(Note(
            f"Small numbers: fewer than {min_n} young people are paired, so no p-values are "
            "given and estimates are very uncertain"
            + (f"; with fewer than {policy.threshold} nothing is published."
               if policy.is_sensitive([n_paired])[0] or n_paired == 0 else ".")))
    else:
        notes.append(Note(
            f"Small numbers: {count_text(n_paired, policy)} young people are paired. With "
            "groups of this size, confidence intervals are wide; read the interval, not just "
            "the mean."))
    notes.append(Note(_wellbeing.COPYRIGHT))
    return notes


# --------------------------------------------------------------------------
# 7. Tutor-rated outcomes
# --------------------------------------------------------------------------

def _ratings(report: Report) -> tuple[pd.DataFrame, pd.DataFrame]:
    return report.table("outcome_ratings"), report.table("outcome_indicators")


def _distribution(report: Report) -> pd.DataFrame | None:
    ratings, indicators = _ratings(report)
    if ratings.empty:
        return None
    return report.cached("service outcomes distribution", lambda: _outcomes.distribution(
        ratings, indicators, by=("domain", "wave")))


_DISTRIBUTION_SPEC = {
    "counts": ["n", "n_ratings", "n_top2"],
    "derived": {"median": "n", "q1": "n", "q3": "n", "iqr": "n",
                "pct_top2": ["n_ratings", "n_top2"]},
    "complements": {"n_top2": "n_ratings"},
}


def outcomes_distribution_table(report: Report) -> Published | Note:
    """Tutor ratings (1 not yet ... 5 strong) by domain and wave: median, quartiles, % rated 4-5."""
    table = _distribution(report)
    if table is None:
        return report.no_data("tutor-rated outcomes")
    table = table.drop(columns=[c for c in table if re.fullmatch(r"(n|pct)_[1-5]", c)])
    return report.publish(table, {
        "domain": "Domain",
        "wave": "Wave",
        "n": "Young people",
        "n_ratings": "Ratings",
        "median": "Median",
        "q1": "Lower quartile",
        "q3": "Upper quartile",
        "n_top2": "Rated 4-5",
        "pct_top2": "% rated 4-5 (secure or strong)",
    }, caption=f"Tutor-rated outcomes by domain and wave: {_where(report)}",
        spec=_DISTRIBUTION_SPEC, decimals={"median": 1, "q1": 1, "q3": 1, "pct_top2": 0})


def outcomes_distribution_figure(report: Report) -> ShownFigure | Note:
    """Diverging stacked bars of the rating distribution per domain and wave."""
    table = _distribution(report)
    if table is None:
        return report.no_data("tutor-rated outcomes")
    return report.plot(_outcomes.plot_diverging, table, n="n", by="wave",
                       noun=("wave", "waves"),
                       alt=f"Distribution of tutor ratings by domain, {report.service_name}",
                       label=["domain", "wave"])


def _outcome_change(report: Report) -> pd.DataFrame | None:
    ratings, indicators = _ratings(report)
    if ratings.empty:
        return None
    return report.cached("service outcomes change", lambda: _outcomes.change(
        ratings, indicators, by=("service", "domain"), pooled=False))


def outcomes_change_table(report: Report) -> Published | Note:
    """First to last rating per young person and domain: improved / same / declined, sign test."""
    table = _outcome_change(report)
    if table is None:
        return report.no_data("tutor-rated outcomes")
    if table.empty or table["n_compared"].sum() == 0:
        return Note("No change can be shown: no young person was rated at two points.")
    min_n = int(report.setting("min_n_for_tests"))
    table = table.copy()
    table["p_sign"] = table["p_sign"].astype("float64").where(table["n_compared"] >= min_n)
    published = report.publish(table, {
        "domain": "Domain",
        "n_compared": "Young people rated twice or more",
        "n_improved": "Improved",
        "n_same": "Same",
        "n_declined": "Declined",
        "pct_improved": "% improved",
        "pct_declined": "% declined",
        "median_change": "Median change (points)",
        "p_sign": "Sign test p",
    }, caption=f"Change in tutor ratings, first to last rating: {_where(report)}",
        decimals={"pct_improved": 0, "pct_declined": 0,
                                     "median_change": 2, "p_sign": 3})
    published.footnote = (
        "Each young person counts once per domain, by the sign of their average change over "
        "the domain's indicators. Tutors know the young people and rate them over time: "
        "ratings are evidence of progress as tutors see it, not an independent test. "
        + published.footnote)
    return published


def outcomes_change_figure(report: Report) -> ShownFigure | Note:
    """100% stacked bars of improved / same / declined per domain."""
    table = _outcome_change(report)
    if table is None:
        return report.no_data("tutor-rated outcomes")
    if table.empty or table["n_compared"].sum() == 0:
        return Note("No figure: no young person was rated at two points.")
    # Draw a domain only when the table shows all three of its percentages: a bar would
    # otherwise give away the numbers the table hides.
    masked = report.masked(table.reset_index(drop=True), declared_spec(table))
    complete = masked[["pct_improved", "pct_same", "pct_declined"]].notna().all(axis=1)
    masked["n_compared"] = masked["n_compared"].astype("Int64").where(complete)
    masked = masked[table["n_compared"].to_numpy() > 0]
    if not complete.any():
        return Note("No figure: in every domain some of the numbers improved, same or declined "
                    f"rest on fewer than {report.policy.threshold} young people and are hidden "
                    "in the table above; bars would give them away.")
    shown = report.plot(_outcomes.plot_change, masked, n="n_compared", by="domain",
                        noun=("domain", "domains"), label=["domain"],
                        alt=f"Change in tutor ratings by domain, {report.service_name}")
    if isinstance(shown, ShownFigure) and shown.note:
        shown.note = ("Domains whose improved / same / declined numbers are hidden in the table "
                      "above are not drawn.")
    return shown


def outcomes_coverage(report: Report) -> Parts | Note:
    """Whether personal, social and musical outcomes were all rated, with gaps highlighted."""
    ratings, indicators = _ratings(report)
    if ratings.empty:
        return report.no_data("tutor-rated outcomes")
    table = _outcomes.coverage(ratings, indicators, report.table("participants"),
                               threshold=float(report.setting("outcomes_gap_threshold")))
    table = table[table["service"] == report.service].reset_index(drop=True)
    table["gap_text"] = np.where(table["gap"].astype(bool), "GAP", "")
    table["indicators"] = (table["n_indicators_rated"].astype(int).astype(str) + " of "
                           + table["n_indicators"].astype(int).astype(str))
    published = report.publish(table, {
        "domain": "Domain",
        "n_participants": "Young people rated",
        "pct_participants": "% of participants",
        "indicators": "Indicators rated",
        "pct_of_best": "% of best-covered domain",
        "gap_text": "Gap",
    }, caption=f"Coverage of the three outcome domains: {_where(report)}", decimals=0)
    gaps = [d for d, g in zip(table["domain"], table["gap"]) if bool(g)]
    if gaps:
        note = Note(f"Gap: {listing(gaps)} outcomes were"
                    " rated for far fewer young people than the best-covered domain (or not at "
                    "all). The programme values personal, social and musical outcomes equally, "
                    "so each needs evidence.")
    else:
        note = Note("All three domains -- personal, social and musical -- were rated for "
                    "similar numbers of young people.")
    return Parts([published, note])


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------

#: Section functions in report order, by section (for tests and other reports).
SECTIONS: dict[str, tuple[Callable[[Report], _Shown], ...]] = {
    "introduction": (introduction,),
    "who took part": (reach_summary, reach_by, representation_table, representation_figure),
    "engagement and progression": (attendance_table, attendance_figure, retention_table,
                                   progression_table, equity_tables, equity_figure),
    "organisation": (audit_completion, audit_scores, audit_figure, audit_disagreement,
                     audit_priorities, stages_table, stages_figure),
    "workforce": (cpd_participation_table, cpd_topics_table, cpd_format_table,
                  workforce_diversity_table, workforce_figure, genres_table),
    "wellbeing": (wellbeing_summary, wellbeing_attrition, wellbeing_change,
                  wellbeing_reliable_change, wellbeing_figures, wellbeing_caveats),
    "outcomes": (outcomes_distribution_table, outcomes_distribution_figure,
                 outcomes_change_table, outcomes_change_figure, outcomes_coverage),
}
