"""Workforce and organisation: stages of inclusion, CPD and reflective practice, diversity.

The 2019-20 learning report follows three parts: growing the music-service
**workforce** for inclusion, developing an **organisation** for inclusion, and
delivering inclusive music education. This module covers what the partners
tracked for the first two, from the ``stages``, ``tutors`` and ``cpd`` tables
of :mod:`changing_tracks.contracts`.

Organisation -- the Changing Tracks "Stages and indicators of inclusion"
(exclusion -> segregation -> integration -> inclusion, in seven areas):

* :func:`stage_journey` -- each service's move per area from baseline to
  follow-up (moved on / same / moved back, steps moved);
  :func:`journey_summary` counts those moves per area;
* :func:`stage_grid` and :func:`pivot_stage_grid` -- the service x area grid
  of stages at one wave (or each service's latest);
* :func:`early_stage_areas` -- the areas where most services are still at the
  early stages.

Workforce:

* :func:`cpd_participation` -- share of tutors who took part in any CPD and in
  critical reflection, with Wilson intervals;
* :func:`cpd_summary` -- sessions and hours per tutor by topic and service;
* :func:`reflective_regularity` -- share of tutors in critical reflection
  termly or more often;
* :func:`cpd_format` -- online vs in person by service and term (the lockdown
  shift of April 2020);
* :func:`workforce_diversity` -- workforce ethnicity, sex and disability
  against the participants and the local population;
* :func:`genre_breadth` and :func:`genre_shares` -- genres and practices
  taught (the HEARD "Diverse" principle: all genres valued equally).

Figures: :func:`plot_stage_journey`, :func:`plot_cpd_heatmap`,
:func:`plot_workforce_profile`.

Conventions
-----------
Tutors are people: a tutor is identified by ``tutor`` within a programme
``year`` (one service per tutor and year, as in the contract), and ``n``
columns of the workforce tables count distinct tutors; tutor ids never appear
in an output. A CPD record counts for the programme year of its date
(September to August) and for the service the tutor is listed with in that
year; records of a tutor not listed in that year cannot be placed and are left
out (their number is in ``attrs["unmatched_cpd"]``). Rows pooled over services
carry ``service`` = ``"All services"`` (:data:`POOLED`) and are added per year
when a year has more than one service. Percentages are 0-100 and intervals
are Wilson 95% intervals (``ci_method``). Staff groups are small: every
derived statistic comes with the counts it rests on so that the disclosure
module can suppress it. ``attrs["suppress"]`` holds the keyword arguments for
:func:`changing_tracks.disclosure.suppress` (``counts``: the counts of tutors;
``derived``: what each statistic rests on; ``sums`` and ``complements``
within a row; ``groups`` and ``total``: the services add up to the "All
services" row of their year), which
:meth:`changing_tracks.reports.Report.publish` applies by default, or call
``disclosure.suppress(table, **table.attrs["suppress"])``. The stage tables
count services, which are named in the reports and are not people: their
``attrs["suppress"]["counts"]`` is empty. ``attrs["settings"]`` records the
choices.

Terms (for :func:`reflective_regularity` and :func:`cpd_format`): autumn
September-December, spring January-March, summer April-August
(:data:`TERM_MONTHS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .contracts import (
    CHARACTERISTICS,
    CPD_FORMATS,
    CPD_TOPICS,
    GENRES,
    PRACTICES,
    STAGE_AREAS,
    STAGES,
    WAVES,
    programme_year_of,
)
from .stats import wilson_ci

__all__ = [
    "POOLED",
    "ALL_TOPICS",
    "ALL_AREAS",
    "TERMS",
    "TERM_MONTHS",
    "DIRECTIONS",
    "WORKFORCE_CHARACTERISTICS",
    "stage_journey",
    "journey_summary",
    "stage_grid",
    "pivot_stage_grid",
    "early_stage_areas",
    "cpd_participation",
    "cpd_summary",
    "reflective_regularity",
    "cpd_format",
    "workforce_diversity",
    "genre_breadth",
    "genre_shares",
    "plot_stage_journey",
    "plot_cpd_heatmap",
    "plot_workforce_profile",
]

#: Label of rows pooled over services.
POOLED = "All services"
#: Label of the row summing every topic in :func:`cpd_summary`.
ALL_TOPICS = "all topics"
#: Label of the row over every area in :func:`journey_summary`.
ALL_AREAS = "all areas"
#: School terms in order.
TERMS: tuple[str, ...] = ("autumn", "spring", "summer")
#: Months of each term (autumn September-December, spring January-March, summer April-August).
TERM_MONTHS: dict[str, tuple[int, ...]] = {
    "autumn": (9, 10, 11, 12), "spring": (1, 2, 3), "summer": (4, 5, 6, 7, 8)}
#: Directions of a service's move between baseline and follow-up, in report order.
DIRECTIONS: tuple[str, ...] = ("moved on", "same", "moved back", "baseline only",
                               "follow-up only")
#: Characteristics compared by :func:`workforce_diversity`: name -> (tutors column, value).
#: Ethnicity and sex follow :data:`changing_tracks.contracts.CHARACTERISTICS` (so that the
#: same names key the population benchmarks); disability has no participant or
#: population comparator in the contracts.
WORKFORCE_CHARACTERISTICS: dict[str, tuple[str, object]] = {
    **{k: v for k, v in CHARACTERISTICS.items() if k.startswith(("ethnicity_", "sex_"))},
    "disability": ("disability", True),
}

_REFLECTION = "critical reflection group"
_STEP = {stage: i for i, stage in enumerate(STAGES)}
_STAGE_WAVES = ("baseline", "follow-up", "latest")
_ACTIVE_RULES = ("year", "offered")
_EVENNESS = ("vocabulary", "observed")
_LIST_VOCABULARY = {"genres": GENRES, "practices": PRACTICES}
_DEFAULT_PHASES = ("all", "secondary", "primary")

_JOURNEY_COLUMNS = ["service", "area", "stage_baseline", "stage_follow_up", "step_baseline",
                    "step_follow_up", "steps", "direction", "n"]
_JOURNEY_SUMMARY_COLUMNS = ["area", "n", "n_moved_on", "n_same", "n_moved_back",
                            "n_baseline_only", "n_follow_up_only", "pct_moved_on",
                            "pct_moved_back", "steps_total"]
_GRID_COLUMNS = ["service", "area", "wave", "stage", "step", "placed_by", "date", "n"]
_EARLY_COLUMNS = ["area", "n", "n_early", "pct_early", *[f"n_{s}" for s in STAGES],
                  "most_early", "early", "wave"]
_PARTICIPATION_COLUMNS = ["service", "year", "n", "n_any_cpd", "pct_any_cpd", "ci_low_any_cpd",
                          "ci_high_any_cpd", "n_reflection", "pct_reflection",
                          "ci_low_reflection", "ci_high_reflection", "n_no_cpd", "ci_method",
                          "note"]
_SUMMARY_COLUMNS = ["service", "year", "topic", "n", "n_attended", "n_sessions", "n_meetings",
                    "hours", "pct_attended", "sessions_per_tutor", "hours_per_tutor",
                    "hours_per_attendee"]
_REGULARITY_COLUMNS = ["service", "year", "n", "n_regular", "n_some", "n_none",
                       "n_not_offered", "pct_regular", "ci_low", "ci_high", "topic", "active",
                       "min_sessions", "ci_method", "note"]
_FORMAT_COLUMNS = ["service", "year", "term", "format", "n", "n_sessions", "n_meetings",
                   "hours", "n_total", "n_sessions_total", "hours_total", "pct_sessions",
                   "pct_hours"]
_DIVERSITY_COLUMNS = ["service", "year", "characteristic", "n", "n_with", "n_unknown", "pct",
                      "ci_low", "ci_high", "n_participants", "n_participants_with",
                      "n_participants_unknown", "pct_participants", "pct_population", "phase",
                      "ratio_participants", "ratio_population", "min_n", "ci_method", "note",
                      "family"]
_BREADTH_COLUMNS = ["service", "year", "kind", "n", "n_unknown", "n_mentions", "n_distinct",
                    "n_categories", "shannon", "evenness", "top", "evenness_base", "note"]
_SHARE_COLUMNS = ["service", "year", "kind", "value", "n", "n_with", "pct", "ci_low",
                  "ci_high", "ci_method"]


# --------------------------------------------------------------------------
# Input checking and small helpers
# --------------------------------------------------------------------------

def _require(frame: object, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing} "
                         f"(found {list(frame.columns)})")


def _text(series: pd.Series) -> pd.Series:
    """Values as Python str, missing as None (works for 'str', 'string' and object columns)."""
    return series.astype(object).map(lambda v: None if pd.isna(v) else str(v))


def _check_values(series: pd.Series, allowed: Sequence[str], what: str) -> None:
    bad = sorted({v for v in series if v is not None and v not in allowed})
    if bad:
        raise ValueError(f"{what} must be one of {list(allowed)}; found {bad}")


def _choice(value: object, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {list(allowed)}, not {value!r}")


def _pct(k, n) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, 100 * k / n, np.nan)


def _ci(k, n, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    low, high = wilson_ci(k, n, confidence)
    return 100 * np.asarray(low, dtype=float), 100 * np.asarray(high, dtype=float)


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _finish(out: pd.DataFrame, columns: Sequence[str], ints: Sequence[str],
            settings: dict, spec: dict | None = None) -> pd.DataFrame:
    """Columns in order, whole-number columns as Int64, and the attrs for disclosure.

    ``spec`` is the table's ``attrs["suppress"]``: keyword arguments for
    :func:`changing_tracks.disclosure.suppress` (default: no counts of people).
    """
    out = out.reindex(columns=list(columns)) if len(out) else _empty(columns)
    for c in ints:
        if c in out:
            out[c] = pd.array(pd.to_numeric(out[c]).round(), dtype="Int64") if len(out) \
                else pd.Series(dtype="Int64")
    out = out.reset_index(drop=True)
    out.attrs["settings"] = settings
    out.attrs["suppress"] = dict(spec) if spec is not None else _not_people()
    return out


def _not_people() -> dict:  # noqa: N802 - reads as a constant
    """Spec of the stage tables: they count services (or self-placements), not people."""
    return {"counts": [], "derived": {}}


def _on(bases, *columns: str) -> dict:
    """``{column: bases}`` for each column: statistics resting on the same counts."""
    return {c: bases for c in columns}


def _across_services(*also: str) -> dict:
    """Services add up to the "All services" row of their year (and of ``also``):
    a tutor belongs to one service per year."""
    return {"groups": [["year", *also]], "total": {"service": POOLED}}


def _years_wanted(year: str | Sequence[str] | None) -> list[str] | None:
    if year is None:
        return None
    return [year] if isinstance(year, str) else list(year)


def _term_of(dates: pd.Series) -> pd.Series:
    month = pd.to_datetime(dates).dt.month
    out = pd.Series("summer", index=dates.index, dtype=object)
    out[month.isin(TERM_MONTHS["autumn"])] = "autumn"
    out[month.isin(TERM_MONTHS["spring"])] = "spring"
    return out


def _roster(tutors: pd.DataFrame, year) -> pd.DataFrame:
    """One row per tutor and year with their service (validated); ``year`` filters."""
    _require(tutors, ["tutor", "service", "year"], "tutors")
    out = tutors.copy()
    for c in ("tutor", "service", "year"):
        out[c] = _text(out[c])
    out = out.dropna(subset=["tutor", "service", "year"])
    wanted = _years_wanted(year)
    if wanted is not None:
        out = out[out["year"].isin(wanted)]
    twice = out.drop_duplicates(["tutor", "year", "service"]).duplicated(["tutor", "year"])
    if twice.any():
        rec = out.drop_duplicates(["tutor", "year", "service"]).loc[twice].iloc[0]
        raise ValueError(f"tutors lists tutor {rec['tutor']!r} with two services in "
                         f"{rec['year']}; expected one service per tutor and year")
    return out.drop_duplicates(["tutor", "year"]).reset_index(drop=True)


def _attendance(roster: pd.DataFrame, cpd: pd.DataFrame,
                year=None) -> tuple[pd.DataFrame, int]:
    """CPD records placed in a programme year, term and service; and the number unplaced.

    A record is placed when its tutor is listed (in ``roster``) for the programme year
    of its date. Records of years not wanted (``year``) are dropped without counting.
    """
    _require(cpd, ["tutor", "date", "topic"], "cpd")
    rec = pd.DataFrame({"tutor": _text(cpd["tutor"]),
                        "date": pd.to_datetime(cpd["date"]).to_numpy()})
    rec["topic"] = _text(cpd["topic"]).to_numpy()
    rec["format"] = _text(cpd["format"]).to_numpy() if "format" in cpd else None
    rec["hours"] = pd.to_numeric(cpd["hours"], errors="coerce").to_numpy(dtype=float) \
        if "hours" in cpd else np.nan
    rec = rec.dropna(subset=["tutor", "date"]).reset_index(drop=True)
    rec["year"] = programme_year_of(rec["date"]).astype(object).to_numpy()
    rec["term"] = _term_of(rec["date"]).to_numpy()
    wanted = _years_wanted(year)
    if wanted is not None:
        rec = rec[rec["year"].isin(wanted)]
    placed = rec.merge(roster[["tutor", "year", "service"]], on=["tutor", "year"], how="left")
    unmatched = int(placed["service"].isna().sum())
    return placed.dropna(subset=["service"]).reset_index(drop=True), unmatched


def _groups(frame: pd.DataFrame, pooled: bool) -> list[tuple[str, str, pd.DataFrame]]:
    """(service, year, rows) per service and year, then pooled per year with >1 service."""
    out = []
    for yr in sorted(frame["year"].unique()):
        sub = frame[frame["year"] == yr]
        services = sorted(sub["service"].unique())
        for svc in services:
            out.append((svc, yr, sub[sub["service"] == svc]))
        if pooled and len(services) > 1:
            out.append((POOLED, yr, sub))
    return out


def _split_list(value: object) -> list[str]:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return []
    return [p.strip() for p in str(value).split(";") if p.strip()]


# --------------------------------------------------------------------------
# Stages of inclusion
# --------------------------------------------------------------------------

def _stages(stages: pd.DataFrame) -> pd.DataFrame:
    _require(stages, ["service", "wave", "area", "stage"], "stages")
    out = pd.DataFrame({c: _text(stages[c]) for c in ("service", "wave", "area", "stage")})
    for c in ("placed_by", "date"):
        out[c] = stages[c].to_numpy() if c in stages else None
    out = out.dropna(subset=["service", "wave", "area", "stage"])
    _check_values(out["stage"], STAGES, "stage")
    _check_values(out["wave"], WAVES, "wave")
    _check_values(out["area"], STAGE_AREAS, "area")
    dup = out.duplicated(["service", "wave", "area"])
    if dup.any():
        rec = out.loc[dup].iloc[0]
        raise ValueError(f"stages has two placements of {rec['service']!r} for "
                         f"{rec['area']!r} at {rec['wave']}; expected one per service, area "
                         "and wave")
    out["step"] = out["stage"].map(_STEP).astype(int)
    return out.reset_index(drop=True)


def _area_order(areas: Iterable[str]) -> list[str]:
    return [a for a in STAGE_AREAS if a in set(areas)]


def stage_journey(stages: pd.DataFrame) -> pd.DataFrame:
    """Each service's move on the stages of inclusion, per area, from baseline to follow-up.

    A service places itself at one of four stages -- exclusion, segregation,
    integration, inclusion (steps 0-3) -- in each area at baseline and again
    at follow-up. The move is the follow-up step minus the baseline step:
    positive is *moved on*, zero *same*, negative *moved back*. A service
    with only one wave for an area (lockdown interrupted many follow-ups) is
    *baseline only* or *follow-up only*, never dropped.

    Parameters
    ----------
    stages : DataFrame
        Columns ``service``, ``wave`` (baseline / follow-up), ``area`` (one of
        :data:`~changing_tracks.contracts.STAGE_AREAS`) and ``stage`` (one of
        :data:`~changing_tracks.contracts.STAGES`); one row per service, area
        and wave.

    Returns
    -------
    DataFrame
        One row per service and area (services in alphabetical order, areas in
        contract order): ``service``, ``area``, ``stage_baseline``,
        ``stage_follow_up`` (None when missing), ``step_baseline``,
        ``step_follow_up`` (0 = exclusion ... 3 = inclusion, ``Int64``),
        ``steps`` (follow-up minus baseline; <NA> with one wave),
        ``direction`` (one of :data:`DIRECTIONS`), ``n`` (self-placements
        the row rests on: 1 or 2 -- stages describe services, not people).

    Raises
    ------
    ValueError
        Unknown stage, wave or area, or two placements for one service, area
        and wave.

    Examples
    --------
    >>> stages = pd.DataFrame({"service": ["a", "a"], "wave": ["baseline", "follow-up"],
    ...                        "area": ["CPD", "CPD"], "stage": ["segregation", "inclusion"]})
    >>> stage_journey(stages)[["area", "steps", "direction"]].to_dict("records")
    [{'area': 'CPD', 'steps': 2, 'direction': 'moved on'}]
    """
    data = _stages(stages)
    settings = {"steps": dict(_STEP)}
    if data.empty:
        return _finish(data, _JOURNEY_COLUMNS, ["n"], settings)
    base = data[data["wave"] == "baseline"].set_index(["service", "area"])
    follow = data[data["wave"] == "follow-up"].set_index(["service", "area"])
    keys = sorted(set(base.index) | set(follow.index),
                  key=lambda k: (k[0], STAGE_AREAS.index(k[1])))
    rows = []
    for service, area in keys:
        b = base["stage"].get((service, area))
        f = follow["stage"].get((service, area))
        sb = _STEP[b] if b is not None else None
        sf = _STEP[f] if f is not None else None
        if sb is None:
            steps, direction = None, "follow-up only"
        elif sf is None:
            steps, direction = None, "baseline only"
        else:
            steps = sf - sb
            direction = "moved on" if steps > 0 else "moved back" if steps < 0 else "same"
        rows.append({"service": service, "area": area, "stage_baseline": b,
                     "stage_follow_up": f, "step_baseline": sb, "step_follow_up": sf,
                     "steps": steps, "direction": direction,
                     "n": int(b is not None) + int(f is not None)})
    out = pd.DataFrame(rows)
    for c in ("step_baseline", "step_follow_up", "steps"):
        out[c] = pd.array(out[c].astype(object).where(out[c].notna(), None), dtype="Int64")
    return _finish(out, _JOURNEY_COLUMNS, ["n"], settings)


def journey_summary(journey: pd.DataFrame) -> pd.DataFrame:
    """How many services moved on, stayed or moved back, per area and over all areas.

    Parameters
    ----------
    journey : DataFrame
        The result of :func:`stage_journey` (columns ``service``, ``area``,
        ``direction`` and ``steps``).

    Returns
    -------
    DataFrame
        One row per area in contract order, then ``area`` = ``"all areas"``
        (counting service-area pairs). Columns: ``area``; ``n`` (services
        with both waves for the area -- the base of the percentages);
        ``n_moved_on``, ``n_same``, ``n_moved_back``, ``n_baseline_only``,
        ``n_follow_up_only``; ``pct_moved_on`` and ``pct_moved_back`` (of
        ``n``); ``steps_total`` (sum of the steps moved, moves back
        negative).
    """
    _require(journey, ["service", "area", "direction", "steps"], "journey")
    data = journey.assign(area=_text(journey["area"]), direction=_text(journey["direction"]))
    _check_values(data["direction"], DIRECTIONS, "direction")
    rows = []
    parts = [(a, data[data["area"] == a]) for a in _area_order(data["area"])]
    if len(data):
        parts.append((ALL_AREAS, data))
    for area, sub in parts:
        counts = sub["direction"].value_counts()
        get = lambda d: int(counts.get(d, 0))  # noqa: E731
        n = get("moved on") + get("same") + get("moved back")
        rows.append({"area": area, "n": n, "n_moved_on": get("moved on"), "n_same": get("same"),
                     "n_moved_back": get("moved back"), "n_baseline_only": get("baseline only"),
                     "n_follow_up_only": get("follow-up only"),
                     "pct_moved_on": float(_pct(get("moved on"), n)),
                     "pct_moved_back": float(_pct(get("moved back"), n)),
                     "steps_total": int(pd.to_numeric(sub["steps"]).fillna(0).sum())})
    counts = [c for c in _JOURNEY_SUMMARY_COLUMNS if c.startswith("n")] + ["steps_total"]
    return _finish(pd.DataFrame(rows), _JOURNEY_SUMMARY_COLUMNS, counts, {})


def stage_grid(stages: pd.DataFrame, wave: str = "latest") -> pd.DataFrame:
    """The stage each service places itself at in each area (long form of the service x area grid).

    Parameters
    ----------
    stages : DataFrame
        Columns ``service``, ``wave``, ``area``, ``stage``; optional
        ``placed_by`` and ``date``.
    wave : {"latest", "baseline", "follow-up"}, default "latest"
        Which placement to show. ``"latest"`` takes, for each service and
        area, the follow-up if there is one and the baseline otherwise (so a
        service without a follow-up still appears, at its baseline: the
        ``wave`` column says which).

    Returns
    -------
    DataFrame
        One row per service and area: ``service``, ``area``, ``wave`` (the
        wave shown), ``stage``, ``step`` (0 = exclusion ... 3 = inclusion),
        ``placed_by``, ``date``, ``n`` (1: one self-placement). Use
        :func:`pivot_stage_grid` for the service x area table.
    """
    _choice(wave, _STAGE_WAVES, "wave")
    data = _stages(stages)
    if wave == "latest":
        data = data.assign(_w=data["wave"].map(WAVES.index))
        data = data.sort_values("_w").groupby(["service", "area"], sort=False).tail(1)
    else:
        data = data[data["wave"] == wave]
    data = data.assign(n=1, _a=data["area"].map(STAGE_AREAS.index))
    data = data.sort_values(["service", "_a"], kind="stable")
    return _finish(data, _GRID_COLUMNS, ["n", "step"], {"wave": wave})


def pivot_stage_grid(grid: pd.DataFrame, value: str = "stage") -> pd.DataFrame:
    """Service x area table from :func:`stage_grid` (areas as columns in contract order).

    Parameters
    ----------
    grid : DataFrame
        The result of :func:`stage_grid`.
    value : {"stage", "step", "wave"}, default "stage"
        What to show in the cells.

    Returns
    -------
    DataFrame
        Index ``service``, one column per area present; empty cells are <NA>.
    """
    _require(grid, ["service", "area", value], "grid")
    _choice(value, ("stage", "step", "wave"), "value")
    if grid.empty:
        table = pd.DataFrame(index=pd.Index([], name="service"))
    else:
        table = grid.pivot(index="service", columns="area", values=value)
        table = table.reindex(columns=_area_order(table.columns))
        table.columns.name = None
    table.attrs["suppress"] = _not_people()
    return table


def early_stage_areas(stages: pd.DataFrame, early: Sequence[str] = ("exclusion", "segregation"),
                      wave: str = "latest") -> pd.DataFrame:
    """The areas where most services are still at the early stages of inclusion.

    Parameters
    ----------
    stages : DataFrame
        Columns ``service``, ``wave``, ``area``, ``stage``.
    early : sequence of str, default ("exclusion", "segregation")
        The stages counted as early.
    wave : {"latest", "baseline", "follow-up"}, default "latest"
        Which placement of each service to count (see :func:`stage_grid`).

    Returns
    -------
    DataFrame
        One row per area, the areas with the largest share of services at an
        early stage first (ties in contract order). Columns: ``area``, ``n``
        (services placed in the area), ``n_early``, ``pct_early`` (% of
        ``n``), ``n_exclusion``, ``n_segregation``, ``n_integration``,
        ``n_inclusion``, ``most_early`` (True when more than half the services
        are at an early stage), ``early`` (the early stages, comma-separated),
        ``wave``.
    """
    early = [early] if isinstance(early, str) else list(early)
    if not early or any(s not in STAGES for s in early):
        raise ValueError(f"early must be stages from {list(STAGES)}; found {early}")
    grid = stage_grid(stages, wave=wave)
    rows = []
    for area in _area_order(grid["area"]):
        sub = grid[grid["area"] == area]
        counts = sub["stage"].value_counts()
        n = len(sub)
        n_early = int(sub["stage"].isin(early).sum())
        rows.append({"area": area, "n": n, "n_early": n_early, "pct_early": float(_pct(n_early, n)),
                     **{f"n_{s}": int(counts.get(s, 0)) for s in STAGES},
                     "most_early": n_early > n / 2, "early": ", ".join(early), "wave": wave})
    out = pd.DataFrame(rows)
    if len(out):
        out["_a"] = out["area"].map(STAGE_AREAS.index)
        out = out.sort_values(["pct_early", "_a"], ascending=[False, True], kind="stable")
    counts = ["n", "n_early", *[f"n_{s}" for s in STAGES]]
    return _finish(out, _EARLY_COLUMNS, counts, {"early": early, "wave": wave})


# --------------------------------------------------------------------------
# CPD and reflective practice
# --------------------------------------------------------------------------

def cpd_participation(tutors: pd.DataFrame, cpd: pd.DataFrame,
                      year: str | Sequence[str] | None = None, *,
                      reflection_topic: str = _REFLECTION, pooled: bool = True,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Share of tutors who took part in any CPD, and in critical reflection, per service and year.

    Parameters
    ----------
    tutors : DataFrame
        Columns ``tutor``, ``service``, ``year``: the tutors on inclusion work
        in each programme year (the denominators).
    cpd : DataFrame
        Columns ``tutor``, ``date``, ``topic``: one row per tutor and session.
    year : str or sequence of str, optional
        Programme year(s) to include (e.g. ``"2019-20"``); default every year.
    reflection_topic : str, default "critical reflection group"
        The topic counted as critical reflection.
    pooled : bool, default True
        Add rows over all services (``service`` = "All services") per year.
    confidence : float, default 0.95
        Level of the Wilson intervals.

    Returns
    -------
    DataFrame
        One row per service and year (then pooled): ``service``, ``year``,
        ``n`` (tutors listed), ``n_any_cpd`` (tutors with at least one
        session of any topic), ``pct_any_cpd``, ``ci_low_any_cpd``,
        ``ci_high_any_cpd``, ``n_reflection`` (tutors with at least one
        critical reflection session), ``pct_reflection``,
        ``ci_low_reflection``, ``ci_high_reflection``, ``n_no_cpd`` (tutors
        with no session at all), ``ci_method``, ``note``.
        ``attrs["unmatched_cpd"]`` counts records of tutors not listed in
        the year of the session.
    """
    _choice(reflection_topic, CPD_TOPICS, "reflection_topic")
    roster = _roster(tutors, year)
    sessions, unmatched = _attendance(roster, cpd, year)
    settings = {"year": year, "reflection_topic": reflection_topic, "ci_method": "wilson",
                "confidence": confidence}
    disclosure = {
        "counts": ["n", "n_any_cpd", "n_reflection", "n_no_cpd"],
        "derived": {**_on(["n", "n_any_cpd"], "pct_any_cpd", "ci_low_any_cpd",
                          "ci_high_any_cpd"),
                    **_on(["n", "n_reflection"], "pct_reflection", "ci_low_reflection",
                          "ci_high_reflection")},
        "sums": {"n": ["n_any_cpd", "n_no_cpd"]},
        "complements": {"n_reflection": "n"},  # tutors without critical reflection
        **_across_services(),
    }
    any_cpd = set(zip(sessions["tutor"], sessions["year"]))
    refl = sessions[sessions["topic"] == reflection_topic]
    reflected = set(zip(refl["tutor"], refl["year"]))
    rows = []
    for service, yr, sub in _groups(roster, pooled):
        keys = list(zip(sub["tutor"], sub["year"]))
        n = len(keys)
        k_any = sum(k in any_cpd for k in keys)
        k_ref = sum(k in reflected for k in keys)
        rows.append({"service": service, "year": yr, "n": n, "n_any_cpd": k_any,
                     "n_reflection": k_ref, "n_no_cpd": n - k_any,
                     "note": "" if k_ref else f"no {reflection_topic} sessions recorded"})
    out = pd.DataFrame(rows)
    if len(out):
        for stem, col in (("any_cpd", "n_any_cpd"), ("reflection", "n_reflection")):
            out[f"pct_{stem}"] = _pct(out[col], out["n"])
            out[f"ci_low_{stem}"], out[f"ci_high_{stem}"] = _ci(out[col], out["n"], confidence)
        out["ci_method"] = "wilson"
    out = _finish(out, _PARTICIPATION_COLUMNS, ["n", "n_any_cpd", "n_reflection", "n_no_cpd"],
                  settings, disclosure)
    out.attrs["unmatched_cpd"] = unmatched
    return out


