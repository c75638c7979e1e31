"""ED&I audit: collated service scores, change, completion and action priorities.

The Youth Music equality, diversity and inclusion (ED&I) self-assessment tool
has 61 statements in three sections, each rated 1 = not met, 2 = partially
met, 3 = fully met (183 points in all). In Changing Tracks several staff of a
music service rate the checklist separately at each wave (baseline, then
follow-up a year later). This module turns those rater-level ratings
(``audit_ratings`` in :mod:`changing_tracks.contracts`) into:

* :func:`collate` -- one rating per service, wave and statement (median of the
  raters by default) with the raters' spread and a disagreement flag;
* :func:`service_scores` -- section and total scores, out of the maximum
  possible and as % of the applicable maximum (not-applicable statements leave
  the denominator);
* :func:`statement_change` and :func:`change` -- baseline to follow-up change in
  points and percentage points, and statements improved / same / declined with
  an exact sign test;
* :func:`completion` -- whether each service completed the follow-up audit by
  the deadline (July 2020, September 2020 for some after lockdown);
* :func:`priorities`, :func:`shared_gaps` and :func:`export_action_plan` -- the
  lowest-rated statements per service, the gaps most services share, and an
  Excel workbook shaped like the Youth Music action-plan template;
* :func:`plot_heatmap`, :func:`plot_dumbbell` and :func:`plot_disagreement` --
  figures (no radar charts: their shape depends on axis order and area
  exaggerates differences).

Collation choices, all keyword parameters recorded in the output (``method``
column and ``DataFrame.attrs["settings"]``):

``method="median"``
    How the raters' ratings of one statement are combined: ``"median"``,
    ``"mean"``, ``"min"`` (the most cautious rater) or ``"mode"`` (most
    frequent rating; ties go to the lowest tied rating, the cautious choice).
``halves="keep"``
    A median of an even number of raters can fall halfway between two scale
    points (two raters rating 2 and 3 give 2.5). ``"keep"`` (default) keeps
    the half point, so that scores can end in .5 and no rater's view is
    dropped; ``"up"`` rounds it up (2.5 -> 3) and ``"down"`` rounds it down
    (2.5 -> 2). Only the median produces halves; the mean is kept as it is.
``not_applicable="majority"``
    When the collated statement is *not applicable*: ``"majority"`` (default)
    when more raters said N/A than gave a rating (a tie stays applicable, so
    the statement stays in the denominator); ``"all"`` only when no rater gave
    a rating; ``"any"`` when at least one rater said N/A. Raters who left the
    statement blank ("not rated") do not vote. A statement nobody rated or
    marked N/A is *not rated*.
``disagree_at=2``
    Raters disagree on a statement when their highest and lowest ratings
    differ by at least this many points (2 = one said "not met", another
    "fully met").

Disclosure control: audit scores and ratings describe organisations
(services), not young people, and their ``n`` / ``n_*`` columns count
statements, raters or services. Every table therefore carries
``attrs["suppress"] = {"counts": [], "derived": {}}``, the spec
:meth:`changing_tracks.reports.Report.publish` applies by default: nothing is
suppressed, but the table still goes through ``publish``.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .contracts import AUDIT_RATING_LABELS, AUDIT_SECTIONS, AUDIT_STATUSES, WAVES
from .stats import sign_test

__all__ = [
    "COLLATE_METHODS",
    "collate",
    "service_scores",
    "statement_change",
    "change",
    "completion",
    "priorities",
    "shared_gaps",
    "export_action_plan",
    "plot_heatmap",
    "plot_dumbbell",
    "plot_disagreement",
]

#: Ways of combining several raters' ratings of one statement.
COLLATE_METHODS: tuple[str, ...] = ("median", "mean", "min", "mode")
_HALVES = ("keep", "up", "down")
_NA_RULES = ("majority", "all", "any")
_MAX_RATING = 3
_TOTAL = "Total"
_SECTION_LABELS: tuple[str, ...] = tuple(str(s) for s in AUDIT_SECTIONS) + (_TOTAL,)
_SECTION_TITLES: dict[str, str] = {
    **{str(k): v for k, v in AUDIT_SECTIONS.items()}, _TOTAL: "All sections"}
_RATING_WORDS: dict[int, str] = {v: k for k, v in AUDIT_RATING_LABELS.items()}

_COLLATE_COLUMNS = [
    "service", "wave", "statement", "section", "status", "rating", "method", "n",
    "n_raters", "n_rated", "n_not_applicable", "n_not_rated", "rating_min", "rating_max",
    "spread", "disagree", "split_na",
]
_SCORE_COLUMNS = [
    "service", "wave", "section", "section_title", "score", "max_possible", "max_applicable",
    "pct", "pct_rated", "n", "n_statements", "n_rated", "n_not_rated", "n_not_applicable",
    "n_raters", "method", "note",
]
_STATEMENT_CHANGE_COLUMNS = [
    "service", "statement", "section", "status_baseline", "status_follow_up",
    "rating_baseline", "rating_follow_up", "difference", "direction", "method",
]
_CHANGE_COLUMNS = [
    "service", "section", "section_title", "score_baseline", "score_follow_up",
    "change_points", "pct_baseline", "pct_follow_up", "change_pct", "n", "n_paired",
    "n_improved", "n_same", "n_declined", "p_sign", "method", "note",
]
_PRIORITY_COLUMNS = [
    "service", "wave", "rank", "statement", "section", "text", "rating", "rating_label",
    "spread", "disagree", "n", "n_rated", "method",
]
_GAP_COLUMNS = [
    "statement", "section", "text", "n", "n_services", "n_gap", "pct_gap", "services",
    "gap", "method",
]
_ACTION_PLAN_HEADERS: tuple[str, ...] = (
    "Statement ref", "Section", "Statement", "Current rating", "Rater spread",
    "What we will do", "Who", "By when", "How we will know",
)


# --------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------

def _natural_key(ref: object) -> tuple:
    """Sort key for statement references: "1.9" before "1.10", "2.1" after "1.12"."""
    parts = re.split(r"(\d+)", str(ref))
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p != "")


def _sort_statements(refs: Iterable[object]) -> list:
    return sorted(set(refs), key=_natural_key)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing} "
                         f"(found {list(frame.columns)})")


def _choice(value: object, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, not {value!r}")


def _check_collation(method: object, halves: object, not_applicable: object) -> None:
    """Fail on a collation choice that :func:`collate` does not offer."""
    _choice(method, COLLATE_METHODS, "method")
    _choice(halves, _HALVES, "halves")
    _choice(not_applicable, _NA_RULES, "not_applicable")


def _as_text(series: pd.Series) -> pd.Series:
    """Identifiers as plain Python strings (object), missing as None."""
    # Convert each distinct value once (ids repeat across many rows), then spread them out.
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    text = np.array([str(v) for v in uniques] + [None], dtype=object)
    return pd.Series(text[codes], index=series.index, dtype=object)


def _prepare_ratings(ratings: pd.DataFrame, *, with_dates: bool = False) -> pd.DataFrame:
    """Validated copy of audit_ratings: text ids, float ratings, a status for every row."""
    _require(ratings, ["service", "wave", "rater", "statement", "rating"], "ratings")
    out = pd.DataFrame({
        "service": _as_text(ratings["service"]),
        "wave": _as_text(ratings["wave"]),
        "rater": _as_text(ratings["rater"]),
        "statement": _as_text(ratings["statement"]),
    })
    for col in ("service", "wave", "rater", "statement"):
        if out[col].isna().any():
            raise ValueError(f"ratings: column {col!r} has missing values in "
                             f"{int(out[col].isna().sum())} row(s); every row needs a {col}")
    bad_waves = sorted(set(out["wave"]) - set(WAVES))
    if bad_waves:
        raise ValueError(f"ratings: wave must be one of {list(WAVES)}; found {bad_waves}")
    rating = pd.to_numeric(ratings["rating"], errors="coerce").astype(float)
    raw_missing = ratings["rating"].isna().to_numpy()
    unreadable = rating.isna().to_numpy() & ~raw_missing
    if unreadable.any():
        raise ValueError("ratings: rating must be 1, 2, 3 or missing; found "
                         f"{sorted(set(map(str, ratings['rating'][unreadable])))[:5]}")
    bad = rating.notna() & ~rating.isin([1.0, 2.0, 3.0])
    if bad.any():
        raise ValueError("ratings: rating must be 1, 2 or 3 (or missing); found "
                         f"{sorted(set(rating[bad]))[:5]}")
    out["rating"] = rating.to_numpy()
    derived = np.where(rating.notna(), "rated", "not rated")
    if "status" in ratings.columns:
        status = _as_text(ratings["status"])
        status = status.where(status.notna(), pd.Series(derived, index=status.index))
        unknown = sorted(set(status) - set(AUDIT_STATUSES))
        if unknown:
            raise ValueError(f"ratings: status must be one of {list(AUDIT_STATUSES)}; "
                             f"found {unknown}")
        rated_without = (status == "rated").to_numpy() & rating.isna().to_numpy()
        if rated_without.any():
            raise ValueError(f"ratings: {int(rated_without.sum())} row(s) have status "
                             "'rated' but no rating")
        rating_with = (status != "rated").to_numpy() & rating.notna().to_numpy()
        if rating_with.any():
            raise ValueError(f"ratings: {int(rating_with.sum())} row(s) have a rating but "
                             "status 'not rated' or 'not applicable'")
        out["status"] = status.to_numpy()
    else:
        out["status"] = derived
    if with_dates:
        out["date"] = (pd.to_datetime(ratings["date"], errors="coerce").to_numpy()
                       if "date" in ratings.columns else pd.NaT)
    dup = out.duplicated(["service", "wave", "rater", "statement"], keep=False)
    if dup.any():
        first = out.loc[dup, ["service", "wave", "rater", "statement"]].iloc[0].tolist()
        raise ValueError(f"ratings: {int(dup.sum())} rows repeat a service, wave, rater and "
                         f"statement (e.g. {first}); each rater rates a statement once per wave")
    return out.reset_index(drop=True)


def _prepare_statements(statements: pd.DataFrame, *, need_text: bool = False) -> pd.DataFrame:
    cols = ["statement", "section"] + (["text"] if need_text else [])
    _require(statements, cols, "statements")
    out = pd.DataFrame({"statement": _as_text(statements["statement"])})
    section = pd.to_numeric(statements["section"], errors="coerce")
    bad = section.isna() | ~section.isin(list(AUDIT_SECTIONS))
    if bad.any():
        raise ValueError(f"statements: section must be one of {list(AUDIT_SECTIONS)}; found "
                         f"{sorted(set(map(str, statements['section'][bad])))[:5]}")
    out["section"] = section.astype(int).to_numpy()
    out["text"] = (_as_text(statements["text"]) if "text" in statements.columns
                   else pd.Series([None] * len(out), dtype=object))
    if out["statement"].isna().any():
        raise ValueError("statements: every row needs a statement reference")
    dup = out["statement"].duplicated()
    if dup.any():
        raise ValueError(f"statements: references must be unique; repeated "
                         f"{sorted(set(out.loc[dup, 'statement']))[:5]}")
    order = {ref: i for i, ref in enumerate(_sort_statements(out["statement"]))}
    out = out.iloc[np.argsort(out["statement"].map(order).to_numpy(), kind="stable")]
    return out.reset_index(drop=True)


def _check_known(ratings: pd.DataFrame, statements: pd.DataFrame) -> None:
    unknown = _sort_statements(set(ratings["statement"]) - set(statements["statement"]))
    if unknown:
        raise ValueError(f"ratings refer to statements not in the statements table: "
                         f"{unknown[:8]}{' …' if len(unknown) > 8 else ''}")


def _wave_rank(wave: pd.Series) -> pd.Series:
    return wave.map({w: i for i, w in enumerate(WAVES)})


def _settings(**kwargs: Any) -> dict:
    return dict(kwargs)


# --------------------------------------------------------------------------
# Collation
# --------------------------------------------------------------------------

def _not_people() -> dict:
    """Disclosure spec of every audit table: no counts of people (see the module docstring)."""
    return {"counts": [], "derived": {}}


def _mode_lowest(values: np.ndarray) -> float:
    vals, counts = np.unique(values, return_counts=True)
    return float(vals[counts == counts.max()].min())


def collate(
    ratings: pd.DataFrame,
    *,
    method: str = "median",
    halves: str = "keep",
    not_applicable: str = "majority",
    disagree_at: int = 2,
    statements: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Collate several raters' ratings into one rating per service, wave and statement.

    Hertfordshire's practice is for several staff to rate the checklist
    separately; their ratings are combined per statement (the median by
    default) before a service score is summed. The raters' spread shows where
    they see the service differently, which is itself a prompt for discussion.

    Parameters
    ----------
    ratings : DataFrame
        ``audit_ratings``: ``service``, ``wave``, ``rater``, ``statement``,
        ``rating`` (1-3 or missing) and optionally ``status`` ("rated", "not
        rated", "not applicable"; derived from ``rating`` when absent, so a
        missing rating then means not rated).
    method : {"median", "mean", "min", "mode"}
        How raters' ratings are combined (see the module docstring; mode ties
        go to the lowest tied rating).
    halves : {"keep", "up", "down"}
        What happens to a median halfway between two scale points (2.5):
        kept (default), rounded half up, or rounded half down.
    not_applicable : {"majority", "all", "any"}
        When the collated statement counts as not applicable (default: more
        raters said N/A than rated it; raters who left it blank do not vote).
    disagree_at : int
        Spread (highest minus lowest rating) at which raters are flagged as
        disagreeing; default 2 (one "not met", another "fully met").
    statements : DataFrame, optional
        ``audit_statements`` (``statement``, ``section``); when given, adds the
        section and checks that every rated statement is known.

    Returns
    -------
    DataFrame
        One row per service, wave and statement present in ``ratings``, sorted
        by service, wave (baseline first) and statement reference:

        - ``service``, ``wave``, ``statement``, ``section`` (Int64; missing
          when ``statements`` is not given)
        - ``status``: "rated", "not applicable" or "not rated" (collated)
        - ``rating``: collated rating (float; missing unless status is rated)
        - ``method``: the ``method`` used
        - ``n``: raters whose ratings the collated rating rests on (= ``n_rated``)
        - ``n_raters``: raters with a row for the statement; ``n_rated``,
          ``n_not_applicable``, ``n_not_rated`` split them by what they entered
        - ``rating_min``, ``rating_max``, ``spread`` (max - min; 0 with one
          rater, missing with none)
        - ``disagree``: spread >= ``disagree_at`` (False with fewer than two
          ratings)
        - ``split_na``: some raters rated the statement and others said N/A

        ``attrs["settings"]`` records the choices.

    Examples
    --------
    >>> r = pd.DataFrame({"service": "herts", "wave": "baseline", "rater": ["a", "b"],
    ...                   "statement": "1.01", "rating": [2, 3]})
    >>> collate(r)[["statement", "rating", "spread"]].to_dict("records")
    [{'statement': '1.01', 'rating': 2.5, 'spread': 1.0}]
    """
    _check_collation(method, halves, not_applicable)
    if isinstance(disagree_at, bool) or not isinstance(disagree_at, (int, np.integer)) \
            or not 1 <= disagree_at <= 2:
        raise ValueError(f"disagree_at must be 1 or 2 (points on the 1-3 scale), not {disagree_at!r}")
    data = _prepare_ratings(ratings)
    stmts = None
    if statements is not None:
        stmts = _prepare_statements(statements)
        _check_known(data, stmts)
    return _collate(data, stmts, method=method, halves=halves, not_applicable=not_applicable,
                    disagree_at=disagree_at)


