"""Tutor-rated outcomes: distributions, change and whether the three domains are evidenced.

Tutors rate young people on the indicators of the Changing Tracks outcomes
framework (``outcome_indicators``: personal, social and musical domains,
valued equally) at baseline, interim and follow-up, on a 1-5 ordinal scale
(1 not yet ... 5 strong). Ordinal ratings are summarised as full
distributions, medians and IQRs and the share in the top two categories
(``methods.md``), never as means.

* :func:`distribution` -- counts and % per rating, median, IQR, % rated 4-5;
* :func:`change` -- first to last rating per participant and indicator:
  improved / same / declined with an exact sign test, per service and domain
  and pooled over services;
* :func:`coverage` -- ratings and participants per domain and service, with a
  ``gap`` flag where a domain is evidenced much less than the best-covered one;
* :func:`plot_diverging` (Heiberger & Robbins diverging stacked bars) and
  :func:`plot_change` (improved / same / declined bars).

Participant ids are issued by each service, so a person is identified by
service and participant id together; ``n`` columns count such people. Ids
are used for linking only and never appear in an output.

Every table carries its disclosure-control spec in ``attrs["suppress"]``: the
keyword arguments for :func:`changing_tracks.disclosure.suppress` (which
columns are counts, what each statistic rests on, which counts add up within a
row, and -- when rows are services -- that the services add up to the pooled
"All services" row or to a total published elsewhere), applied by default by
:meth:`changing_tracks.reports.Report.publish`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .contracts import OUTCOME_DOMAINS, OUTCOME_RATING_LABELS, OUTCOME_WAVES
from .stats import sign_test

__all__ = [
    "RATING_VALUES",
    "POOLED",
    "distribution",
    "change",
    "coverage",
    "plot_diverging",
    "plot_change",
]

#: The rating scale, 1 (not yet) to 5 (strong).
RATING_VALUES: tuple[int, ...] = tuple(OUTCOME_RATING_LABELS)
#: Label of the rows pooled over services in :func:`change`.
POOLED = "All services"
_TOP_TWO = (4, 5)
_UNITS = ("participant", "pair")
_ORDERS = {"domain": OUTCOME_DOMAINS, "wave": OUTCOME_WAVES}


# --------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------

def _natural_key(value: object) -> tuple:
    parts = re.split(r"(\d+)", str(value))
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p != "")


def _require(frame: object, columns: Sequence[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing} "
                         f"(found {list(frame.columns)})")


def _as_text(series: pd.Series) -> pd.Series:
    """The values as Python strings (object dtype), missing values as None."""
    dtype = series.dtype
    if (isinstance(dtype, pd.StringDtype) or (
            isinstance(dtype, pd.CategoricalDtype)
            and isinstance(dtype.categories.dtype, pd.StringDtype))) \
            and not series.isna().any():
        return series.astype(object)  # already text, nothing missing: no per-value work
    return series.map(lambda v: None if pd.isna(v) else str(v)).astype(object)


def _prepare(ratings: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """Validated ratings joined to their domain; rows without a rating dropped."""
    _require(ratings, ["participant", "service", "wave", "indicator", "rating"], "ratings")
    _require(indicators, ["indicator", "domain"], "indicators")
    ind = pd.DataFrame({"indicator": _as_text(indicators["indicator"]),
                        "domain": _as_text(indicators["domain"])})
    bad = sorted(set(ind["domain"].dropna()) - set(OUTCOME_DOMAINS))
    if bad or ind["domain"].isna().any():
        raise ValueError(f"indicators: domain must be one of {list(OUTCOME_DOMAINS)}; "
                         f"found {bad or ['<missing>']}")
    if ind["indicator"].isna().any() or ind["indicator"].duplicated().any():
        raise ValueError("indicators: every indicator needs a unique id; repeated or missing: "
                         f"{sorted(set(ind.loc[ind['indicator'].duplicated(), 'indicator']))}")
    out = pd.DataFrame({c: _as_text(ratings[c])
                        for c in ("participant", "service", "wave", "indicator")})
    out["year"] = _as_text(ratings["year"]) if "year" in ratings.columns else "all"
    out["rater"] = _as_text(ratings["rater"]) if "rater" in ratings.columns else None
    for col in ("participant", "service", "wave", "indicator"):
        if out[col].isna().any():
            raise ValueError(f"ratings: column {col!r} has {int(out[col].isna().sum())} "
                             f"missing value(s)")
    bad = sorted(set(out["wave"]) - set(OUTCOME_WAVES))
    if bad:
        raise ValueError(f"ratings: wave must be one of {list(OUTCOME_WAVES)}; found {bad}")
    rating = pd.to_numeric(ratings["rating"], errors="coerce").astype(float)
    unreadable = rating.isna().to_numpy() & ~ratings["rating"].isna().to_numpy()
    out_of_range = rating.notna() & ~rating.isin([float(v) for v in RATING_VALUES])
    if unreadable.any() or out_of_range.any():
        found = sorted(set(map(str, ratings["rating"][unreadable | out_of_range.to_numpy()])))
        raise ValueError(f"ratings: rating must be a whole number 1-5; found {found[:5]}")
    out["rating"] = rating.to_numpy()
    unknown = sorted(set(out["indicator"]) - set(ind["indicator"]), key=_natural_key)
    if unknown:
        raise ValueError(f"ratings refer to indicators not in the indicators table: {unknown[:8]}")
    out = out.merge(ind, on="indicator", how="left")
    out = out[out["rating"].notna()].reset_index(drop=True)
    out["person"] = out["service"] + "\x1f" + out["participant"]
    return out


def _check_by(by: Sequence[str] | str, allowed: Sequence[str]) -> list[str]:
    if isinstance(by, str):
        by = (by,)
    by = list(by)
    bad = [b for b in by if b not in allowed]
    if bad or len(set(by)) != len(by):
        raise ValueError(f"by must be distinct columns from {list(allowed)}; found {by}")
    return by


def _order_key(col: str, value: object) -> tuple:
    if col in _ORDERS and value in _ORDERS[col]:
        return (0, _ORDERS[col].index(value))
    if col == "service" and value == POOLED:
        return (2, ())
    return (1, _natural_key(value))


def _sorted(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    if frame.empty or not by:
        return frame.reset_index(drop=True)
    keys = [tuple(_order_key(c, frame[c].iloc[i]) for c in by) for i in range(len(frame))]
    order = sorted(range(len(frame)), key=keys.__getitem__)
    return frame.iloc[order].reset_index(drop=True)


def _groups(frame: pd.DataFrame, by: list[str]):
    if not by:
        yield (), frame
        return
    for key, part in frame.groupby(by, sort=False, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), part


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _settings(**kwargs: Any) -> dict:
    return dict(kwargs)


def _across_services(by: Sequence[str], *also: str, additive: list | None = None) -> dict:
    """``groups``/``total`` when rows are services: people are counted per service, so
    the services' counts add up to the pooled row (or to a total published elsewhere).
    Rows per rater do not: raters are named within a service and rate the same people."""
    if "service" not in by or "rater" in by:
        return {}
    spec: dict = {"groups": [[b for b in (*by, *also) if b != "service"]],
                  "total": {"service": POOLED}}
    if additive is not None:
        spec["additive"] = additive
    return spec


# --------------------------------------------------------------------------
# Distribution
# --------------------------------------------------------------------------

def distribution(
    ratings: pd.DataFrame,
    indicators: pd.DataFrame,
    by: Sequence[str] = ("domain", "indicator", "service", "wave"),
    *,
    quantile_method: str = "linear",
) -> pd.DataFrame:
    """Distribution of tutor ratings per group: counts, %, median, IQR, % in the top two.

    Every rating counts once (a participant rated by two tutors on the same
    indicator and wave contributes two ratings); ``n`` counts the distinct
    participants behind them.

    Parameters
    ----------
    ratings : DataFrame
        ``outcome_ratings``: ``participant``, ``service``, ``wave``,
        ``indicator``, ``rating`` (1-5) and optionally ``year``, ``rater``.
        Rows without a rating are ignored.
    indicators : DataFrame
        ``outcome_indicators``: ``indicator``, ``domain``.
    by : sequence of str
        Grouping columns, any of "domain", "indicator", "service", "wave",
        "year", "rater" (default domain, indicator, service, wave); ``()``
        for one overall row.
    quantile_method : str
        ``numpy.quantile`` method for median and quartiles; default
        "linear" (R type 7, Excel QUARTILE.INC), so a median can fall
        between two categories (3.5). "inverted_cdf" always gives a category.

    Returns
    -------
    DataFrame
        One row per group (wide layout), in domain, indicator, service and
        wave order:

        - the ``by`` columns
        - ``n``: distinct participants (service + participant id)
        - ``n_ratings``: ratings; ``n_1`` ... ``n_5``: ratings of each value
        - ``pct_1`` ... ``pct_5``: 100 x n_k / n_ratings
        - ``median``, ``q1``, ``q3``, ``iqr`` (q3 - q1)
        - ``n_top2``: ratings of 4 or 5; ``pct_top2`` = 100 x n_top2 / n_ratings

        For disclosure control (``attrs["suppress"]``) every ``pct_k`` rests on
        ``n``, ``n_ratings`` and ``n_k`` (``pct_top2`` on ``n_top2``), the
        median and quartiles on ``n``; ``n_ratings = n_1 + ... + n_5`` and
        ``n_top2 = n_4 + n_5``; the services' ``n`` and ``n_ratings`` add up
        to a total published elsewhere.

    Examples
    --------
    >>> ind = pd.DataFrame({"indicator": ["P1"], "domain": ["personal"]})
    >>> r = pd.DataFrame({"participant": ["a", "b", "c"], "service": "herts",
    ...                   "wave": "baseline", "indicator": "P1", "rating": [2, 4, 5]})
    >>> distribution(r, ind, by=["domain"]).round(1)[["n", "median", "pct_top2"]].to_dict("records")
    [{'n': 3, 'median': 4.0, 'pct_top2': 66.7}]
    """
    by = _check_by(by, ("domain", "indicator", "service", "wave", "year", "rater"))
    try:
        np.quantile([1.0, 2.0], 0.5, method=quantile_method)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"quantile_method {quantile_method!r} is not a numpy quantile "
                         "method (e.g. 'linear', 'inverted_cdf')") from exc
    data = _prepare(ratings, indicators)
    count_cols = [f"n_{k}" for k in RATING_VALUES]
    pct_cols = [f"pct_{k}" for k in RATING_VALUES]
    columns = [*by, "n", "n_ratings", *count_cols, *pct_cols, "median", "q1", "q3", "iqr",
               "n_top2", "pct_top2"]
    rows = []
    for key, part in _groups(data, by):
        r = part["rating"].to_numpy(dtype=int)
        counts = np.bincount(r, minlength=max(RATING_VALUES) + 1)[min(RATING_VALUES):]
        q1, med, q3 = np.quantile(r.astype(float), [0.25, 0.5, 0.75], method=quantile_method)
        n_top = int(np.isin(r, _TOP_TWO).sum())
        row = dict(zip(by, key))
        row.update(n=len(set(part["person"])), n_ratings=len(r))
        row.update({c: int(v) for c, v in zip(count_cols, counts)})
        row.update({c: 100 * v / len(r) for c, v in zip(pct_cols, counts)})
        row.update(median=float(med), q1=float(q1), q3=float(q3), iqr=float(q3 - q1),
                   n_top2=n_top, pct_top2=100 * n_top / len(r))
        rows.append(row)
    if not rows:
        out = _empty(columns)
    else:
        out = _sorted(pd.DataFrame(rows, columns=columns), by)
        for c in ("n", "n_ratings", *count_cols, "n_top2"):
            out[c] = out[c].astype("int64")
    out.attrs["settings"] = _settings(by=list(by), quantile_method=quantile_method,
                                      unit="rating", top_two=list(_TOP_TWO),
                                      derived_from={**{c: "n_ratings" for c in pct_cols},
                                                    "pct_top2": "n_ratings"})
    out.attrs["suppress"] = {
        "counts": ["n", "n_ratings", *count_cols, "n_top2"],
        "derived": {**{f"pct_{k}": ["n", "n_ratings", f"n_{k}"] for k in RATING_VALUES},
                    "pct_top2": ["n", "n_ratings", "n_top2"],
                    **{c: "n" for c in ("median", "q1", "q3", "iqr")}},
        "sums": {"n_ratings": count_cols, "n_top2": [f"n_{k}" for k in _TOP_TWO]},
        # Across services only the people and ratings add up: linking every rating
        # value too makes a three-way table whose exact protection is too slow.
        **_across_services(by, additive=["n", "n_ratings"]),
    }
    return out


# --------------------------------------------------------------------------
# Change
# --------------------------------------------------------------------------

def _pairs(data: pd.DataFrame) -> pd.DataFrame:
    """First and last rating per person, year and indicator (raters' median per wave)."""
    keys = ["service", "participant", "person", "year", "indicator", "domain"]
    per_wave = (data.groupby([*keys, "wave"], sort=False)["rating"].median().reset_index())
    per_wave["wave_rank"] = per_wave["wave"].map(OUTCOME_WAVES.index)
    per_wave = per_wave.sort_values("wave_rank", kind="stable")
    grouped = per_wave.groupby(keys, sort=False)
    out = grouped.agg(first=("rating", "first"), last=("rating", "last"),
                      first_wave=("wave", "first"), last_wave=("wave", "last"),
                      n_waves=("wave", "nunique")).reset_index()
    out["difference"] = np.where(out["n_waves"] >= 2, out["last"] - out["first"], np.nan)
    return out


def _change_row(part: pd.DataFrame, unit: str) -> dict:
    paired = part[part["n_waves"] >= 2]
    n_single = int((part["n_waves"] < 2).sum())
    if unit == "participant":
        diffs = paired.groupby("person", sort=False)["difference"].mean().to_numpy()
    else:
        diffs = paired["difference"].to_numpy()
    n_imp, n_dec = int((diffs > 0).sum()), int((diffs < 0).sum())
    n_same = int((diffs == 0).sum())
    n_comp = len(diffs)
    notes = []
    if n_comp == 0:
        notes.append("no participant rated at two waves")
    elif n_imp + n_dec == 0:
        notes.append("no change: no sign test")
    pct = (lambda k: 100 * k / n_comp) if n_comp else (lambda k: np.nan)
    return {
        "n": int(paired["person"].nunique()), "n_pairs": len(paired), "n_not_paired": n_single,
        "n_compared": n_comp, "n_improved": n_imp, "n_same": n_same, "n_declined": n_dec,
        "pct_improved": pct(n_imp), "pct_same": pct(n_same), "pct_declined": pct(n_dec),
        "median_change": float(np.median(diffs)) if n_comp else np.nan,
        "p_sign": sign_test(n_imp, n_dec), "note": "; ".join(notes),
    }


def change(
    ratings: pd.DataFrame,
    indicators: pd.DataFrame,
    by: Sequence[str] = ("service", "domain"),
    *,
    unit: str = "participant",
    pooled: bool = True,
) -> pd.DataFrame:
    """Change from first to last tutor rating: improved / same / declined, with a sign test.

    For each participant, programme year and indicator the first and last
    waves with a rating are compared (wave order baseline < interim <
    follow-up; the interim counts as last when there is no follow-up). When
    several tutors rated the same participant and indicator at one wave,
    their median is used (it may be a half point). A participant-indicator
    rated at one wave only is counted in ``n_not_paired`` and otherwise left
    out: a missing follow-up is a reported condition, not an error.

    Parameters
    ----------
    ratings, indicators
        As in :func:`distribution`.
    by : sequence of str
        Grouping columns, any of "service", "domain", "indicator", "year"
        (default service and domain).
    unit : {"participant", "pair"}
        What the improved / same / declined counts and the sign test count.
        "participant" (default): each participant once per group, by the sign
        of their mean change over the group's indicators -- the units are
        then independent, as the sign test assumes, and the counts are people.
        "pair": each participant-indicator pair once; pairs from the same
        person are not independent, so the p-value is then optimistic.
    pooled : bool
        Add rows pooled over services (``service`` = "All services") when
        "service" is in ``by`` and there is more than one service (default
        True).

    Returns
    -------
    DataFrame
        One row per group:

        - the ``by`` columns
        - ``n``: participants with at least one first-to-last pair
        - ``n_pairs``: participant-indicator pairs compared
        - ``n_not_paired``: participant-indicators rated at one wave only
        - ``n_compared``: units counted below (= ``n`` or ``n_pairs``)
        - ``n_improved``, ``n_same``, ``n_declined`` and ``pct_improved``,
          ``pct_same``, ``pct_declined`` (of ``n_compared``)
        - ``median_change``: median of the units' changes (rating points)
        - ``p_sign``: two-sided exact sign test, ties excluded; missing when
          nothing changed
        - ``unit``, ``note``

        ``attrs["suppress"]``: each ``pct_<category>`` rests on ``n``,
        ``n_compared`` and its count, ``p_sign`` on the improved and declined
        counts; ``n_compared = n_improved + n_same + n_declined``; services
        add up to the pooled row.
    """
    _by = _check_by(by, ("service", "domain", "indicator", "year"))
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {list(_UNITS)}, not {unit!r}")
    data = _prepare(ratings, indicators)
    columns = [*_by, "n", "n_pairs", "n_not_paired", "n_compared", "n_improved", "n_same",
               "n_declined", "pct_improved", "pct_same", "pct_declined", "median_change",
               "p_sign", "unit", "note"]
    rows = []
    if not data.empty:
        pairs = _pairs(data)
        sources = [pairs]
        if pooled and "service" in _by and pairs["service"].nunique() > 1:
            sources.append(pairs.assign(service=POOLED))
        for source in sources:
            for key, part in _groups(source, _by):
                rows.append({**dict(zip(_by, key)), **_change_row(part, unit), "unit": unit})
    if not rows:
        out = _empty(columns)
    else:
        out = _sorted(pd.DataFrame(rows, columns=columns), _by)
        for c in ("n", "n_pairs", "n_not_paired", "n_compared", "n_improved", "n_same",
                  "n_declined"):
            out[c] = out[c].astype("int64")
    categories = ["n_improved", "n_same", "n_declined"]
    out.attrs["suppress"] = {
        "counts": ["n", "n_pairs", "n_not_paired", "n_compared", *categories],
        "derived": {**{f"pct_{c[2:]}": ["n", "n_compared", c] for c in categories},
                    "median_change": ["n", "n_compared"],
                    # the sign test's p-value gives away the improved / declined split
                    "p_sign": ["n", "n_compared", "n_improved", "n_declined"]},
        "sums": {"n_compared": categories,
                 ("n" if unit == "participant" else "n_pairs"): ["n_compared"]},
        **_across_services(_by),
    }
    out.attrs["settings"] = _settings(
        by=list(_by), unit=unit, pooled=pooled, wave_order=list(OUTCOME_WAVES),
        several_raters="median of the raters at a wave",
        test="exact two-sided sign test, ties excluded",
        derived_from={"pct_improved": "n_compared", "pct_same": "n_compared",
                      "pct_declined": "n_compared", "median_change": "n_compared"})
    return out


# --------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------

def coverage(
    ratings: pd.DataFrame,
    indicators: pd.DataFrame,
    participants: pd.DataFrame | None = None,
    by: Sequence[str] = ("service",),
    *,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Whether the personal, social and musical domains are evidenced equally.

    The programme values the three domains equally, so each service's
    evidence should cover all three. For each group and domain this counts
    ratings and participants rated, and flags a ``gap`` where the domain has
    no ratings, or fewer participants than ``threshold`` x those of the
    group's best-covered domain.

    Parameters
    ----------
    ratings, indicators
        As in :func:`distribution`.
    participants : DataFrame, optional
        ``participants`` (``participant``, ``service``, optionally ``year``):
        the people who could have been rated. Without it, the people with
        any outcome rating in the group are used. Either way a participant
        with ratings counts even if missing from ``participants``.
    by : sequence of str
        Grouping columns, any of "service", "year", "wave" (default service).
        ``participants`` has no wave, so with "wave" its people count at
        every wave.
    threshold : float
        Share (0-1] of the best-covered domain's participants below which a
        domain is flagged (default 0.5).

    Returns
    -------
    DataFrame
        One row per group and domain (all three domains, also those with no
        ratings):

        - the ``by`` columns, ``domain``
        - ``n``: participants with at least one rating in the domain
          (= ``n_participants``)
        - ``n_ratings``, ``n_participants``
        - ``n_indicators_rated`` of ``n_indicators`` (in the framework)
        - ``n_participants_total``: people who could have been rated
        - ``pct_participants``: 100 x n_participants / n_participants_total
        - ``pct_of_best``: 100 x n_participants / the best domain's
        - ``gap`` (bool), ``note``

        ``attrs["suppress"]``: ``pct_participants`` rests on ``n_participants``
        and ``n_participants_total``, ``pct_of_best`` on ``n``; services add
        up to a total published elsewhere.
    """
    _by = _check_by(by, ("service", "year", "wave"))
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a share in (0, 1], not {threshold!r}")
    data = _prepare(ratings, indicators)
    ind = pd.DataFrame({"indicator": _as_text(indicators["indicator"]),
                        "domain": _as_text(indicators["domain"])})
    framework = ind.groupby("domain")["indicator"].nunique().to_dict()
    people: dict[tuple, set] = {}
    for key, part in _groups(data, _by):
        people.setdefault(key, set()).update(part["person"])
    if participants is not None:
        _require(participants, ["participant", "service"], "participants")
        if "year" in _by and "year" not in participants.columns:
            raise ValueError("participants needs a 'year' column when by includes 'year'")
        pp = pd.DataFrame({"service": _as_text(participants["service"]),
                           "participant": _as_text(participants["participant"])})
        if "year" in participants.columns:
            pp["year"] = _as_text(participants["year"])
        pp["person"] = pp["service"] + "\x1f" + pp["participant"]
        own = [b for b in _by if b in pp.columns]
        waves = sorted(set(data["wave"]), key=OUTCOME_WAVES.index) if "wave" in _by else [None]
        for key, part in _groups(pp, own):
            values = dict(zip(own, key))
            for wave in waves:
                if wave is not None:
                    values["wave"] = wave
                people.setdefault(tuple(values[b] for b in _by), set()).update(part["person"])
    columns = [*_by, "domain", "n", "n_ratings", "n_participants", "n_indicators_rated",
               "n_indicators", "n_participants_total", "pct_participants", "pct_of_best",
               "gap", "note"]
    rows = []
    for key, total in people.items():
        mask = np.ones(len(data), dtype=bool)
        for b, v in zip(_by, key):
            mask &= (data[b] == v).to_numpy()
        part = data[mask]
        per_domain = {d: part[part["domain"] == d] for d in OUTCOME_DOMAINS}
        best = max(sub["person"].nunique() for sub in per_domain.values())
        for domain, sub in per_domain.items():
            n_people = int(sub["person"].nunique())
            if sub.empty:
                is_gap, note = True, "no ratings"
            elif n_people < threshold * best:
                is_gap = True
                note = f"fewer than {100 * threshold:g}% of the best-covered domain's participants"
            else:
                is_gap, note = False, ""
            rows.append({
                **dict(zip(_by, key)), "domain": domain, "n": n_people, "n_ratings": len(sub),
                "n_participants": n_people, "n_indicators_rated": int(sub["indicator"].nunique()),
                "n_indicators": int(framework.get(domain, 0)), "n_participants_total": len(total),
                "pct_participants": 100 * n_people / len(total) if total else np.nan,
                "pct_of_best": 100 * n_people / best if best else np.nan,
                "gap": is_gap, "note": note,
            })
    if not rows:
        out = _empty(columns)
    else:
        out = _sorted(pd.DataFrame(rows, columns=columns), [*_by, "domain"])
        for c in ("n", "n_ratings", "n_participants", "n_indicators_rated", "n_indicators",
                  "n_participants_total"):
            out[c] = out[c].astype("int64")
        out["gap"] = out["gap"].astype(bool)
    # n_indicators_rated and n_indicators count indicators, not people. The share of
    # people not rated in a domain is about the tutors' recording, so it is not
    # protected as a complement.
    out.attrs["suppress"] = {
        "counts": ["n", "n_ratings", "n_participants", "n_participants_total"],
        "derived": {"pct_participants": ["n_participants", "n_participants_total"],
                    "pct_of_best": "n"},
        "sums": {"n": ["n_participants"]},
        **_across_services(_by, "domain"),
    }
    out.attrs["settings"] = _settings(
        by=list(_by), threshold=threshold,
        denominator="participants table" if participants is not None
        else "participants with any outcome rating",
        derived_from={"pct_participants": "n_participants_total", "pct_of_best": "n"})
    return out


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

_COLOURS = ("#ca0020", "#f4a582", "#d9d9d9", "#92c5de", "#0571b0")
_LABEL_CANDIDATES = ("domain", "indicator", "service", "wave", "year", "rater")


def _label_columns(table: pd.DataFrame, label: Sequence[str] | None) -> list[str]:
    if label is not None:
        label = [label] if isinstance(label, str) else list(label)
        _require(table, label, "table")
        return label
    by = table.attrs.get("settings", {}).get("by")
    if by:
        return [b for b in by if b in table.columns]
    return [c for c in _LABEL_CANDIDATES if c in table.columns]


def _row_labels(table: pd.DataFrame, cols: list[str], count: str | None) -> list[str]:
    labels = []
    for i in range(len(table)):
        text = " · ".join(str(table[c].iloc[i]) for c in cols) or "All"
        if count is not None:
            text += f" (n={int(table[count].iloc[i])})"
        labels.append(text)
    return labels


def plot_diverging(distribution_table: pd.DataFrame, *, label: Sequence[str] | None = None,
                   show_n: bool = True, title: str | None = None):
    """Diverging stacked bars of rating distributions (Heiberger & Robbins 2014).

    Ratings 1-2 extend left of zero, 4-5 right, and the neutral 3
    ("developing") is split half either side of zero, so bars line up on the
    middle of the scale.

    Parameters
    ----------
    distribution_table : DataFrame
        Output of :func:`distribution` (``pct_1`` ... ``pct_5``, ``n_ratings``),
        one bar per row in the table's order.
    label : sequence of str, optional
        Columns naming each bar (default: the table's grouping columns).
    show_n : bool
        Append the number of ratings to each bar's label (default True).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    pct_cols = [f"pct_{k}" for k in RATING_VALUES]
    _require(distribution_table, [*pct_cols, "n_ratings"], "distribution_table")
    table = distribution_table.reset_index(drop=True)
    cols = _label_columns(table, label)
    labels = _row_labels(table, cols, "n_ratings" if show_n else None)
    pct = table[pct_cols].to_numpy(dtype=float)
    fig = Figure(figsize=(8, 0.35 * max(len(table), 1) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    if table.empty:
        ax.text(0.5, 0.5, "No ratings", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    y = np.arange(len(table))
    start = -(pct[:, 0] + pct[:, 1] + pct[:, 2] / 2)
    left = start.copy()
    for k, value in enumerate(RATING_VALUES):
        ax.barh(y, pct[:, k], left=left, color=_COLOURS[k], edgecolor="white", linewidth=0.5,
                label=f"{value} {OUTCOME_RATING_LABELS[value]}")
        left = left + pct[:, k]
    lim = max(float(np.nanmax(np.abs(np.concatenate([start, left])))), 10.0)
    lim = float(np.ceil(lim / 10) * 10)
    ax.set_xlim(-lim, lim)
    half = np.arange(0, lim + 1, 25 if lim > 60 else 10)  # symmetric about 0, 0 included
    ticks = np.concatenate([-half[:0:-1], half])
    ax.set_xticks(ticks, labels=[f"{abs(t):.0f}%" for t in ticks])
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, labels=labels)
    ax.invert_yaxis()
    ax.set_xlabel("% of ratings (neutral 3 split around 0)")
    if title:
        ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=5, frameon=False)
    return fig


def plot_change(change_table: pd.DataFrame, *, label: Sequence[str] | None = None,
                show_n: bool = True, title: str | None = None):
    """100% stacked bars of improved / same / declined per group.

    Parameters
    ----------
    change_table : DataFrame
        Output of :func:`change` (``pct_improved``, ``pct_same``,
        ``pct_declined``, ``n_compared``), one bar per row.
    label : sequence of str, optional
        Columns naming each bar (default: the table's grouping columns).
    show_n : bool
        Append the number of units compared to each label (default True).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    needed = ["pct_improved", "pct_same", "pct_declined", "n_compared"]
    _require(change_table, needed, "change_table")
    table = change_table.reset_index(drop=True)
    cols = _label_columns(table, label)
    labels = _row_labels(table, cols, "n_compared" if show_n else None)
    fig = Figure(figsize=(8, 0.35 * max(len(table), 1) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    if table.empty:
        ax.text(0.5, 0.5, "No participant rated at two waves", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    y = np.arange(len(table))
    left = np.zeros(len(table))
    for col, colour, name in (("pct_declined", _COLOURS[0], "declined"),
                              ("pct_same", _COLOURS[2], "same"),
                              ("pct_improved", _COLOURS[4], "improved")):
        values = np.nan_to_num(table[col].to_numpy(dtype=float))
        ax.barh(y, values, left=left, color=colour, edgecolor="white", linewidth=0.5,
                label=name)
        left = left + values
    ax.set_xlim(0, 100)
    ax.set_yticks(y, labels=labels)
    ax.invert_yaxis()
    unit = table["unit"].iloc[0] if "unit" in table.columns else "participant"
    ax.set_xlabel(f"% of {'participants' if unit == 'participant' else 'participant-indicator pairs'}"
                  " (first to last rating)")
    if title:
        ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=3, frameon=False)
    return fig