def cpd_summary(tutors: pd.DataFrame, cpd: pd.DataFrame,
                year: str | Sequence[str] | None = None, *,
                topics: Sequence[str] = CPD_TOPICS, pooled: bool = True) -> pd.DataFrame:
    """Sessions and hours of CPD per tutor, by topic, service and year.

    Per-tutor rates use every tutor listed for the service and year as the
    denominator (so a tutor with no CPD lowers the rate);
    ``hours_per_attendee`` uses only the tutors who took part.

    Parameters
    ----------
    tutors, cpd : DataFrame
        As in :func:`cpd_participation`; ``cpd`` also needs ``hours``.
    year : str or sequence of str, optional
        Programme year(s) to include; default every year.
    topics : sequence of str, default every CPD topic
        Topics to show; every one gets a row (zeros where none took place), so
        gaps are visible. A last row ``topic`` = ``"all topics"`` sums every
        topic (including topics not listed).
    pooled : bool, default True
        Add rows over all services per year.

    Returns
    -------
    DataFrame
        One row per service, year and topic: ``service``, ``year``, ``topic``,
        ``n`` (tutors listed), ``n_attended`` (tutors with at least one
        session), ``n_sessions`` (tutor-sessions: one per tutor per session),
        ``n_meetings`` (distinct sessions: dates on which the topic took place
        for the service's tutors, summed over services in pooled rows),
        ``hours`` (tutor-hours), ``pct_attended``, ``sessions_per_tutor``,
        ``hours_per_tutor`` (both per tutor listed), ``hours_per_attendee``.
    """
    topics = list(topics)
    _check_values(pd.Series(topics, dtype=object), CPD_TOPICS, "topics")
    _require(cpd, ["tutor", "date", "topic", "hours"], "cpd")
    roster = _roster(tutors, year)
    sessions, unmatched = _attendance(roster, cpd, year)
    rows = []
    for service, yr, sub in _groups(roster, pooled):
        mine = sessions[(sessions["year"] == yr) & sessions["service"].isin(sub["service"])]
        n = len(sub)
        for topic in [*topics, ALL_TOPICS]:
            t = mine if topic == ALL_TOPICS else mine[mine["topic"] == topic]
            rows.append({"service": service, "year": yr, "topic": topic, "n": n,
                         "n_attended": t["tutor"].nunique(), "n_sessions": len(t),
                         "n_meetings": len(t.drop_duplicates(["service", "date", "topic"])),
                         "hours": float(t["hours"].sum())})
    out = pd.DataFrame(rows)
    if len(out):
        out["pct_attended"] = _pct(out["n_attended"], out["n"])
        out["sessions_per_tutor"] = np.where(out["n"] > 0, out["n_sessions"] / out["n"].clip(1),
                                             np.nan)
        out["hours_per_tutor"] = np.where(out["n"] > 0, out["hours"] / out["n"].clip(1), np.nan)
        out["hours_per_attendee"] = np.where(out["n_attended"] > 0,
                                             out["hours"] / out["n_attended"].clip(1), np.nan)
    # Sessions, meetings and hours are the attendees' records: they rest on n_attended.
    # Topic rows do not add up to "all topics" (a tutor can attend several topics).
    out = _finish(out, _SUMMARY_COLUMNS, ["n", "n_attended", "n_sessions", "n_meetings"],
                  {"year": year, "topics": topics},
                  {"counts": ["n", "n_attended"],
                   "derived": {**_on(["n", "n_attended"], "pct_attended", "sessions_per_tutor",
                                     "hours_per_tutor"),
                               **_on("n_attended", "hours_per_attendee", "hours",
                                     "n_sessions", "n_meetings")},
                   "complements": {"n_attended": "n"},  # tutors who did not attend
                   **_across_services("topic")})
    out.attrs["unmatched_cpd"] = unmatched
    return out