def _collate(data: pd.DataFrame, stmts: pd.DataFrame | None, *, method: str, halves: str,
             not_applicable: str, disagree_at: int) -> pd.DataFrame:
    """:func:`collate` of ratings and statements already prepared and checked."""
    section_of: dict[str, int] = {}
    if stmts is not None:
        section_of = dict(zip(stmts["statement"], stmts["section"]))
    settings = _settings(method=method, halves=halves, not_applicable=not_applicable,
                         disagree_at=disagree_at)
    if data.empty:
        out = _empty(_COLLATE_COLUMNS)
        out.attrs["settings"] = settings
        out.attrs["suppress"] = _not_people()
        return out

    keys = ["service", "wave", "statement"]
    data["is_rated"] = data["status"] == "rated"
    data["is_na"] = data["status"] == "not applicable"
    data["is_blank"] = data["status"] == "not rated"
    counts = data.groupby(keys, sort=False).agg(
        n_raters=("rater", "nunique"), n_rated=("is_rated", "sum"),
        n_not_applicable=("is_na", "sum"), n_not_rated=("is_blank", "sum"))
    rated = data[data["is_rated"]]
    grouped = rated.groupby(keys, sort=False)["rating"]
    stats = pd.DataFrame({"rating_min": grouped.min(), "rating_max": grouped.max()})
    if method == "median":
        value = grouped.median()
        if halves == "up":
            value = np.floor(value + 0.5)
        elif halves == "down":
            value = np.ceil(value - 0.5)
    elif method == "mean":
        value = grouped.mean()
    elif method == "min":
        value = grouped.min()
    else:
        value = grouped.agg(lambda s: _mode_lowest(s.to_numpy()))
    stats["value"] = value
    out = counts.join(stats, how="left").reset_index()
    for col in ("n_raters", "n_rated", "n_not_applicable", "n_not_rated"):
        out[col] = out[col].astype("int64")

    responded = out["n_rated"] + out["n_not_applicable"]
    if not_applicable == "majority":
        is_na = out["n_not_applicable"] > out["n_rated"]
    elif not_applicable == "all":
        is_na = (out["n_rated"] == 0) & (out["n_not_applicable"] > 0)
    else:
        is_na = out["n_not_applicable"] > 0
    status = np.where(responded == 0, "not rated", np.where(is_na, "not applicable", "rated"))
    out["status"] = status.astype(object)
    out["rating"] = out["value"].where(out["status"] == "rated")
    out["spread"] = out["rating_max"] - out["rating_min"]
    out["disagree"] = ((out["n_rated"] >= 2) & (out["spread"] >= disagree_at)).astype(bool)
    out["split_na"] = ((out["n_rated"] > 0) & (out["n_not_applicable"] > 0)).astype(bool)
    out["n"] = np.where(out["status"] == "rated", out["n_rated"], 0).astype("int64")
    out["method"] = method
    out["section"] = pd.array([section_of.get(s) for s in out["statement"]], dtype="Int64")
    out = _sort(out, ["service", "wave", "statement"])
    out = out[_COLLATE_COLUMNS].reset_index(drop=True)
    out.attrs["settings"] = settings
    out.attrs["suppress"] = _not_people()
    return out


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _sort(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Sort by service name, wave order, section order and natural statement order."""
    keys = []
    for col in by:
        if col == "wave":
            keys.append(_wave_rank(frame[col]).to_numpy())
        elif col == "statement":
            order = {ref: i for i, ref in enumerate(_sort_statements(frame[col]))}
            keys.append(frame[col].map(order).to_numpy())
        elif col == "section":
            keys.append(frame[col].map(
                {s: i for i, s in enumerate(_SECTION_LABELS)}).to_numpy())
        else:
            vals = frame[col].astype(str)
            order = {v: i for i, v in enumerate(sorted(set(vals)))}
            keys.append(vals.map(order).to_numpy())
    if not keys or frame.empty:
        return frame
    idx = np.lexsort(tuple(reversed(keys)))
    return frame.iloc[idx]


def _collated_grid(
    ratings: pd.DataFrame, statements: pd.DataFrame, *, method: str, halves: str,
    not_applicable: str, waves: Sequence[str] = WAVES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Collated ratings for every service x wave x statement (absent rows: not rated).

    Also returns raters per service and wave (those who rated or marked N/A at
    least one statement).
    """
    stmts = _prepare_statements(statements)
    data = _prepare_ratings(ratings)
    _check_known(data, stmts)
    coll = _collate(data, stmts, method=method, halves=halves, not_applicable=not_applicable,
                    disagree_at=2)
    services = sorted(set(data["service"]))
    grid = pd.MultiIndex.from_product([services, list(waves), list(stmts["statement"])],
                                      names=["service", "wave", "statement"]).to_frame(index=False)
    grid = grid.merge(stmts[["statement", "section", "text"]], on="statement", how="left")
    merged = grid.merge(coll.drop(columns=["section"]), on=["service", "wave", "statement"],
                        how="left")
    merged["status"] = merged["status"].fillna("not rated")
    for col in ("n", "n_raters", "n_rated", "n_not_applicable", "n_not_rated"):
        merged[col] = merged[col].fillna(0).astype("int64")
    merged["disagree"] = merged["disagree"].fillna(False).astype(bool)
    merged["split_na"] = merged["split_na"].fillna(False).astype(bool)
    merged["method"] = method
    responding = data[data["status"] != "not rated"]
    raters = (responding.groupby(["service", "wave"])["rater"]
              .agg(lambda s: sorted(set(s))).rename("raters").reset_index())
    return merged, raters


# --------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------

def _score_rows(status: np.ndarray, rating: np.ndarray) -> dict:
    """Score of one service, wave and section from its statements' collated status and rating."""
    n_statements = len(status)
    rated = status == "rated"
    n_rated = int(rated.sum())
    n_na = int((status == "not applicable").sum())
    n_blank = n_statements - n_rated - n_na
    score = float(rating[rated].sum()) if n_rated else np.nan
    max_possible = _MAX_RATING * n_statements
    max_applicable = _MAX_RATING * (n_statements - n_na)
    pct = 100 * score / max_applicable if n_rated and max_applicable else np.nan
    pct_rated = 100 * score / (_MAX_RATING * n_rated) if n_rated else np.nan
    notes = []
    if n_rated == 0 and n_na == 0:
        notes.append("no ratings at this wave")
    elif n_rated == 0:
        notes.append("every statement not applicable" if n_blank == 0
                     else "no statement rated")
    elif n_blank:
        notes.append(f"{n_blank} statement(s) not rated, counted as 0 in score and pct")
    return {"score": score, "max_possible": max_possible, "max_applicable": max_applicable,
            "pct": pct, "pct_rated": pct_rated, "n": n_rated, "n_statements": n_statements,
            "n_rated": n_rated, "n_not_rated": n_blank, "n_not_applicable": n_na,
            "note": "; ".join(notes)}


def service_scores(
    ratings: pd.DataFrame,
    statements: pd.DataFrame,
    *,
    method: str = "median",
    halves: str = "keep",
    not_applicable: str = "majority",
) -> pd.DataFrame:
    """Section and total audit scores per service and wave.

    Ratings are collated per statement (:func:`collate`), then summed per
    section and in total. The maximum possible is 3 x the number of statements
    (183 for the 61 statements of the Youth Music tool); statements collated
    as not applicable leave the denominator (``max_applicable``) so that a
    service is not penalised for statements that do not apply to it.
    Statements nobody rated stay in the denominator and add 0 to the score,
    as on the tool's own summary sheet; ``pct_rated`` shows the score against
    the statements actually rated, and ``note`` says when this matters.

    Every service in ``ratings`` gets a row for every wave, so that a wave
    with no ratings (e.g. a follow-up lost to lockdown) is reported, not
    silently missing.

    Parameters
    ----------
    ratings : DataFrame
        ``audit_ratings`` (see :func:`collate`).
    statements : DataFrame
        ``audit_statements``: ``statement``, ``section`` (1-3).
    method, halves, not_applicable
        Collation choices, as in :func:`collate`.

    Returns
    -------
    DataFrame
        One row per service, wave and section ("1", "2", "3" and "Total"):

        - ``service``, ``wave``, ``section`` (text), ``section_title``
        - ``score``: sum of collated ratings (float: medians may end in .5);
          missing when no statement was rated
        - ``max_possible``: 3 x statements in the section (183 in total for 61)
        - ``max_applicable``: 3 x statements not collated as not applicable
        - ``pct``: 100 x score / max_applicable
        - ``pct_rated``: 100 x score / (3 x statements rated)
        - ``n``: statements the score rests on (= ``n_rated``)
        - ``n_statements``, ``n_rated``, ``n_not_rated``, ``n_not_applicable``
          (collated statuses; they add up to ``n_statements``)
        - ``n_raters``: raters who rated or marked N/A at least one statement
          at this service and wave
        - ``method``, ``note`` (why a value is missing or partial)

    Examples
    --------
    >>> st = pd.DataFrame({"statement": ["1.01", "2.01"], "section": [1, 2]})
    >>> r = pd.DataFrame({"service": "herts", "wave": "baseline", "rater": "a",
    ...                   "statement": ["1.01", "2.01"], "rating": [2, 3]})
    >>> s = service_scores(r, st)
    >>> s.loc[(s.wave == "baseline") & (s.section == "Total"), ["score", "pct"]].round(2).values.tolist()
    [[5.0, 83.33]]
    """
    _check_collation(method, halves, not_applicable)
    grid, raters = _collated_grid(ratings, statements, method=method, halves=halves,
                                  not_applicable=not_applicable)
    return _grid_scores(grid, raters, method=method, halves=halves,
                        not_applicable=not_applicable)


def _grid_scores(grid: pd.DataFrame, raters: pd.DataFrame, *, method: str, halves: str,
                 not_applicable: str) -> pd.DataFrame:
    """:func:`service_scores` of ratings already collated by :func:`_collated_grid`."""
    rater_count = {(r.service, r.wave): len(r.raters) for r in raters.itertuples()}
    rows = []
    for (service, wave), part in grid.groupby(["service", "wave"], sort=False):
        status = part["status"].to_numpy(dtype=object)
        rating = part["rating"].to_numpy(dtype=float, na_value=np.nan)
        section = part["section"].to_numpy(dtype=float, na_value=np.nan)
        for label in _SECTION_LABELS:
            sub = (np.ones(len(part), dtype=bool) if label == _TOTAL
                   else section == int(label))
            if not sub.any():
                continue
            rows.append({"service": service, "wave": wave, "section": label,
                         "section_title": _SECTION_TITLES[label],
                         **_score_rows(status[sub], rating[sub]),
                         "n_raters": rater_count.get((service, wave), 0), "method": method})
    out = pd.DataFrame(rows, columns=_SCORE_COLUMNS) if rows else _empty(_SCORE_COLUMNS)
    if rows:
        out = _sort(out, ["service", "wave", "section"]).reset_index(drop=True)
        for col in ("max_possible", "max_applicable", "n", "n_statements", "n_rated",
                    "n_not_rated", "n_not_applicable", "n_raters"):
            out[col] = out[col].astype("int64")
    out.attrs["settings"] = _settings(method=method, halves=halves,
                                      not_applicable=not_applicable,
                                      not_rated="counted as 0, kept in the denominator")
    out.attrs["suppress"] = _not_people()
    return out


# --------------------------------------------------------------------------
# Change
# --------------------------------------------------------------------------

def statement_change(
    ratings: pd.DataFrame,
    statements: pd.DataFrame,
    *,
    method: str = "median",
    halves: str = "keep",
    not_applicable: str = "majority",
) -> pd.DataFrame:
    """Collated rating of each statement at baseline and follow-up, per service.

    Parameters
    ----------
    ratings, statements, method, halves, not_applicable
        As in :func:`service_scores`.

    Returns
    -------
    DataFrame
        One row per service and statement: ``service``, ``statement``,
        ``section``, ``status_baseline``, ``status_follow_up``,
        ``rating_baseline``, ``rating_follow_up``, ``difference`` (follow-up
        minus baseline; missing unless rated at both waves), ``direction``
        ("improved", "same", "declined", or missing), ``method``.
    """
    _choice(method, COLLATE_METHODS, "method")
    grid, _ = _collated_grid(ratings, statements, method=method, halves=halves,
                             not_applicable=not_applicable)
    return _grid_statement_change(grid, method=method, halves=halves,
                                  not_applicable=not_applicable)


def _grid_statement_change(grid: pd.DataFrame, *, method: str, halves: str,
                           not_applicable: str) -> pd.DataFrame:
    """:func:`statement_change` of ratings already collated by :func:`_collated_grid`."""
    base = grid[grid["wave"] == WAVES[0]].set_index(["service", "statement"])
    follow = grid[grid["wave"] == WAVES[1]].set_index(["service", "statement"])
    out = pd.DataFrame({
        "section": base["section"],
        "status_baseline": base["status"], "status_follow_up": follow["status"],
        "rating_baseline": base["rating"].astype(float),
        "rating_follow_up": follow["rating"].astype(float),
    }).reset_index()
    out["difference"] = out["rating_follow_up"] - out["rating_baseline"]
    out["direction"] = pd.Series(
        [None if pd.isna(d) else "improved" if d > 0 else "declined" if d < 0 else "same"
         for d in out["difference"]], dtype=object, index=out.index)
    out["method"] = method
    out = _sort(out, ["service", "statement"]).reset_index(drop=True)
    out = out[_STATEMENT_CHANGE_COLUMNS]
    out.attrs["settings"] = _settings(method=method, halves=halves,
                                      not_applicable=not_applicable)
    out.attrs["suppress"] = _not_people()
    return out


def change(
    ratings: pd.DataFrame,
    statements: pd.DataFrame,
    *,
    method: str = "median",
    halves: str = "keep",
    not_applicable: str = "majority",
) -> pd.DataFrame:
    """Change in audit scores from baseline to follow-up, per service and section.

    Score change is follow-up minus baseline score (points) and follow-up
    minus baseline % of the applicable maximum (percentage points). Statement
    by statement, the collated ratings of statements rated at both waves are
    compared: improved / same / declined, with a two-sided exact sign test
    (:func:`changing_tracks.stats.sign_test`, ties excluded) of whether
    improvements outnumber declines more than chance would give.

    Parameters
    ----------
    ratings, statements, method, halves, not_applicable
        As in :func:`service_scores`.

    Returns
    -------
    DataFrame
        One row per service and section ("1", "2", "3", "Total"):

        - ``service``, ``section``, ``section_title``
        - ``score_baseline``, ``score_follow_up``, ``change_points``
        - ``pct_baseline``, ``pct_follow_up`` (% of applicable maximum),
          ``change_pct`` (percentage points)
        - ``n``: statements compared (= ``n_paired``: rated at both waves)
        - ``n_improved``, ``n_same``, ``n_declined``
        - ``p_sign``: exact sign test p-value; missing when nothing changed
        - ``method``, ``note`` (missing wave, no change, or a different set of
          applicable statements at the two waves, which makes points less
          comparable than percentages)
    """
    _check_collation(method, halves, not_applicable)
    # collated once for both the scores and the statements compared
    grid, raters = _collated_grid(ratings, statements, method=method, halves=halves,
                                  not_applicable=not_applicable)
    choices = {"method": method, "halves": halves, "not_applicable": not_applicable}
    scores = _grid_scores(grid, raters, **choices)
    stmt = _grid_statement_change(grid, **choices)
    rows = []
    records: dict[Any, dict] = {}
    for rec in scores.to_dict("records"):
        records.setdefault(rec["service"], {})[(rec["wave"], rec["section"])] = rec
    stmt_of = dict(tuple(stmt.groupby("service", sort=False)))
    p_sign = functools.lru_cache(maxsize=None)(sign_test)  # counts repeat across services
    for service in sorted(set(scores["service"])):
        by_wave_section = records[service]
        st = stmt_of.get(service, stmt.iloc[:0])
        st_section = st["section"].to_numpy(dtype=float, na_value=np.nan)
        st_difference = st["difference"].to_numpy(dtype=float, na_value=np.nan)
        for label in _SECTION_LABELS:
            b = by_wave_section.get((WAVES[0], label))
            f = by_wave_section.get((WAVES[1], label))
            if b is None and f is None:
                continue
            d = st_difference if label == _TOTAL else st_difference[st_section == int(label)]
            d = d[~np.isnan(d)]
            n_imp, n_dec = int((d > 0).sum()), int((d < 0).sum())
            notes = []
            for wave_name, sc_row in ((WAVES[0], b), (WAVES[1], f)):
                if sc_row["n_rated"] == 0:
                    notes.append(f"{wave_name}: {sc_row['note']}")
            if b["n_rated"] and f["n_rated"]:
                if n_imp + n_dec == 0:
                    notes.append("no statement changed: no sign test")
                if b["max_applicable"] != f["max_applicable"]:
                    notes.append("applicable maximum differs between waves; compare pct")
            rows.append({
                "service": service, "section": label, "section_title": _SECTION_TITLES[label],
                "score_baseline": b["score"], "score_follow_up": f["score"],
                "change_points": f["score"] - b["score"],
                "pct_baseline": b["pct"], "pct_follow_up": f["pct"],
                "change_pct": f["pct"] - b["pct"],
                "n": len(d), "n_paired": len(d), "n_improved": n_imp,
                "n_same": int((d == 0).sum()), "n_declined": n_dec,
                "p_sign": p_sign(n_imp, n_dec), "method": method, "note": "; ".join(notes),
            })
    out = pd.DataFrame(rows, columns=_CHANGE_COLUMNS) if rows else _empty(_CHANGE_COLUMNS)
    for col in ("n", "n_paired", "n_improved", "n_same", "n_declined"):
        if rows:
            out[col] = out[col].astype("int64")
    out.attrs["settings"] = _settings(method=method, halves=halves,
                                      not_applicable=not_applicable,
                                      test="exact two-sided sign test, ties excluded")
    out.attrs["suppress"] = _not_people()
    return out


# --------------------------------------------------------------------------
# Completion
# --------------------------------------------------------------------------

def _as_timestamp(value: date | datetime | str, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a date, not {value!r}") from exc
    if pd.isna(ts):
        raise ValueError(f"{name} must be a date, not {value!r}")
    return ts.normalize()


def completion(
    ratings: pd.DataFrame,
    *,
    deadline: date = date(2020, 7, 31),
    extended_deadline: date | None = date(2020, 9, 30),
    extended_services: Iterable[str] | None = None,
    waves: Sequence[str] = WAVES,
) -> pd.DataFrame:
    """Completion of the audit per service against the deadline.

    A rater has completed a wave when they rated or marked N/A at least one
    statement; a service's wave is complete on the latest completion date of
    its raters (the collated score needs them all). The deadline applies to
    the last of ``waves`` (the follow-up): lockdown moved it from July to
    September 2020 for some partners.

    Parameters
    ----------
    ratings : DataFrame
        ``audit_ratings`` with ``date`` (date the rater completed the
        workbook); without ``date`` every completed wave is "date not recorded".
    deadline : date
        Follow-up deadline (default 31 July 2020).
    extended_deadline : date or None
        Later deadline allowed to ``extended_services`` (default 30 September
        2020); None for no extension.
    extended_services : iterable of str or None
        Services allowed the extension; None (default) means every service.
    waves : sequence of str
        Waves reported, in order; the deadline applies to the last.

    Returns
    -------
    DataFrame
        One row per service:

        - ``service``
        - ``<wave>_completed`` for each wave (e.g. ``baseline_completed``,
          ``follow_up_completed``): completion date, NaT if not completed or
          no date recorded
        - ``status`` of the last wave: "on time", "extended deadline" (after
          ``deadline``, by ``extended_deadline``, service allowed the
          extension), "late", "not completed" or "date not recorded"
        - ``deadline``: the deadline that applied to the service
        - ``n_raters_<wave>`` for each wave: raters who completed it
        - ``n``: distinct raters over all waves
        - ``raters``: their names or roles, "; "-separated
        - ``note``
    """
    waves = tuple(waves)
    if not waves or any(w not in WAVES for w in waves) or len(set(waves)) != len(waves):
        raise ValueError(f"waves must be distinct values from {list(WAVES)}, not {list(waves)}")
    deadline_ts = _as_timestamp(deadline, "deadline")
    extended_ts = (None if extended_deadline is None
                   else _as_timestamp(extended_deadline, "extended_deadline"))
    if extended_ts is not None and extended_ts < deadline_ts:
        raise ValueError(f"extended_deadline ({extended_ts.date()}) is before deadline "
                         f"({deadline_ts.date()})")
    if isinstance(extended_services, str):
        extended_services = [extended_services]
    allowed = None if extended_services is None else {str(s) for s in extended_services}
    data = _prepare_ratings(ratings, with_dates=True)
    data = data[data["wave"].isin(waves)]
    last = waves[-1]
    col = {w: w.replace("-", "_") for w in waves}
    columns = (["service"] + [f"{col[w]}_completed" for w in waves] + ["status", "deadline"]
               + [f"n_raters_{col[w]}" for w in waves] + ["n", "raters", "note"])
    responding = data[data["status"] != "not rated"]
    # Each rater's latest date per service and wave, in one pass.
    per_rater = responding.groupby(["service", "wave", "rater"], sort=False)["date"].max()
    dates_of: dict[tuple, list] = {}
    for (service, w, rater), when in per_rater.items():
        dates_of.setdefault((service, w), []).append((rater, when))
    rows = []
    for service in sorted(set(data["service"])):
        row: dict[str, Any] = {"service": service}
        notes = []
        all_raters: set[str] = set()
        for w in waves:
            found = dates_of.get((service, w), [])
            raters = {r for r, _ in found}
            all_raters |= raters
            row[f"n_raters_{col[w]}"] = len(raters)
            done = pd.Series([d for _, d in found], dtype=per_rater.dtype)
            row[f"{col[w]}_completed"] = done.max() if raters and done.notna().any() else pd.NaT
            if raters and done.isna().any():
                notes.append(f"{w}: {int(done.isna().sum())} rater(s) without a date")
            if not raters:
                notes.append(f"no {w} ratings")
        may_extend = extended_ts is not None and (allowed is None or service in allowed)
        applies = extended_ts if may_extend else deadline_ts
        finished = row[f"{col[last]}_completed"]
        if row[f"n_raters_{col[last]}"] == 0:
            status = "not completed"
        elif pd.isna(finished):
            status = "date not recorded"
        elif finished <= deadline_ts:
            status = "on time"
        elif may_extend and finished <= extended_ts:
            status = "extended deadline"
        else:
            status = "late"
        row.update(status=status, deadline=applies, n=len(all_raters),
                   raters="; ".join(sorted(all_raters)), note="; ".join(notes))
        rows.append(row)
    out = pd.DataFrame(rows, columns=columns) if rows else _empty(columns)
    if rows:
        for w in waves:
            out[f"{col[w]}_completed"] = pd.to_datetime(out[f"{col[w]}_completed"])
            out[f"n_raters_{col[w]}"] = out[f"n_raters_{col[w]}"].astype("int64")
        out["deadline"] = pd.to_datetime(out["deadline"])
        out["n"] = out["n"].astype("int64")
    out.attrs["settings"] = _settings(
        deadline=deadline_ts.date(), extended_deadline=None if extended_ts is None
        else extended_ts.date(), extended_services="all" if allowed is None and extended_ts
        is not None else sorted(allowed or []), waves=list(waves),
        completed_when="latest date among the wave's raters")
    out.attrs["suppress"] = _not_people()
    return out


# --------------------------------------------------------------------------
# Action priorities
# --------------------------------------------------------------------------

def _rating_label(value: float) -> str | None:
    if pd.isna(value):
        return None
    if float(value).is_integer():
        return _RATING_WORDS[int(value)]
    lo, hi = int(np.floor(value)), int(np.ceil(value))
    return f"between {_RATING_WORDS[lo].lower()} and {_RATING_WORDS[hi].lower()}"


def _latest_wave(grid: pd.DataFrame) -> dict[str, str]:
    """Each service's latest wave with at least one rated statement."""
    rated = grid[grid["status"] == "rated"]
    latest = {}
    for service, part in rated.groupby("service"):
        latest[service] = max(set(part["wave"]), key=WAVES.index)
    return latest


def _chosen_wave(grid: pd.DataFrame, wave: str) -> pd.DataFrame:
    if wave == "latest":
        latest = _latest_wave(grid)
        keep = [latest.get(s) == w for s, w in zip(grid["service"], grid["wave"])]
        return grid[np.asarray(keep, dtype=bool)]
    _choice(wave, ("latest", *WAVES), "wave")
    return grid[grid["wave"] == wave]


def priorities(
    ratings: pd.DataFrame,
    statements: pd.DataFrame,
    *,
    n: int | None = 10,
    wave: str = "latest",
    only_unmet: bool = True,
    method: str = "median",
    halves: str = "keep",
    not_applicable: str = "majority",
) -> pd.DataFrame:
    """The lowest-rated statements per service: candidates for its action plan.

    Statements are ranked by collated rating (lowest first); ties are broken
    by rater disagreement (largest spread first: a statement the raters see
    differently needs discussing) and then by statement reference.

    Parameters
    ----------
    ratings, statements
        As in :func:`service_scores`; ``statements`` needs ``text`` too.
    n : int or None
        Statements per service (default 10); None for all candidates.
    wave : {"latest", "baseline", "follow-up"}
        Which audit: "latest" (default) is each service's latest wave with
        ratings.
    only_unmet : bool
        Keep only statements not fully met (collated rating below 3; default
        True), so a service with few gaps gets a short list.
    method, halves, not_applicable
        Collation choices, as in :func:`collate`.

    Returns
    -------
    DataFrame
        Up to ``n`` rows per service: ``service``, ``wave``, ``rank`` (1 =
        highest priority), ``statement``, ``section`` (int), ``text``,
        ``rating`` (collated), ``rating_label`` (words), ``spread``,
        ``disagree``, ``n`` (raters the rating rests on, = ``n_rated``),
        ``n_rated``, ``method``.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive whole number or None, not {n!r}")
    _choice(method, COLLATE_METHODS, "method")
    _require(statements, ["statement", "section", "text"], "statements")
    grid, _ = _collated_grid(ratings, statements, method=method, halves=halves,
                             not_applicable=not_applicable)
    part = _chosen_wave(grid, wave)
    part = part[part["status"] == "rated"]
    if only_unmet:
        part = part[part["rating"] < _MAX_RATING]
    rows = []
    for service, sub in part.groupby("service", sort=True):
        nat = sub["statement"].map(_natural_key)
        order = sorted(range(len(sub)), key=lambda i: (sub["rating"].iloc[i],
                                                       -sub["spread"].iloc[i], nat.iloc[i]))
        sub = sub.iloc[order]
        if n is not None:
            sub = sub.head(n)
        sub = sub.assign(rank=np.arange(1, len(sub) + 1))
        rows.append(sub)
    if not rows:
        out = _empty(_PRIORITY_COLUMNS)
    else:
        out = pd.concat(rows, ignore_index=True)
        out["rating_label"] = out["rating"].map(_rating_label).astype(object)
        out["section"] = out["section"].astype("int64")
        out["rank"] = out["rank"].astype("int64")
        out = out[_PRIORITY_COLUMNS]
    out.attrs["settings"] = _settings(n=n, wave=wave, only_unmet=only_unmet, method=method,
                                      halves=halves, not_applicable=not_applicable,
                                      ties="larger rater spread first, then statement ref")
    out.attrs["suppress"] = _not_people()
    return out


_GAP_RULES = {"not met": 2.0, "not fully met": 3.0}


def shared_gaps(
    ratings: pd.DataFrame,
    statements: pd.DataFrame,
    *,
    gap: str = "not met",
    wave: str = "latest",
    n: int | None = None,
    method: str = "median",
    halves: str = "keep",
    not_applicable: str = "majority",
) -> pd.DataFrame:
    """Statements most often not met across services: shared gaps for peer work.

    Parameters
    ----------
    ratings, statements
        As in :func:`priorities`.
    gap : {"not met", "not fully met"}
        What counts as a gap at a service: "not met" (default: collated rating
        below 2, i.e. 1 or 1.5) or "not fully met" (below 3).
    wave : {"latest", "baseline", "follow-up"}
        Which audit of each service (default: its latest with ratings).
    n : int or None
        Keep the ``n`` most shared gaps; None (default) keeps every statement
        rated by at least one service.
    method, halves, not_applicable
        Collation choices, as in :func:`collate`.

    Returns
    -------
    DataFrame
        One row per statement, most shared gap first (then by share, then
        statement ref): ``statement``, ``section``, ``text``, ``n`` (services
        the share rests on, = ``n_services``), ``n_services`` (services whose
        collated rating of the statement is rated, i.e. not N/A and not
        blank), ``n_gap`` (of those, services with the gap), ``pct_gap``
        (100 x n_gap / n_services), ``services`` (services with the gap,
        "; "-separated), ``gap``, ``method``.
    """
    _choice(gap, tuple(_GAP_RULES), "gap")
    _choice(method, COLLATE_METHODS, "method")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive whole number or None, not {n!r}")
    _require(statements, ["statement", "section", "text"], "statements")
    grid, _ = _collated_grid(ratings, statements, method=method, halves=halves,
                             not_applicable=not_applicable)
    part = _chosen_wave(grid, wave)
    part = part[part["status"] == "rated"].copy()
    part["is_gap"] = part["rating"] < _GAP_RULES[gap]
    rows = []
    for ref, sub in part.groupby("statement", sort=False):
        n_services = int(sub["service"].nunique())
        gap_services = sorted(set(sub.loc[sub["is_gap"], "service"]))
        rows.append({"statement": ref, "section": int(sub["section"].iloc[0]),
                     "text": sub["text"].iloc[0], "n": n_services, "n_services": n_services,
                     "n_gap": len(gap_services), "pct_gap": 100 * len(gap_services) / n_services,
                     "services": "; ".join(gap_services), "gap": gap, "method": method})
    if not rows:
        out = _empty(_GAP_COLUMNS)
    else:
        out = pd.DataFrame(rows, columns=_GAP_COLUMNS)
        keys = sorted(range(len(out)), key=lambda i: (-out["n_gap"].iloc[i],
                                                      -out["pct_gap"].iloc[i],
                                                      _natural_key(out["statement"].iloc[i])))
        out = out.iloc[keys].reset_index(drop=True)
        if n is not None:
            out = out.head(n)
        for c in ("section", "n", "n_services", "n_gap"):
            out[c] = out[c].astype("int64")
    out.attrs["settings"] = _settings(gap=gap, gap_below=_GAP_RULES[gap], wave=wave, n=n,
                                      method=method, halves=halves,
                                      not_applicable=not_applicable)
    out.attrs["suppress"] = _not_people()
    return out


def export_action_plan(
    ratings: pd.DataFrame,
    statements: pd.DataFrame,
    service: str,
    path: str | Path,
    *,
    n: int | None = 10,
    wave: str = "latest",
    method: str = "median",
    halves: str = "keep",
    not_applicable: str = "majority",
) -> Path:
    """Write a service's action-plan starter workbook (.xlsx) and return its path.

    The ``Action plan`` sheet is shaped like the Youth Music action-plan
    template: one row per priority statement (:func:`priorities`) with its
    reference, section, wording, current collated rating and the raters'
    spread, and blank columns "What we will do", "Who", "By when" and "How we
    will know" for the service to fill in. A ``Section scores`` sheet holds
    the service's section and total scores at each wave
    (:func:`service_scores`). The file is written to a temporary file in the
    same folder and then moved into place, so a reader never sees half a
    workbook.

    Parameters
    ----------
    ratings, statements
        As in :func:`priorities` (``statements`` needs ``text``).
    service : str
        The service, as in ``ratings["service"]``.
    path : str or Path
        Where to write the workbook (``.xlsx``); the folder is created.
    n, wave, method, halves, not_applicable
        As in :func:`priorities`.

    Returns
    -------
    Path
        ``path``.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"path must end in .xlsx, not {path.name!r}")
    data = _prepare_ratings(ratings)
    service = str(service)
    if service not in set(data["service"]):
        raise ValueError(f"service {service!r} has no audit ratings; services found: "
                         f"{sorted(set(data['service']))}")
    kwargs = dict(method=method, halves=halves, not_applicable=not_applicable)
    prio = priorities(ratings, statements, n=n, wave=wave, **kwargs)
    prio = prio[prio["service"] == service]
    scores = service_scores(ratings, statements, **kwargs)
    scores = scores[scores["service"] == service]

    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDDDDD")
    wrap = Alignment(wrap_text=True, vertical="top")
    wb = Workbook()
    ws = wb.active
    ws.title = "Action plan"
    ws["A1"] = f"ED&I action plan: {service}"
    ws["A1"].font = Font(bold=True, size=14)
    used_wave = prio["wave"].iloc[0] if len(prio) else None
    ws["A2"] = (f"Priorities from the {used_wave} self-assessment: the lowest-rated statements "
                f"(collated {method} of the raters' ratings; 1 = not met, 2 = partially met, "
                "3 = fully met)." if used_wave else
                "No statement below fully met in the chosen audit: no priorities listed.")
    header_row = 4
    for j, text in enumerate(_ACTION_PLAN_HEADERS, start=1):
        cell = ws.cell(row=header_row, column=j, value=text)
        cell.font = bold
        cell.fill = header_fill
        cell.alignment = wrap
    for i, rec in enumerate(prio.itertuples(index=False), start=header_row + 1):
        rating = float(rec.rating)
        values = [str(rec.statement), int(rec.section), rec.text,
                  int(rating) if rating.is_integer() else rating,
                  None if pd.isna(rec.spread) else int(rec.spread)]
        for j, value in enumerate(values, start=1):
            ws.cell(row=i, column=j, value=value).alignment = wrap
    for letter, width in zip("ABCDEFGHI", (12, 9, 60, 14, 12, 40, 16, 12, 30)):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)

    sc = wb.create_sheet("Section scores")
    sc["A1"] = f"ED&I self-assessment scores: {service}"
    sc["A1"].font = Font(bold=True, size=14)
    score_headers = ("Wave", "Section", "Title", "Score", "Maximum possible",
                     "Applicable maximum", "% of applicable maximum", "Statements rated",
                     "Not rated", "Not applicable", "Raters", "Note")
    for j, text in enumerate(score_headers, start=1):
        cell = sc.cell(row=3, column=j, value=text)
        cell.font = bold
        cell.fill = header_fill
    for i, rec in enumerate(scores.itertuples(index=False), start=4):
        values = [rec.wave, rec.section, rec.section_title,
                  None if pd.isna(rec.score) else float(rec.score), int(rec.max_possible),
                  int(rec.max_applicable), None if pd.isna(rec.pct) else round(float(rec.pct), 1),
                  int(rec.n_rated), int(rec.n_not_rated), int(rec.n_not_applicable),
                  int(rec.n_raters), rec.note or None]
        for j, value in enumerate(values, start=1):
            sc.cell(row=i, column=j, value=value)
    for letter, width in zip("ABCDEFGHIJKL", (11, 8, 44, 8, 10, 11, 12, 10, 10, 10, 8, 40)):
        sc.column_dimensions[letter].width = width

    wb.properties.creator = "changing_tracks"
    wb.properties.created = datetime(2020, 1, 1)
    wb.properties.modified = datetime(2020, 1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".xlsx.tmp", dir=path.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

_HEATMAP_VALUES = {"baseline": "pct_baseline", "follow-up": "pct_follow_up",
                   "change": "change_pct"}


def plot_heatmap(change_table: pd.DataFrame, *, value: str = "follow-up",
                 sections: Sequence[str] = _SECTION_LABELS, annotate: bool = True):
    """Service x section heatmap of % of the applicable maximum, or its change.

    Parameters
    ----------
    change_table : DataFrame
        Output of :func:`change` (``service``, ``section``, ``pct_baseline``,
        ``pct_follow_up``, ``change_pct``).
    value : {"baseline", "follow-up", "change"}
        Which to show: % at baseline, % at follow-up (0-100, sequential
        colours) or change in percentage points (diverging colours centred on
        0).
    sections : sequence of str
        Columns to show, in order (default "1", "2", "3", "Total").
    annotate : bool
        Write the value in each cell (missing values are shown as "–").

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure

    _choice(value, tuple(_HEATMAP_VALUES), "value")
    _require(change_table, ["service", "section", _HEATMAP_VALUES[value]], "change_table")
    col = _HEATMAP_VALUES[value]
    table = change_table.assign(section=change_table["section"].astype(str))
    sections = [str(s) for s in sections]
    services = sorted(set(table["service"]))
    grid = (table.pivot_table(index="service", columns="section", values=col, aggfunc="first",
                              dropna=False)
            .reindex(index=services, columns=sections))
    values = grid.to_numpy(dtype=float)
    fig = Figure(figsize=(1.4 * len(sections) + 2.5, 0.45 * max(len(services), 1) + 1.6),
                 layout="constrained")
    ax = fig.add_subplot()
    if value == "change":
        finite = np.abs(values[np.isfinite(values)])
        lim = max(float(finite.max()) if finite.size else 1.0, 1.0)
        cmap, vmin, vmax, label = "RdBu", -lim, lim, "Change (percentage points)"
    else:
        cmap, vmin, vmax, label = "viridis", 0, 100, "% of applicable maximum"
    image = ax.imshow(np.ma.masked_invalid(values),
                      cmap=matplotlib.colormaps[cmap].with_extremes(bad="#eeeeee"),
                      vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(sections)),
                  labels=[s if s == _TOTAL else f"Section {s}" for s in sections])
    ax.set_yticks(range(len(services)), labels=services)
    ax.tick_params(length=0)
    if annotate:
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                v = values[i, j]
                text = "–" if not np.isfinite(v) else (f"{v:+.0f}" if value == "change"
                                                      else f"{v:.0f}")
                dark = np.isfinite(v) and (abs(v) > 0.6 * vmax if value == "change"
                                           else v < 55)
                ax.text(j, i, text, ha="center", va="center",
                        color="white" if dark else "black", fontsize=9)
    fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    ax.set_title({"baseline": "Baseline", "follow-up": "Follow-up",
                  "change": "Change, baseline to follow-up"}[value])
    return fig


def plot_dumbbell(change_table: pd.DataFrame, *, sections: Sequence[str] = _SECTION_LABELS):
    """Dumbbell chart per section: each service's baseline and follow-up %.

    Parameters
    ----------
    change_table : DataFrame
        Output of :func:`change`.
    sections : sequence of str
        One panel per section, in order (default "1", "2", "3", "Total").

    Returns
    -------
    matplotlib.figure.Figure
        Open circles at baseline, filled at follow-up, joined by a line; a
        service missing a wave shows only the wave it has.
    """
    from matplotlib.figure import Figure

    _require(change_table, ["service", "section", "pct_baseline", "pct_follow_up"],
             "change_table")
    table = change_table.assign(section=change_table["section"].astype(str))
    sections = [str(s) for s in sections]
    services = sorted(set(table["service"]))
    fig = Figure(figsize=(3.2 * len(sections), 0.4 * max(len(services), 1) + 1.8),
                 layout="constrained")
    axes = fig.subplots(1, len(sections), sharey=True, squeeze=False)[0]
    y = {s: i for i, s in enumerate(services)}
    for ax, section in zip(axes, sections):
        part = table[table["section"] == section]
        for rec in part.itertuples(index=False):
            b, f = float(rec.pct_baseline), float(rec.pct_follow_up)
            yi = y[rec.service]
            if np.isfinite(b) and np.isfinite(f):
                ax.plot([b, f], [yi, yi], color="0.6", lw=2, zorder=1)
            if np.isfinite(b):
                ax.scatter([b], [yi], s=40, facecolor="white", edgecolor="C0", zorder=2,
                           label="baseline")
            if np.isfinite(f):
                ax.scatter([f], [yi], s=40, color="C0", zorder=3, label="follow-up")
        ax.set_xlim(-4, 104)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_title(section if section == _TOTAL else f"Section {section}")
        ax.set_xlabel("% of applicable maximum")
        ax.grid(axis="x", color="0.9")
    axes[0].set_yticks(range(len(services)), labels=services)
    axes[0].invert_yaxis()
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return fig


def plot_disagreement(collated: pd.DataFrame, *, disagree_at: int = 2):
    """Rater agreement per service and wave: statements by the raters' spread.

    Horizontal stacked bars: for each service and wave, how many statements
    the raters rated identically (spread 0), one point apart, or two points
    apart (disagreement). Only statements rated by at least two raters count.

    Parameters
    ----------
    collated : DataFrame
        Output of :func:`collate` (``service``, ``wave``, ``spread``,
        ``n_rated``).
    disagree_at : int
        Spread drawn as disagreement (highlighted), default 2.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    _require(collated, ["service", "wave", "spread", "n_rated"], "collated")
    multi = collated[(collated["n_rated"] >= 2) & collated["spread"].notna()]
    groups = (_sort(multi[["service", "wave"]].drop_duplicates(), ["service", "wave"])
              .itertuples(index=False))
    labels, counts = [], []
    for service, wave in groups:
        part = multi[(multi["service"] == service) & (multi["wave"] == wave)]
        labels.append(f"{service} ({wave})")
        counts.append([int((part["spread"] == k).sum()) for k in range(3)])
    fig = Figure(figsize=(7, 0.4 * max(len(labels), 1) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    if not labels:
        ax.text(0.5, 0.5, "No statement rated by two or more raters", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    arr = np.array(counts, dtype=float)
    left = np.zeros(len(labels))
    colours = ["#bbbbbb", "#f2b36f", "#c0392b"]
    names = ["same rating", "1 point apart", "2 points apart"]
    for k in range(3):
        name = names[k] + (" (disagree)" if k >= disagree_at else "")
        ax.barh(range(len(labels)), arr[:, k], left=left, color=colours[k], label=name)
        left += arr[:, k]
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.invert_yaxis()
    ax.set_xlabel("Statements rated by two or more raters")
    ax.set_title("Rater agreement")
    fig.legend(loc="outside lower center", ncols=3, frameon=False)
    return fig