def reflective_regularity(tutors: pd.DataFrame, cpd: pd.DataFrame,
                          year: str | Sequence[str] | None = None, *,
                          topic: str = _REFLECTION, active: str = "year",
                          min_sessions: int = 1, pooled: bool = True,
                          confidence: float = 0.95) -> pd.DataFrame:
    """Share of tutors who took part in critical reflection termly or more often.

    A tutor is **regular** when they attended at least ``min_sessions``
    sessions of ``topic`` in *every* term they were active (terms: autumn
    September-December, spring January-March, summer April-August), so
    half-termly or more frequent groups count as termly. Tutors with some
    sessions but a term without are **some**; with none, **none**.

    Which terms a tutor was active (``active``):

    ``"year"`` (default)
        All three terms of each programme year the tutor is listed in (the
        tutors table has no start or end dates).
    ``"offered"``
        Only the terms in which the tutor's service ran at least one session
        of ``topic`` (for any of its tutors): regularity among the groups on
        offer, so a term with no group (e.g. lockdown) does not count against
        the tutor. Tutors whose service ran no group that year are
        ``n_not_offered`` and are left out of ``n``.

    Parameters
    ----------
    tutors, cpd : DataFrame
        As in :func:`cpd_participation`.
    year : str or sequence of str, optional
        Programme year(s); default every year.
    topic : str, default "critical reflection group"
    active : {"year", "offered"}, default "year"
    min_sessions : int, default 1
        Sessions needed in each active term.
    pooled : bool, default True
    confidence : float, default 0.95

    Returns
    -------
    DataFrame
        One row per service and year (then pooled): ``service``, ``year``,
        ``n`` (tutors assessed), ``n_regular``, ``n_some``, ``n_none``
        (``n_regular + n_some + n_none = n``), ``n_not_offered``,
        ``pct_regular`` with Wilson ``ci_low`` / ``ci_high``, ``topic``,
        ``active``, ``min_sessions``, ``ci_method``, ``note``.
    """
    _choice(topic, CPD_TOPICS, "topic")
    _choice(active, _ACTIVE_RULES, "active")
    if isinstance(min_sessions, bool) or not isinstance(min_sessions, (int, np.integer)) \
            or min_sessions < 1:
        raise ValueError(f"min_sessions must be a whole number of at least 1, not {min_sessions!r}")
    roster = _roster(tutors, year)
    sessions, unmatched = _attendance(roster, cpd, year)
    refl = sessions[sessions["topic"] == topic]
    per_term = refl.groupby(["tutor", "year", "term"]).size()
    offered = set(zip(refl["service"], refl["year"], refl["term"]))
    records = []
    for rec in roster.itertuples(index=False):
        terms = [t for t in TERMS if active == "year" or (rec.service, rec.year, t) in offered]
        counts = [int(per_term.get((rec.tutor, rec.year, t), 0)) for t in terms]
        if not terms:
            status = "not offered"
        elif all(c >= min_sessions for c in counts):
            status = "regular"
        elif sum(counts) > 0:
            status = "some"
        else:
            status = "none"
        records.append({"tutor": rec.tutor, "service": rec.service, "year": rec.year,
                        "status": status})
    people = pd.DataFrame(records, columns=["tutor", "service", "year", "status"])
    rows = []
    for service, yr, sub in _groups(people, pooled):
        c = sub["status"].value_counts()
        get = lambda s: int(c.get(s, 0))  # noqa: E731
        n = get("regular") + get("some") + get("none")
        note = ""
        if n == 0:
            note = f"no {topic} sessions offered" if get("not offered") else "no tutors listed"
        rows.append({"service": service, "year": yr, "n": n, "n_regular": get("regular"),
                     "n_some": get("some"), "n_none": get("none"),
                     "n_not_offered": get("not offered"), "note": note})
    out = pd.DataFrame(rows)
    if len(out):
        out["pct_regular"] = _pct(out["n_regular"], out["n"])
        out["ci_low"], out["ci_high"] = _ci(out["n_regular"], out["n"], confidence)
        out = out.assign(topic=topic, active=active, min_sessions=min_sessions,
                         ci_method="wilson")
    out = _finish(out, _REGULARITY_COLUMNS,
                  ["n", "n_regular", "n_some", "n_none", "n_not_offered"],
                  {"year": year, "topic": topic, "active": active, "min_sessions": min_sessions,
                   "terms": dict(TERM_MONTHS), "ci_method": "wilson", "confidence": confidence},
                  {"counts": ["n", "n_regular", "n_some", "n_none", "n_not_offered"],
                   "derived": _on(["n", "n_regular"], "pct_regular", "ci_low", "ci_high"),
                   "sums": {"n": ["n_regular", "n_some", "n_none"]},
                   **_across_services()})
    out.attrs["unmatched_cpd"] = unmatched
    return out


def cpd_format(cpd: pd.DataFrame, tutors: pd.DataFrame | None = None, *,
               by: str = "term", pooled: bool = True) -> pd.DataFrame:
    """Online vs in-person CPD by service and term: the shift to online from lockdown.

    Parameters
    ----------
    cpd : DataFrame
        Columns ``tutor``, ``date``, ``topic``, ``format`` (online / in
        person) and ``hours``.
    tutors : DataFrame, optional
        Columns ``tutor``, ``service``, ``year``, to split by service.
        Without it every record is counted in one ``"All services"`` group.
    by : {"term", "year"}, default "term"
        Split each programme year into terms (autumn Sep-Dec, spring Jan-Mar,
        summer Apr-Aug), or not (``term`` = ``"all terms"``).
    pooled : bool, default True
        Add rows over all services per year.

    Returns
    -------
    DataFrame
        One row per service, year, term and format (both formats always
        listed), in time order: ``service``, ``year``, ``term``, ``format``,
        ``n`` (distinct tutors with a session in this format), ``n_sessions``
        (tutor-sessions), ``n_meetings`` (distinct sessions: service, date and
        topic), ``hours`` (tutor-hours), ``n_total`` (distinct tutors with a
        session in either format), ``n_sessions_total`` and ``hours_total``
        (both formats), ``pct_sessions`` and ``pct_hours`` (this format's
        share of the total).
    """
    _choice(by, ("term", "year"), "by")
    _require(cpd, ["tutor", "date", "topic", "format", "hours"], "cpd")
    if tutors is None:
        years = programme_year_of(pd.to_datetime(cpd["date"])).astype(object)
        roster = pd.DataFrame({"tutor": _text(cpd["tutor"]), "service": POOLED,
                               "year": years.to_numpy()}).dropna().drop_duplicates()
        pooled = False
    else:
        roster = _roster(tutors, None)
    sessions, unmatched = _attendance(roster, cpd)
    _check_values(sessions["format"], CPD_FORMATS, "format")
    if by == "year":
        sessions["term"] = "all terms"
    terms = TERMS if by == "term" else ("all terms",)
    rows = []
    for service, yr, sub in _groups(sessions, pooled):
        present = [t for t in terms if (sub["term"] == t).any()]
        for term in present:
            s = sub[sub["term"] == term]
            total_n, total_h = len(s), float(s["hours"].sum())
            total_people = s["tutor"].nunique()
            for fmt in CPD_FORMATS:
                f = s[s["format"] == fmt]
                rows.append({"service": service, "year": yr, "term": term, "format": fmt,
                             "n": f["tutor"].nunique(), "n_sessions": len(f),
                             "n_meetings": len(f.drop_duplicates(["service", "date", "topic"])),
                             "hours": float(f["hours"].sum()), "n_total": total_people,
                             "n_sessions_total": total_n,
                             "hours_total": total_h})
    out = pd.DataFrame(rows)
    if len(out):
        out["pct_sessions"] = _pct(out["n_sessions"], out["n_sessions_total"])
        with np.errstate(invalid="ignore", divide="ignore"):
            out["pct_hours"] = np.where(out["hours_total"] > 0,
                                        100 * out["hours"] / out["hours_total"], np.nan)
    # Sessions and hours are the tutors' records: they rest on the tutors counted (n for
    # this format, n_total for both); a share rests on both. Tutors doing both formats
    # are in both n, so the formats do not add up to n_total.
    out = _finish(out, _FORMAT_COLUMNS,
                  ["n", "n_sessions", "n_meetings", "n_total", "n_sessions_total"],
                  {"by": by, "terms": dict(TERM_MONTHS)},
                  {"counts": ["n", "n_total"],
                   "derived": {**_on("n", "n_sessions", "n_meetings", "hours"),
                               **_on(["n", "n_total"], "pct_sessions", "pct_hours"),
                               **_on("n_total", "n_sessions_total", "hours_total")},
                   **_across_services("term", "format")})
    out.attrs["unmatched_cpd"] = unmatched
    return out


# --------------------------------------------------------------------------
# Workforce diversity and breadth
# --------------------------------------------------------------------------

def _family(characteristic: str) -> str:
    """``"ethnicity"``, ``"sex"`` or ``"disability"``: characteristics whose counts add up."""
    return characteristic.split("_", 1)[0]


def _has(series: pd.Series, value: object) -> tuple[np.ndarray, np.ndarray]:
    """(known mask, has-characteristic mask) for one column."""
    known = series.notna().to_numpy()
    if isinstance(value, bool):
        hit = series.astype(object).map(lambda v: (not pd.isna(v)) and bool(v) is value)
    else:
        hit = series.astype(object).map(lambda v: (not pd.isna(v)) and str(v) == str(value))
    return known, hit.to_numpy(dtype=bool)


def _benchmark_lookup(benchmarks: pd.DataFrame | None, services: pd.DataFrame | None,
                      phases: Sequence[str]) -> dict[tuple[str, str], tuple[float, str]]:
    """(service, characteristic) -> (population share 0-1, phase used)."""
    if benchmarks is None or services is None or benchmarks.empty or services.empty:
        return {}
    _require(benchmarks, ["local_authority", "phase", "characteristic", "share"], "benchmarks")
    _require(services, ["service", "local_authority"], "services")
    bench = pd.DataFrame({"la": _text(benchmarks["local_authority"]).str.strip().str.lower(),
                          "phase": _text(benchmarks["phase"]),
                          "characteristic": _text(benchmarks["characteristic"]),
                          "share": pd.to_numeric(benchmarks["share"], errors="coerce")})
    out: dict[tuple[str, str], tuple[float, str]] = {}
    for svc, la in zip(_text(services["service"]), _text(services["local_authority"])):
        if svc is None or la is None:
            continue
        mine = bench[bench["la"] == la.strip().lower()]
        for ch, sub in mine.groupby("characteristic"):
            for phase in phases:
                hit = sub[(sub["phase"] == phase) & sub["share"].notna()]
                if len(hit):
                    out[(svc, ch)] = (float(hit["share"].iloc[0]), phase)
                    break
    return out


def workforce_diversity(tutors: pd.DataFrame, participants: pd.DataFrame | None = None,
                        benchmarks: pd.DataFrame | None = None,
                        services: pd.DataFrame | None = None, *,
                        year: str | Sequence[str] | None = None,
                        characteristics: Sequence[str] = tuple(WORKFORCE_CHARACTERISTICS),
                        phase: str | Sequence[str] = _DEFAULT_PHASES, min_n: int = 10,
                        pooled: bool = True, confidence: float = 0.95) -> pd.DataFrame:
    """Workforce ethnicity, sex and disability against the participants and the local population.

    The HEARD "Representative" principle: do the tutors reflect the young
    people and communities the service works with? Shares are of the people
    whose characteristic is recorded (``n``); those not recorded are counted
    in ``n_unknown`` and left out of the share. Staff groups are small, so:

    * every share comes with its counts (``attrs["suppress"]`` says which
      counts each share rests on, that the services add up to the pooled
      row and that the categories of a ``family`` add up to ``n``), for the
      disclosure module to suppress (threshold 10 by default, domain.md §6);
    * no ratio is computed when fewer than ``min_n`` tutors (or participants)
      have the characteristic recorded -- the ``note`` column says so.

    The population share is the local authority's school-census share from
    ``benchmarks`` (pupils, the only population comparator the contracts
    hold), at the first of ``phase`` the local authority has. For pooled rows
    it is the mean of the services' shares weighted by each service's ``n``
    (the share the pooled workforce would have if each service mirrored its
    own area); it is left blank if a service in the pool has no benchmark.

    Parameters
    ----------
    tutors : DataFrame
        Columns ``tutor``, ``service``, ``year`` and the characteristic
        columns (``ethnicity``, ``sex``, ``disability``; a missing column
        counts as not recorded).
    participants : DataFrame, optional
        Columns ``participant``, ``service``, ``year``, ``ethnicity``,
        ``sex``. Participants are counted once per service and year.
    benchmarks : DataFrame, optional
        Columns ``local_authority``, ``phase``, ``characteristic``, ``share``
        (0-1), with characteristic names as in
        :data:`~changing_tracks.contracts.CHARACTERISTICS`.
    services : DataFrame, optional
        Columns ``service`` and ``local_authority`` (to find each service's
        benchmarks).
    year : str or sequence of str, optional
        Programme year(s); default every year in ``tutors``.
    characteristics : sequence of str, default every key of WORKFORCE_CHARACTERISTICS
        ``ethnicity_asian`` ... ``ethnicity_other``, ``sex_female``,
        ``sex_male``, ``disability``.
    phase : str or sequence of str, default ("all", "secondary", "primary")
        Benchmark phase(s) in order of preference; the one used is in
        ``phase``.
    min_n : int, default 10
        Fewest people with the characteristic recorded for a ratio.
    pooled : bool, default True
    confidence : float, default 0.95

    Returns
    -------
    DataFrame
        One row per service, year and characteristic: ``service``, ``year``,
        ``characteristic``, ``n`` (tutors with it recorded), ``n_with``,
        ``n_unknown``, ``pct`` (% of ``n``) with Wilson ``ci_low`` /
        ``ci_high``, ``n_participants``, ``n_participants_with``,
        ``n_participants_unknown``, ``pct_participants``, ``pct_population``
        (0-100), ``phase``, ``ratio_participants`` (workforce % / participant
        %), ``ratio_population`` (workforce % / population %), ``min_n``,
        ``ci_method``, ``note`` (why a comparison is blank), ``family``
        (``"ethnicity"``, ``"sex"`` or ``"disability"``: the characteristics
        whose counts add up, for disclosure control).
    """
    _require(tutors, ["tutor", "service", "year"], "tutors")
    characteristics = list(characteristics)
    unknown = [c for c in characteristics if c not in WORKFORCE_CHARACTERISTICS]
    if unknown:
        raise ValueError(f"characteristics must be from {list(WORKFORCE_CHARACTERISTICS)}; "
                         f"found {unknown}")
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise ValueError(f"min_n must be a whole number of at least 1, not {min_n!r}")
    phases = [phase] if isinstance(phase, str) else list(phase)
    roster_cols = _roster(tutors, year)
    staff = tutors.assign(**{c: _text(tutors[c]) for c in ("tutor", "service", "year")})
    staff = staff.dropna(subset=["tutor", "service", "year"]).drop_duplicates(["tutor", "year"])
    staff = staff[staff["year"].isin(set(roster_cols["year"]))]
    people = None
    if participants is not None:
        _require(participants, ["participant", "service", "year"], "participants")
        people = participants.assign(**{c: _text(participants[c])
                                        for c in ("participant", "service", "year")})
        people = people.drop_duplicates(["participant", "service", "year"])
    population = _benchmark_lookup(benchmarks, services, phases)
    rows = []
    for service, yr, sub in _groups(staff, pooled):
        svcs = sorted(sub["service"].unique())
        if people is not None:
            their = people[(people["year"] == yr) & people["service"].isin(svcs)]
        for ch in characteristics:
            column, value = WORKFORCE_CHARACTERISTICS[ch]
            notes = []
            if column in sub:
                known, hit = _has(sub[column], value)
            else:
                known = hit = np.zeros(len(sub), dtype=bool)
                notes.append(f"tutors' {column} not recorded")
            n, k = int(known.sum()), int((known & hit).sum())
            row = {"service": service, "year": yr, "characteristic": ch, "n": n, "n_with": k,
                   "n_unknown": len(sub) - n}
            # participants
            pct_p = np.nan
            if people is None:
                notes.append("no participant data")
                row.update(n_participants=pd.NA, n_participants_with=pd.NA,
                           n_participants_unknown=pd.NA)
            elif column not in their:
                notes.append(f"no participant comparator for {column}")
                row.update(n_participants=pd.NA, n_participants_with=pd.NA,
                           n_participants_unknown=pd.NA)
            else:
                pk, ph = _has(their[column], value)
                pn = int(pk.sum())
                row.update(n_participants=pn, n_participants_with=int((pk & ph).sum()),
                           n_participants_unknown=len(their) - pn)
                pct_p = float(_pct(int((pk & ph).sum()), pn))
            row["pct_participants"] = pct_p
            # population
            shares = [population.get((s, ch)) for s in svcs]
            pct_pop, used = np.nan, None
            if column == "disability":
                notes.append("no population comparator for disability")
            elif not shares or any(s is None for s in shares):
                notes.append("no population benchmark" if len(svcs) == 1
                             else "no population benchmark for every service in the pool")
            elif len(svcs) == 1:
                pct_pop, used = 100 * shares[0][0], shares[0][1]
            else:
                weights = np.array([((sub["service"] == s).to_numpy() & known).sum()
                                    for s in svcs], dtype=float)
                if weights.sum() > 0:
                    pct_pop = float(100 * np.average([s[0] for s in shares], weights=weights))
                    used = ", ".join(sorted({s[1] for s in shares}))
                    notes.append("population share weighted by each service's tutors")
            row["pct_population"], row["phase"] = pct_pop, used
            # ratios, only with enough people
            ratio_p = ratio_pop = np.nan
            pct_w = float(_pct(k, n))
            if n < min_n:
                notes.append(f"fewer than {min_n} tutors with {column} recorded: no ratio")
            else:
                if not math.isnan(pct_p):
                    if row["n_participants"] < min_n:
                        notes.append(f"fewer than {min_n} participants with {column} recorded: "
                                     "no participant ratio")
                    elif pct_p > 0:
                        ratio_p = pct_w / pct_p
                if not math.isnan(pct_pop) and pct_pop > 0:
                    ratio_pop = pct_w / pct_pop
            row.update(ratio_participants=ratio_p, ratio_population=ratio_pop,
                       note="; ".join(notes))
            rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["pct"] = _pct(out["n_with"], out["n"])
        out["ci_low"], out["ci_high"] = _ci(out["n_with"], out["n"], confidence)
        out = out.assign(min_n=min_n, ci_method="wilson")
        for c in ("pct_participants", "pct_population", "ratio_participants",
                  "ratio_population"):
            out[c] = out[c].astype(float)
    if len(out):
        out["family"] = out["characteristic"].map(_family)
    both = ["n", "n_with", "n_participants", "n_participants_with"]
    return _finish(out, _DIVERSITY_COLUMNS,
                   ["n", "n_with", "n_unknown", "n_participants", "n_participants_with",
                    "n_participants_unknown", "min_n"],
                   {"year": year, "characteristics": characteristics, "phase": phases,
                    "min_n": min_n, "ci_method": "wilson", "confidence": confidence},
                   {"counts": ["n", "n_with", "n_unknown", "n_participants",
                               "n_participants_with", "n_participants_unknown"],
                    "derived": {**_on(["n", "n_with"], "pct", "ci_low", "ci_high",
                                      "ratio_population"),
                                "pct_participants": ["n_participants", "n_participants_with"],
                                "ratio_participants": both},
                    # 36 of 40 with a characteristic says 4 without it
                    "complements": {"n_with": "n", "n_participants_with": "n_participants"},
                    # the local population's share is a published figure
                    "keep": ["pct_population"],
                    # services add up to the pooled row; the categories of one family
                    # (the ethnic groups; female and male) add up to n. The not-recorded
                    # counts repeat on every row of a family, so they are left out of
                    # these sums (their protection across services is the price).
                    "groups": [["year", "characteristic"], ["year", "service", "family"]],
                    "total": {"service": POOLED},
                    "additive": ["n", "n_with", "n_participants", "n_participants_with"]})


def _lists(tutors: pd.DataFrame, kind: str, year) -> pd.DataFrame:
    _choice(kind, tuple(_LIST_VOCABULARY), "kinds")
    roster = _roster(tutors, year)
    if kind not in tutors:
        raise ValueError(f"tutors needs a {kind!r} column (values joined by ';')")
    values = tutors.assign(**{c: _text(tutors[c]) for c in ("tutor", "service", "year")})
    values = values.dropna(subset=["tutor", "service", "year"]).drop_duplicates(["tutor", "year"])
    values = values[values["year"].isin(set(roster["year"]))]
    values = values.assign(values=values[kind].map(_split_list))
    return values[["tutor", "service", "year", "values"]].reset_index(drop=True)


def genre_breadth(tutors: pd.DataFrame, year: str | Sequence[str] | None = None, *,
                  kinds: Sequence[str] = ("genres", "practices"), evenness: str = "vocabulary",
                  pooled: bool = True) -> pd.DataFrame:
    """How many genres and practices a service's tutors teach, and how evenly ("Diverse").

    The Shannon index is ``H = -sum(p_i ln p_i)`` over the genres (or
    practices), ``p_i`` being genre *i*'s share of all mentions (a tutor
    teaching three genres mentions three). Evenness is ``H / ln(K)``, 0-1:
    1 when every genre is taught equally often. With ``evenness="vocabulary"``
    (default) ``K`` is the number of genres in the contract vocabulary, so a
    service teaching two genres equally scores low -- HEARD values *all*
    genres equally; ``"observed"`` uses the genres actually taught (Pielou's
    evenness: balance among what is taught, not breadth).

    Parameters
    ----------
    tutors : DataFrame
        Columns ``tutor``, ``service``, ``year`` and ``genres`` /
        ``practices`` (canonical values joined by ``";"``).
    year : str or sequence of str, optional
    kinds : sequence of {"genres", "practices"}, default both
    evenness : {"vocabulary", "observed"}, default "vocabulary"
    pooled : bool, default True

    Returns
    -------
    DataFrame
        One row per service, year and kind: ``service``, ``year``, ``kind``,
        ``n`` (tutors with at least one value recorded), ``n_unknown``
        (tutors with none), ``n_mentions``, ``n_distinct`` (distinct values
        taught), ``n_categories`` (``K``), ``shannon`` (``H``, natural log),
        ``evenness``, ``top`` (most taught value; ties joined by ", "),
        ``evenness_base``, ``note``.
    """
    _choice(evenness, _EVENNESS, "evenness")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    rows = []
    for kind in kinds:
        data = _lists(tutors, kind, year)
        vocabulary = _LIST_VOCABULARY[kind]
        for service, yr, sub in _groups(data, pooled):
            recorded = sub[sub["values"].map(len) > 0]
            mentions = pd.Series([v for vs in recorded["values"] for v in vs], dtype=object)
            counts = mentions.value_counts()
            total = int(counts.sum())
            note = ""
            if total:
                p = counts.to_numpy(dtype=float) / total
                h = float(-(p * np.log(p)).sum())
                k = len(set(vocabulary) | set(counts.index)) if evenness == "vocabulary" \
                    else len(counts)
                if k > 1:
                    even = h / math.log(k)
                else:
                    even = np.nan
                    note = "only one value taught: evenness undefined"
                top = ", ".join(sorted(counts.index[counts == counts.max()],
                                       key=lambda v: (vocabulary.index(v) if v in vocabulary
                                                      else len(vocabulary), v)))
            else:
                h, even, k, top = np.nan, np.nan, np.nan, None
                note = f"no {kind} recorded"
            rows.append({"service": service, "year": yr, "kind": kind, "n": len(recorded),
                         "n_unknown": len(sub) - len(recorded), "n_mentions": total,
                         "n_distinct": len(counts), "n_categories": k, "shannon": h,
                         "evenness": even, "top": top, "evenness_base": evenness,
                         "note": note})
    out = pd.DataFrame(rows)
    if len(out):
        out["n_categories"] = pd.array(out["n_categories"].astype(object).where(
            out["n_categories"].notna(), None), dtype="Int64")
    return _finish(out, _BREADTH_COLUMNS, ["n", "n_unknown", "n_mentions", "n_distinct"],
                   {"year": year, "kinds": kinds, "evenness": evenness, "log": "natural"},
                   {"counts": ["n", "n_unknown"],
                    "derived": _on("n", "n_mentions", "n_distinct", "shannon", "evenness",
                                   "top"),
                    **_across_services("kind")})


def genre_shares(tutors: pd.DataFrame, year: str | Sequence[str] | None = None, *,
                 kinds: Sequence[str] = ("genres", "practices"), pooled: bool = True,
                 confidence: float = 0.95) -> pd.DataFrame:
    """Share of a service's tutors who teach each genre and use each practice.

    Parameters
    ----------
    tutors : DataFrame
        As in :func:`genre_breadth`.
    year : str or sequence of str, optional
    kinds : sequence of {"genres", "practices"}, default both
    pooled : bool, default True
    confidence : float, default 0.95

    Returns
    -------
    DataFrame
        One row per service, year, kind and value -- every value of the
        contract vocabulary, zeros included, then any other value found:
        ``service``, ``year``, ``kind``, ``value``, ``n`` (tutors with at
        least one value recorded), ``n_with`` (tutors teaching it), ``pct``
        with Wilson ``ci_low`` / ``ci_high`` (a tutor can teach several, so
        the percentages add up to more than 100), ``ci_method``.
    """
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    rows = []
    for kind in kinds:
        data = _lists(tutors, kind, year)
        vocabulary = list(_LIST_VOCABULARY[kind])
        extra = sorted({v for vs in data["values"] for v in vs} - set(vocabulary))
        for service, yr, sub in _groups(data, pooled):
            recorded = sub[sub["values"].map(len) > 0]
            for value in vocabulary + extra:
                rows.append({"service": service, "year": yr, "kind": kind, "value": value,
                             "n": len(recorded),
                             "n_with": int(recorded["values"].map(lambda vs: value in vs).sum())})
    out = pd.DataFrame(rows)
    if len(out):
        out["pct"] = _pct(out["n_with"], out["n"])
        out["ci_low"], out["ci_high"] = _ci(out["n_with"], out["n"], confidence)
        out["ci_method"] = "wilson"
    return _finish(out, _SHARE_COLUMNS, ["n", "n_with"],
                   {"year": year, "kinds": kinds, "ci_method": "wilson",
                    "confidence": confidence},
                   {"counts": ["n", "n_with"],
                    "derived": _on(["n", "n_with"], "pct", "ci_low", "ci_high"),
                    **_across_services("kind", "value")})


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

_DIRECTION_COLOURS = {"moved on": "#1b7837", "same": "#7f7f7f", "moved back": "#c51b7d",
                      "baseline only": "#7f7f7f", "follow-up only": "#7f7f7f"}


def plot_stage_journey(journey: pd.DataFrame, areas: Sequence[str] | None = None,
                       ncols: int = 4) -> Any:
    """Each service's arrow from baseline to follow-up stage, per area.

    Parameters
    ----------
    journey : DataFrame
        The result of :func:`stage_journey`.
    areas : sequence of str, optional
        Areas to draw (default every area present, in contract order).
    ncols : int, default 4
        Panels per row, when several services are drawn.

    Returns
    -------
    matplotlib.figure.Figure
        For one service, one panel with a row per area (its whole journey at a
        glance); for several, small multiples with one panel per area and a row
        per service, the rows shared. The x axis is the four stages. Arrows are
        green when the service moved on and pink when it moved back; a grey dot
        is the same stage; a hollow circle a baseline with no follow-up (a
        filled square a follow-up with no baseline).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    _require(journey, ["service", "area", "step_baseline", "step_follow_up", "direction"],
             "journey")
    areas = _area_order(journey["area"]) if areas is None else list(areas)
    services = sorted(journey["service"].astype(str).unique(), reverse=True)
    if len(services) == 1:
        # one service: areas are the rows, top to bottom in contract order
        panels = [(services[0], journey, "area", areas[::-1])]
        ncols = 1
    else:
        panels = [(area, journey[journey["area"].astype(str) == area], "service", services)
                  for area in areas]
        ncols = max(1, min(ncols, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    n_rows_each = max(3, len(panels[0][3]) if panels else 0)
    fig = Figure(figsize=(3.0 * ncols + 1.2 if ncols > 1 else 6.0,
                          0.32 * n_rows_each * nrows + 1.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    shown: set[str] = set()
    for idx, ax in enumerate(axes.flat):
        if idx >= len(panels):
            ax.set_visible(False)
            continue
        title, rows, row_column, labels = panels[idx]
        shown |= _draw_journeys(ax, rows, row_column, {label: i for i, label in
                                                       enumerate(labels)})
        if len(services) > 1:
            ax.set_title(title)
        ax.set_xlim(-0.4, len(STAGES) - 0.6)
        ax.set_xticks(range(len(STAGES)), STAGES, rotation=35, ha="right", fontsize=8)
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
    legend = {
        "moved on": Line2D([], [], color=_DIRECTION_COLOURS["moved on"], marker=">"),
        "moved back": Line2D([], [], color=_DIRECTION_COLOURS["moved back"], marker="<"),
        "same": Line2D([], [], color="#7f7f7f", marker="o", ls=""),
        "baseline only": Line2D([], [], color="#7f7f7f", marker="o", mfc="white", ls=""),
        "follow-up only": Line2D([], [], color="#7f7f7f", marker="s", ls=""),
    }
    kinds = [k for k in legend if k in shown or k in ("moved on", "moved back", "same")]
    fig.legend([legend[k] for k in kinds], kinds, loc="outside lower center",
               ncol=len(kinds), frameon=False)
    fig.suptitle("Stages of inclusion: baseline to follow-up"
                 + (f", {services[0]}" if len(services) == 1 else ""), wrap=True)
    return fig


def _draw_journeys(ax: Any, rows: pd.DataFrame, row_column: str,
                   ypos: dict[str, int]) -> set[str]:
    """Draw each row's journey on its line of ``ax``; return the kinds of mark drawn."""
    marks: dict[tuple, list[tuple[int, int]]] = {}  # one Line2D per marker style
    shown = set()
    for label, b, f, direction in zip(rows[row_column].astype(str), rows["step_baseline"],
                                      rows["step_follow_up"], rows["direction"].astype(str)):
        y = ypos[label]
        b = None if pd.isna(b) else int(b)
        f = None if pd.isna(f) else int(f)
        colour = _DIRECTION_COLOURS.get(direction, "#7f7f7f")
        if b is not None and f is not None and b != f:
            ax.annotate("", xy=(f, y), xytext=(b, y),
                        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.8})
            style = ("o", colour, colour, 4)
            shown.add("moved on" if f > b else "moved back")
        elif b is not None and f is not None:
            style = ("o", colour, colour, 6)
            shown.add("same")
        elif b is not None:
            style = ("o", "white", colour, 6)
            shown.add("baseline only")
        elif f is not None:
            style, b = ("s", colour, colour, 5), f
            shown.add("follow-up only")
        else:
            continue
        marks.setdefault(style, []).append((b, y))
    for (marker, face, edge, size), points in marks.items():
        x, y = zip(*points)
        ax.plot(x, y, ls="", marker=marker, mfc=face, mec=edge, ms=size)
    return shown


def plot_cpd_heatmap(summary: pd.DataFrame, value: str = "hours_per_tutor",
                     year: str | None = None) -> Any:
    """Service x topic heatmap of CPD from :func:`cpd_summary`.

    Parameters
    ----------
    summary : DataFrame
        The result of :func:`cpd_summary`.
    value : str, default "hours_per_tutor"
        Column to show: ``hours_per_tutor``, ``sessions_per_tutor``,
        ``pct_attended``, ``hours`` or ``n_meetings`` ...
    year : str, optional
        Programme year to show; default the latest in ``summary``.

    Returns
    -------
    matplotlib.figure.Figure
        Services as rows (pooled row last), topics as columns (``"all
        topics"`` left out), each cell annotated; blank cells (e.g. suppressed
        values) are left white.
    """
    from matplotlib.figure import Figure

    _require(summary, ["service", "year", "topic", value], "summary")
    data = summary[summary["topic"].astype(str) != ALL_TOPICS]
    years = sorted(data["year"].dropna().astype(str).unique())
    if year is None:
        year = years[-1] if years else None
    elif year not in years:
        raise ValueError(f"year must be one of {years}, not {year!r}")
    data = data[data["year"].astype(str) == str(year)] if year is not None else data
    table = data.pivot_table(index="service", columns="topic", values=value, aggfunc="first",
                             dropna=False)
    cols = [t for t in CPD_TOPICS if t in table.columns] + \
        [t for t in table.columns if t not in CPD_TOPICS]
    rows = sorted([s for s in table.index if s != POOLED]) + \
        ([POOLED] if POOLED in table.index else [])
    # Suppressed cells (NaN or a symbol such as "c") are left blank.
    table = table.reindex(index=rows, columns=cols).apply(pd.to_numeric, errors="coerce")
    table = table.astype(float)
    fig = Figure(figsize=(1.0 + 0.75 * max(1, len(cols)), 1.8 + 0.45 * max(1, len(rows))),
                 layout="constrained")
    ax = fig.subplots()
    finite = table.to_numpy()[np.isfinite(table.to_numpy())]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(np.ma.masked_invalid(table.to_numpy()), cmap="Blues", aspect="auto",
                      vmin=0, vmax=top)
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = table.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}", ha="center",
                        va="center", fontsize=8, color="white" if v > 0.6 * top else "black")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    fig.colorbar(image, ax=ax, label=value.replace("_", " "))
    ax.set_title(f"CPD by service and topic ({value.replace('_', ' ')}"
                 + (f", {year})" if year else ")"))
    return fig


def plot_workforce_profile(diversity: pd.DataFrame, service: str | None = None,
                           year: str | None = None) -> Any:
    """Workforce vs participants vs local population, per characteristic.

    Parameters
    ----------
    diversity : DataFrame
        The result of :func:`workforce_diversity`.
    service : str, optional
        Service to show; default the pooled rows ("All services") if present,
        else the first service.
    year : str, optional
        Programme year; default the latest.

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal grouped bars (% with the characteristic) for the workforce
        (with its Wilson interval), participants and population; the
        workforce's ``n`` is printed beside each group. Missing or
        suppressed values are simply not drawn.
    """
    from matplotlib.figure import Figure

    _require(diversity, ["service", "year", "characteristic", "n", "pct", "pct_participants",
                         "pct_population"], "diversity")
    data = diversity.assign(service=diversity["service"].astype(str),
                            year=diversity["year"].astype(str))
    services = list(dict.fromkeys(data["service"]))
    if service is None:
        service = POOLED if POOLED in services else (services[0] if services else None)
    elif service not in services:
        raise ValueError(f"service must be one of {services}, not {service!r}")
    years = sorted(data["year"].unique())
    if year is None:
        year = years[-1] if years else None
    elif year not in years:
        raise ValueError(f"year must be one of {years}, not {year!r}")
    sub = data[(data["service"] == service) & (data["year"] == year)]
    labels = list(sub["characteristic"])
    fig = Figure(figsize=(7.5, 1.2 + 0.55 * max(1, len(labels))), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(labels))[::-1]
    h = 0.26
    series = (("workforce", "pct", "#2166ac"), ("participants", "pct_participants", "#f4a582"),
              ("population", "pct_population", "#bababa"))
    for k, (label, col, colour) in enumerate(series):
        vals = pd.to_numeric(sub[col], errors="coerce").to_numpy(dtype=float)
        ax.barh(y + (1 - k) * h, np.nan_to_num(vals, nan=0.0), height=h, color=colour,
                label=label)
        if col == "pct" and {"ci_low", "ci_high"} <= set(sub.columns):
            lo = pd.to_numeric(sub["ci_low"], errors="coerce").to_numpy(dtype=float)
            hi = pd.to_numeric(sub["ci_high"], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(vals)
            ax.errorbar(vals[ok], (y + h)[ok], xerr=[vals[ok] - lo[ok], hi[ok] - vals[ok]],
                        fmt="none", ecolor="black", lw=0.8, capsize=2)
    for yi, n in zip(y, sub["n"]):
        ax.text(101, yi, f"n={n}" if not pd.isna(n) else "n suppressed", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([c.replace("_", ": ", 1) if c != "disability" else c for c in labels],
                       fontsize=8)
    ax.set_xlim(0, 112)
    ax.set_xlabel("% with the characteristic (of those recorded)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3,
               fontsize=8, frameon=False)
    ax.set_title(f"Workforce profile: {service}" + (f", {year}" if year else ""))
    return fig
