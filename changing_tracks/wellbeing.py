"""Wellbeing: WEMWBS / SWEMWBS scoring and pre/post change, per service and across services.

The functions follow ``../shared/reference/domain.md`` §4 and
``../shared/reference/methods.md`` ("Wellbeing pre/post" and "Comparing
partners"). The flow is::

    scored = score(data.wellbeing)                 # one row per questionnaire
    pairs = pair(scored, scale="SWEMWBS")          # one row per young person
    attrition(scored)                              # baseline n, follow-up n, paired n, % lost
    completer_comparison(scored)                   # were those lost different at baseline?
    table = change_by(scored, by="service")        # change, effect sizes, reliable change, norm, RTM
    funnel_plot(funnel_data(table)); forest_plot(forest_data(table))
    shrunken_estimates(pairs); kruskal_dunn(pairs)

Scales
------
Two scales are analysed, never mixed in one statistic; every downstream
function takes ``scale``:

* ``"WEMWBS"`` - the 14-item total (14-70), only from WEMWBS questionnaires;
* ``"SWEMWBS"`` - the 7-item SWEMWBS *metric* score (7.00-35.00), from SWEMWBS
  questionnaires and from the seven SWEMWBS items inside WEMWBS questionnaires,
  so that services that used different instruments can be compared on one scale.

Sign convention
---------------
Change is always **follow-up minus baseline**, so a positive change is a rise
in wellbeing. ``t``, the confidence interval, ``d_z``, ``d_av`` and the
rank-biserial correlation all carry that sign; the Wilcoxon statistic ``W`` is
SciPy's two-sided statistic (the smaller of the positive and negative rank
sums) and has no sign. methods.md reference A (``d = x - y``) is reproduced by
``paired_change(baseline=y, follow_up=x)``; reference B (t computed on
pre - post) by ``paired_change(baseline=post, follow_up=pre)``.

Copyright
---------
The scales are copyright; this module holds item keys and scoring only, never
the item wording. Figures and reports that name the scale carry
:data:`COPYRIGHT`.

Tables for publication carry an integer ``n`` (distinct young people) and
``n_<something>`` counts, so that :mod:`changing_tracks.disclosure` can suppress
small numbers. Each also carries its disclosure-control spec in
``attrs["suppress"]``: the keyword arguments for
:func:`changing_tracks.disclosure.suppress` (``counts``; ``derived``, what each
statistic rests on, e.g. ``mean_change`` on ``n`` but ``pct_improved`` on ``n``
and ``n_improved``; ``sums`` and ``complements`` within a row; ``groups`` and
``total`` so that a hidden service count cannot be worked out from the pooled
"All services" row; ``keep`` for published comparators), which
:meth:`changing_tracks.reports.Report.publish` applies by default. Settings
columns (``scale``, ``confidence``, ``method``, ``note``...) are never counts.
Tables that hold participant ids (:func:`score`, :func:`pair`) are working
tables and must never be published.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import optimize
from scipy import stats as _st

from changing_tracks._arrow_text import text_codes
from changing_tracks.contracts import SWEMWBS_ITEMS, WAVES, WEMWBS_ITEMS
from changing_tracks.stats import adjust_p, wilson_ci

__all__ = [
    "COPYRIGHT",
    "SCALES",
    "SWEMWBS_METRIC",
    "BAND_SETS",
    "NORMS",
    "RELIABLE_CHANGE_DEFAULTS",
    "SCORE_COLUMNS",
    "PAIR_COLUMNS",
    "swemwbs_metric",
    "score",
    "pair",
    "attrition",
    "completer_comparison",
    "paired_change",
    "reliable_change_threshold",
    "regression_to_mean",
    "change_by",
    "funnel_data",
    "forest_data",
    "shrunken_estimates",
    "kruskal_dunn",
    "paired_plot",
    "change_distribution_plot",
    "funnel_plot",
    "forest_plot",
]

# --------------------------------------------------------------------------
# Constants (domain.md §4)
# --------------------------------------------------------------------------

#: Copyright line for captions of any table or figure that names the scale.
COPYRIGHT: str = (
    "WEMWBS and SWEMWBS © NHS Health Scotland, University of Warwick and University of "
    "Edinburgh, 2006 (WEMWBS) / 2008 (SWEMWBS), all rights reserved."
)

#: The two scales analysed: WEMWBS total and SWEMWBS metric score.
SCALES: tuple[str, ...] = ("WEMWBS", "SWEMWBS")

_SCALE_COLUMN = {"WEMWBS": "wemwbs_total", "SWEMWBS": "swemwbs_metric"}
_SCALE_LABEL = {"WEMWBS": "WEMWBS total score (14-70)",
                "SWEMWBS": "SWEMWBS metric score (7-35)"}

#: SWEMWBS raw total (7-35) -> metric score (domain.md §4; 29 values).
SWEMWBS_METRIC: dict[int, float] = dict(zip(range(7, 36), (
    7.00, 9.51, 11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43, 17.98,
    18.59, 19.25, 19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03, 28.13, 29.31,
    30.70, 32.55, 35.00,
)))

#: Named, versioned sets of score bands. Bands are an epidemiological
#: grouping of a population, **not** an individual screening result; reports
#: must not label individual young people. Each band is (upper bound, label);
#: SWEMWBS bands apply to the metric score rounded half up to a whole number,
#: because the bands are stated in whole numbers (so 17.43 -> 17, 17.98 -> 18).
BAND_SETS: dict[str, dict] = {
    "warwick-2008 v1": {
        "description": "WEMWBS <=40, 41-44, 45-59, >=60; SWEMWBS metric <=17, 18-20, 21-27, "
                       ">=28 (domain.md §4; unconfirmed on an official page). Population "
                       "grouping, not screening.",
        "WEMWBS": ((40, "probable depression"), (44, "possible depression"),
                   (59, "average"), (70, "high")),
        "SWEMWBS": ((17, "probable depression"), (20, "possible depression"),
                    (27, "average"), (35, "high")),
    },
}
_DEFAULT_BAND_SET = "warwick-2008 v1"

#: Published comparators (domain.md §4), each with its survey and year: means
#: drift 1-2 points between years, so a comparison always names its norm.
NORMS: pd.DataFrame = pd.DataFrame(
    [
        ("clarke-2011-teenagers-13-16", "WEMWBS", "teenagers aged 13-16 in schools",
         "WEMWBS validation study in schools (Clarke et al. 2011)", "published 2011",
         48.8, 6.8, 1650),
        ("scotland-adults-2018", "WEMWBS", "adults, Scotland",
         "Scottish Health Survey", "2018", 49.4, 8.96, None),
        ("scotland-13-15-boys-2012-15", "WEMWBS", "boys aged 13-15, Scotland",
         "Scottish survey of 13-15 year olds (as cited in domain.md)", "2012-15", 52.0, None, None),
        ("scotland-13-15-girls-2012-15", "WEMWBS", "girls aged 13-15, Scotland",
         "Scottish survey of 13-15 year olds (as cited in domain.md)", "2012-15", 49.9, None, None),
        ("hse-2016-men", "WEMWBS", "men, England", "Health Survey for England", "2016",
         50.1, None, None),
        ("hse-2016-women", "WEMWBS", "women, England", "Health Survey for England", "2016",
         49.6, None, None),
        ("ng-fat-2017-men", "SWEMWBS", "men, England",
         "Health Survey for England (Ng Fat et al. 2017)", "2010-13", 23.7, None, None),
        ("ng-fat-2017-women", "SWEMWBS", "women, England",
         "Health Survey for England (Ng Fat et al. 2017)", "2010-13", 23.2, None, None),
    ],
    columns=["norm", "scale", "population", "survey", "year", "mean", "sd", "n"],
).astype({"mean": float, "sd": float, "n": "Int64"})

#: Norm used by ``norm="auto"``: the teenage WEMWBS norm; no SWEMWBS metric
#: norm for young people is given in domain.md, so none is chosen for SWEMWBS
#: (adult norms must be asked for by name).
_AUTO_NORM = {"WEMWBS": "clarke-2011-teenagers-13-16", "SWEMWBS": None}

#: Defaults for reliable change (domain.md §4: sources disagree, so these are
#: parameters and every result prints which were used).
RELIABLE_CHANGE_DEFAULTS: dict[str, dict] = {
    "WEMWBS": {"sd": 8.96, "reliability": 0.83, "sem": None,
               "source": "SD 8.96 (Scotland adults 2018), one-week test-retest r 0.83 "
                         "(Tennant 2007)"},
    "SWEMWBS": {"sd": None, "reliability": None, "sem": 1.03,
                "source": "SEM 1.03 metric points (Shah 2018)"},
}
#: One-week test-retest correlation used for regression to the mean by default.
_RETEST_R = {"WEMWBS": 0.83, "SWEMWBS": None}

_WILCOXON_ZERO = ("wilcox", "pratt", "zsplit")
_WILCOXON_METHODS = ("auto", "exact", "asymptotic")
_META_METHODS = {"dl": ("chi2", "DerSimonian-Laird"), "pm": ("iterated", "Paule-Mandel")}

#: Columns of :func:`score`.
SCORE_COLUMNS: list[str] = [
    "response", "participant", "service", "year", "wave", "date", "instrument", "age",
    "items_answered", "raw_total", "complete", "prorated", "wemwbs_total",
    "swemwbs_items_answered", "swemwbs_raw", "swemwbs_complete", "swemwbs_prorated",
    "swemwbs_metric", "band", "swemwbs_band", "band_set", "band_use", "min_validated_age",
    "age_valid", "note",
]

#: Columns of :func:`pair`.
PAIR_COLUMNS: list[str] = [
    "service", "year", "participant", "scale", "paired", "baseline", "follow_up", "change",
    "baseline_response", "follow_up_response", "baseline_date", "follow_up_date",
    "baseline_instrument", "follow_up_instrument", "baseline_age_valid",
    "n_baseline_responses", "n_follow_up_responses", "note",
]

_ID_COLUMNS = ("response", "participant", "service", "year", "wave", "date")


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def _floats(values) -> np.ndarray:
    """Float array with NaN for missing (handles pandas NA and nullable dtypes)."""
    if isinstance(values, (pd.Series, pd.Index)):
        return pd.to_numeric(values, errors="raise").astype("Float64").to_numpy(
            dtype=float, na_value=np.nan)
    arr = np.asarray(values, dtype=object).ravel()
    return np.array([np.nan if _is_missing(v) else float(v) for v in arr], dtype=float)


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(isinstance(v, float) and math.isnan(v))
    except TypeError:  # pragma: no cover
        return False


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be 'WEMWBS' (total) or 'SWEMWBS' (metric score), "
                         f"not {scale!r}")
    return scale


def _check_confidence(confidence: float) -> float:
    if not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number between 0 and 1, not {confidence!r}")
    return float(confidence)


def _check_frame(df, name: str, needed: Sequence[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, not {type(df).__name__}")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{name} needs the column(s) {missing}; found {list(df.columns)}")


def _round_half_up_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round_half_up(num / den) for non-negative integers, exactly (integer arithmetic)."""
    return (2 * num + den) // (2 * den)


def _distinct_text(values: pd.Series) -> set[str]:
    """The distinct non-missing values as text (hashing, not a Python loop over rows)."""
    return {str(v) for v in pd.unique(values.dropna())}


def _labels(values: pd.Series, missing: str = "not recorded") -> pd.Series:
    return values.astype(object).where(values.notna(), missing).astype(str)


def _label_codes(values: pd.Series, missing: str = "not recorded"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct :func:`_labels` and each row's position among them (as
    ``np.unique(..., return_inverse=True)``), labelling each distinct value once."""
    raw_codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = [str(v) for v in uniques] + [missing]  # code -1 (missing) takes the last
    used = np.bincount(raw_codes + 1, minlength=len(labels)) > 0  # missing first here
    names = sorted({label for label, u in zip(labels, np.r_[used[1:], used[0]]) if u})
    rank = {name: i for i, name in enumerate(names)}
    lookup = np.array([rank.get(label, -1) for label in labels], dtype=np.intp)
    return np.array(names, dtype=object), lookup[raw_codes]


def _settings(df: pd.DataFrame, **settings) -> pd.DataFrame:
    df.attrs["settings"] = settings
    return df


def _disclosure(df: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Record the table's disclosure-control spec (kwargs for ``disclosure.suppress``)."""
    df.attrs["suppress"] = spec
    return df


def _on(bases, *columns: str) -> dict:
    """``{column: bases}`` for each column: the statistics resting on the same counts."""
    return {c: bases for c in columns}


def _attrition_spec(col: str, pooled_label: str) -> dict:
    # n_follow_up (anyone with a follow-up questionnaire) is n_paired + n_follow_up_only
    # plus those whose follow-up was unusable, which is not shown: as a count it could
    # give away a hidden n_paired, so it is shown only when both its parts are.
    return {
        "counts": ["n", "n_baseline", "n_paired", "n_lost", "n_follow_up_only"],
        "derived": {"n_follow_up": ["n_paired", "n_follow_up_only"],
                    **_on(["n_baseline", "n_lost"], "pct_lost", "pct_lost_ci_low",
                          "pct_lost_ci_high")},
        "sums": {"n": ["n_baseline", "n_follow_up_only"], "n_baseline": ["n_paired", "n_lost"]},
        "groups": [], "total": {col: pooled_label},
    }


def _completer_spec(col: str, pooled_label: str) -> dict:
    both = ["n_completers", "n_non_completers"]
    return {
        "counts": ["n", *both],
        "derived": {**_on("n_completers", "mean_completers", "sd_completers"),
                    **_on("n_non_completers", "mean_non_completers", "sd_non_completers"),
                    **_on(both, "difference", "ci_low", "ci_high", "t", "df", "p")},
        "sums": {"n": both},
        "groups": [], "total": {col: pooled_label},
    }


#: Statistics of :func:`paired_change` resting on the number of pairs ``n``.
_PAIRED_STATS = ("mean_baseline", "sd_baseline", "mean_follow_up", "sd_follow_up",
                 "mean_change", "sd_change", "se_change", "ci_low", "ci_high", "t", "df", "p",
                 "wilcoxon_w", "wilcoxon_p", "d_z", "d_z_ci_low", "d_z_ci_high", "d_av",
                 "rank_biserial")
_RC_CATEGORIES = ("improved", "no_reliable_change", "deteriorated")


def _change_spec(col: str, pooled_label: str) -> dict:
    derived = _on("n", *_PAIRED_STATS, "baseline_minus_norm", "norm_ci_low", "norm_ci_high",
                  "norm_t", "norm_p", "change_beyond_rtm")
    for cat in _RC_CATEGORIES:
        derived.update(_on(["n", f"n_{cat}"], f"pct_{cat}", f"pct_{cat}_ci_low",
                           f"pct_{cat}_ci_high"))
    for cat in ("warwick_improved", "warwick_deteriorated"):
        derived[f"pct_{cat}"] = ["n", f"n_{cat}"]
    return {
        "counts": ["n", "n_dropped", *(f"n_{c}" for c in _RC_CATEGORIES), "n_warwick_improved",
                   "n_warwick_deteriorated", "n_outside_validated_age"],
        "derived": derived,
        "sums": {"n": [f"n_{c}" for c in _RC_CATEGORIES]},
        # the rest (e.g. not improved by 3 points, inside the validated age) can be worked out
        "complements": {"n_warwick_improved": "n", "n_warwick_deteriorated": "n",
                        "n_outside_validated_age": "n"},
        # published comparators, not the young people's data
        "keep": ["norm_mean", "rtm_expected"],
        "groups": [], "total": {col: pooled_label},
    }


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------

def swemwbs_metric(raw, *, missing: str = "raise"):
    """Convert SWEMWBS raw totals (7-35) to metric scores with the 29-value table.

    The raw sum of the seven SWEMWBS items must be converted before it is
    compared with norms or other studies (domain.md §4).

    Parameters
    ----------
    raw : int or array-like of int
        Raw totals, whole numbers from 7 to 35.
    missing : {"raise", "nan"}
        What to do with missing values (None, NaN, pandas NA): raise a
        ValueError (default) or return NaN for them.

    Returns
    -------
    float or numpy.ndarray
        The metric score(s), a float for a scalar input, otherwise an array of
        the input's shape.

    Raises
    ------
    ValueError
        If any value is not a whole number from 7 to 35 (the message names it).

    Examples
    --------
    >>> swemwbs_metric(21)
    19.25
    >>> swemwbs_metric([7, 35]).tolist()
    [7.0, 35.0]
    """
    if missing not in ("raise", "nan"):
        raise ValueError(f"missing must be 'raise' or 'nan', not {missing!r}")
    scalar = np.ndim(raw) == 0 and not isinstance(raw, (pd.Series, pd.Index))
    values = np.asarray(raw, dtype=object)
    shape = values.shape
    out = np.empty(values.size, dtype=float)
    for i, v in enumerate(values.ravel()):
        if _is_missing(v):
            if missing == "nan":
                out[i] = np.nan
                continue
            raise ValueError(f"SWEMWBS raw total is missing ({v!r}); expected a whole number "
                             "from 7 to 35 (pass missing='nan' to keep missing values)")
        ok = isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
        if ok:
            fv = float(v)
            ok = math.isfinite(fv) and fv == int(fv) and 7 <= fv <= 35
        if not ok:
            raise ValueError(f"SWEMWBS raw total must be a whole number from 7 to 35, "
                             f"found {v!r}")
        out[i] = SWEMWBS_METRIC[int(v)]
    if scalar:
        return float(out[0])
    return out.reshape(shape)


def _prorate(sums: np.ndarray, answered: np.ndarray, n_items: np.ndarray,
             allow_missing: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total (float, NaN if unscorable), complete flag, prorated flag."""
    n_missing = n_items - answered
    complete = n_missing == 0
    scorable = (answered > 0) & (n_missing <= allow_missing)
    total = np.full(sums.shape, np.nan)
    den = np.where(answered > 0, answered, 1)
    prorated_total = _round_half_up_ratio(sums * n_items, den)
    total[scorable] = np.where(complete, sums, prorated_total)[scorable]
    prorated = scorable & ~complete
    return total, complete, prorated


def _band(values: np.ndarray, scale: str, band_set: str) -> np.ndarray:
    bands = BAND_SETS[band_set][scale]
    uppers = np.array([upper for upper, _ in bands], dtype=float)
    labels = np.array([label for _, label in bands] + [None], dtype=object)
    whole = np.floor(values + 0.5)  # bands are stated in whole numbers
    # First band whose upper bound is at least the score; none (None) above the last
    # bound or for a missing score.
    idx = np.searchsorted(uppers, whole, side="left")
    idx[np.isnan(whole)] = len(bands)
    return labels[idx]


def score(
    responses: pd.DataFrame,
    *,
    allow_missing: int = 0,
    band_set: str = _DEFAULT_BAND_SET,
    min_age_wemwbs: int = 13,
    min_age_swemwbs: int = 11,
) -> pd.DataFrame:
    """Score WEMWBS and SWEMWBS questionnaires, one row per questionnaire.

    Each questionnaire gets the total of the instrument it used (WEMWBS 14-70
    or SWEMWBS raw 7-35) and, for both instruments, a SWEMWBS raw total and
    metric score from its seven SWEMWBS items, so that services that used
    different instruments can be compared on the SWEMWBS metric scale.

    By default only complete questionnaires are scored (the official rule for
    missing items is unconfirmed). With ``allow_missing=k`` a questionnaire
    missing at most ``k`` of its items is prorated: the mean of the answered
    items times the number of items, rounded half up to a whole number (before
    the SWEMWBS metric lookup), and flagged ``prorated``. For the SWEMWBS score
    of a WEMWBS questionnaire the limit applies to its seven SWEMWBS items.

    Parameters
    ----------
    responses : pandas.DataFrame
        The ``wellbeing`` table: ``instrument`` ("WEMWBS" or "SWEMWBS") and the
        item columns named by their keys (``contracts.WEMWBS_ITEMS``; the 7
        SWEMWBS items are always needed, the other 7 when any row is WEMWBS),
        values 1-5 or missing. ``response``, ``participant``, ``service``,
        ``year``, ``wave``, ``date`` and ``age`` are carried over when present.
    allow_missing : int, default 0
        Most missing items a questionnaire may have and still be scored
        (prorated); 0 = complete questionnaires only.
    band_set : str, default "warwick-2008 v1"
        Named, versioned band set from :data:`BAND_SETS`.
    min_age_wemwbs, min_age_swemwbs : int, default 13 and 11
        Youngest validated age for each instrument; younger respondents are
        flagged ``age_valid = False`` (outside the validated range).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCORE_COLUMNS`:

        - ``response, participant, service, year, wave, date, instrument, age``
          (carried over; missing columns are all NA);
        - ``items_answered`` - items answered of the instrument's 14 or 7;
        - ``raw_total`` - instrument total (WEMWBS 14-70, SWEMWBS raw 7-35), NA
          when not scorable; ``complete``, ``prorated`` - flags for it;
        - ``wemwbs_total`` - WEMWBS total, WEMWBS questionnaires only;
        - ``swemwbs_items_answered``, ``swemwbs_raw``, ``swemwbs_complete``,
          ``swemwbs_prorated``, ``swemwbs_metric`` - from the 7 SWEMWBS items
          of either instrument;
        - ``band`` (on the instrument's own score), ``swemwbs_band`` (on the
          SWEMWBS metric), ``band_set``, ``band_use`` ("population grouping, not
          screening");
        - ``min_validated_age``, ``age_valid`` (NA when age is not recorded);
        - ``note`` - why a score is missing or prorated.

        This table holds participant ids: a working table, never published.

    Examples
    --------
    >>> row = {k: 3 for k in SWEMWBS_ITEMS} | {"instrument": "SWEMWBS"}
    >>> s = score(pd.DataFrame([row]))
    >>> int(s["raw_total"].iloc[0]), float(s["swemwbs_metric"].iloc[0])
    (21, 19.25)
    """
    _check_frame(responses, "responses", ["instrument"])
    if (not isinstance(allow_missing, numbers.Integral) or isinstance(allow_missing, bool)
            or not 0 <= allow_missing <= 6):
        raise ValueError(f"allow_missing must be a whole number from 0 to 6, not {allow_missing!r}")
    if band_set not in BAND_SETS:
        raise ValueError(f"band_set must be one of {list(BAND_SETS)}, not {band_set!r}")
    for name, age in (("min_age_wemwbs", min_age_wemwbs), ("min_age_swemwbs", min_age_swemwbs)):
        if not isinstance(age, numbers.Real) or isinstance(age, bool):
            raise ValueError(f"{name} must be a number of years, not {age!r}")

    n = len(responses)

    def ids():  # response ids, for error messages only
        return (responses["response"].astype(object).to_numpy() if "response" in responses
                else responses.index.to_numpy())

    # Instrument
    inst_raw = responses["instrument"]
    canon = {"wemwbs": "WEMWBS", "swemwbs": "SWEMWBS"}
    # Canonicalise each distinct value once (there are a handful), then spread them out.
    codes, uniques = pd.factorize(inst_raw, use_na_sentinel=True)
    canon_of = np.array([canon.get(str(v).strip().lower()) for v in uniques] + [None],
                        dtype=object)
    instrument = canon_of[codes]  # code -1 (missing) takes the trailing None
    bad = ([(i, v) for i, v, c in zip(ids(), inst_raw.astype(object), instrument) if c is None]
           if (codes == -1).any() or any(c is None for c in canon_of[:-1]) else [])
    if bad:
        shown = ", ".join(f"{v!r} (response {i})" for i, v in bad[:5])
        raise ValueError(f"instrument must be 'WEMWBS' or 'SWEMWBS'; found {shown}"
                         + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
    is_w = instrument == "WEMWBS"

    needed = list(SWEMWBS_ITEMS) + ([k for k in WEMWBS_ITEMS if k not in SWEMWBS_ITEMS]
                                    if is_w.any() else [])
    missing_cols = [c for c in needed if c not in responses.columns]
    if missing_cols:
        raise ValueError(f"responses need the item column(s) {missing_cols} "
                         f"(item keys from contracts.WEMWBS_ITEMS)")

    # Items column by column (NaN for missing; validated 1-5), summed as they come: the
    # instrument's items (all 14 for WEMWBS, the 7 SWEMWBS items for SWEMWBS) and the
    # SWEMWBS items of either instrument. Answers are whole numbers, so the float sums
    # are exact whatever their order.
    n_items = np.where(is_w, len(WEMWBS_ITEMS), len(SWEMWBS_ITEMS))
    answered = np.zeros(n, dtype=np.int64)
    s_answered = np.zeros(n, dtype=np.int64)
    sums = np.zeros(n)
    s_sums = np.zeros(n)
    extra = np.zeros(n, dtype=bool)  # answers to non-SWEMWBS items of a SWEMWBS form
    for key in WEMWBS_ITEMS:
        if key not in responses.columns:
            continue
        col = responses[key]
        try:
            vals = _floats(col)
        except (ValueError, TypeError):
            vals = None
        if vals is None or np.any(~np.isnan(vals) & ~np.isin(vals, [1, 2, 3, 4, 5])):
            bad_vals = [(i, v) for i, v in zip(ids(), col.astype(object))
                        if not _is_missing(v) and not (
                            isinstance(v, numbers.Real) and not isinstance(v, bool)
                            and float(v) in (1, 2, 3, 4, 5))]
            shown = ", ".join(f"{v!r} (response {i})" for i, v in bad_vals[:5])
            raise ValueError(f"item {key!r} must be a whole number from 1 to 5 or missing; "
                             f"found {shown}")
        given = ~np.isnan(vals)
        value = np.where(given, vals, 0.0)
        if key in SWEMWBS_ITEMS:
            answered += given
            sums += value
            s_answered += given
            s_sums += value
        else:
            answered += given & is_w
            sums += np.where(is_w, value, 0.0)
            extra |= given & ~is_w
    sums = sums.astype(np.int64)
    s_sums = s_sums.astype(np.int64)
    raw_total, complete, prorated = _prorate(sums, answered, n_items, allow_missing)
    s_raw, s_complete, s_prorated = _prorate(s_sums, s_answered, np.full(n, 7), allow_missing)
    s_metric = _metric_of_totals(s_raw)
    wem_total = np.where(is_w, raw_total, np.nan)

    own_values = np.where(is_w, raw_total, s_metric)
    band = np.full(n, None, dtype=object)
    if is_w.any():
        band[is_w] = _band(own_values[is_w], "WEMWBS", band_set)
    if (~is_w).any():
        band[~is_w] = _band(own_values[~is_w], "SWEMWBS", band_set)
    s_band = _band(s_metric, "SWEMWBS", band_set)

    min_age = np.where(is_w, min_age_wemwbs, min_age_swemwbs)
    age = _floats(responses["age"]) if "age" in responses else np.full(n, np.nan)
    no_age = np.isnan(age)
    age_valid = pd.arrays.BooleanArray(np.where(no_age, False, age >= min_age), no_age)

    notes = _score_notes(
        not_scored=np.isnan(raw_total), prorated=prorated, n_items=n_items,
        answered=answered, is_w=is_w, s_not_scored=np.isnan(s_raw), s_prorated=s_prorated,
        s_answered=s_answered, extra=extra, age=age,
        min_age=min_age, instrument=instrument, allow_missing=allow_missing)

    cols: dict[str, object] = {}
    for col in _ID_COLUMNS:
        if col in responses:
            cols[col] = _carried(responses[col])
        elif col == "date":
            cols[col] = pd.array([pd.NaT] * n, dtype="datetime64[ns]")
        else:
            cols[col] = pd.array([pd.NA] * n, dtype=object)
    cols.update({
        "instrument": _as_str(instrument),
        "age": _int_array(age),
        "items_answered": answered.astype(np.int64),
        "raw_total": _int_array(raw_total),
        "complete": complete,
        "prorated": prorated,
        "wemwbs_total": _int_array(wem_total),
        "swemwbs_items_answered": s_answered.astype(np.int64),
        "swemwbs_raw": _int_array(s_raw),
        "swemwbs_complete": s_complete,
        "swemwbs_prorated": s_prorated,
        "swemwbs_metric": np.asarray(s_metric, dtype=float),
        "band": _as_str(band),
        "swemwbs_band": _as_str(s_band),
        "band_set": _repeated_str(band_set, n),
        "band_use": _repeated_str("population grouping, not screening", n),
        "min_validated_age": min_age.astype(np.int64),
        "age_valid": age_valid,
        "note": _as_str(notes),
    })
    out = pd.DataFrame(cols, index=range(n))
    out = out[SCORE_COLUMNS]
    return _settings(out, allow_missing=allow_missing, band_set=band_set,
                     band_set_description=BAND_SETS[band_set]["description"],
                     min_age_wemwbs=min_age_wemwbs, min_age_swemwbs=min_age_swemwbs,
                     prorating="mean of answered items x number of items, rounded half up",
                     copyright=COPYRIGHT)


def _carried(values: pd.Series):
    """A column carried over to the scored table, as the array pandas would infer from its
    values: text columns are converted in pyarrow rather than through Python strings."""
    dtype = values.dtype
    text = isinstance(dtype, pd.StringDtype) or (
        isinstance(dtype, pd.CategoricalDtype)
        and isinstance(dtype.categories.dtype, pd.StringDtype))
    if text and values.notna().any():
        return values.astype("str").array
    return values.to_numpy()


def _text_take(values: pd.Series, rows: np.ndarray | None):
    """``values`` at ``rows`` (-1: missing) as the array pandas infers from a list of the
    same values, when that is a text array: taken in pyarrow, not through Python strings.
    None when the values are not text (the caller then builds the list)."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) or (
            isinstance(dtype, pd.CategoricalDtype)
            and isinstance(dtype.categories.dtype, pd.StringDtype))):
        return None
    arr = values.array if rows is None else values.array.take(rows, allow_fill=True)
    out = pd.Series(arr, copy=False).astype("str").array
    return out if len(out) and not out.isna().all() else None


def _as_str(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """String array (None -> missing) built from its few distinct values: much faster than
    converting every Python string."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    return pd.array(list(uniques), dtype="str").take(codes, allow_fill=True)


def _repeated_str(value: str, n: int) -> pd.api.extensions.ExtensionArray:
    """``n`` copies of one text, as :func:`_as_str` would give them."""
    return pd.array([value], dtype="str").take(np.zeros(n, dtype=np.intp))


def _int_array(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Int64 array from floats (whole numbers or NaN), NaN -> NA."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


_METRIC_TABLE = np.array([SWEMWBS_METRIC[raw] for raw in range(7, 36)])


def _metric_of_totals(raw: np.ndarray) -> np.ndarray:
    """swemwbs_metric(raw, missing="nan") for raw totals known to be whole numbers 7-35."""
    out = np.full(raw.shape, np.nan)
    ok = ~np.isnan(raw)
    out[ok] = _METRIC_TABLE[raw[ok].astype(np.int64) - 7]
    return out


def _score_notes(*, not_scored, prorated, n_items, answered, is_w, s_not_scored, s_prorated,
                 s_answered, extra, age, min_age, instrument, allow_missing) -> np.ndarray:
    """The ``note`` of :func:`score` per questionnaire: why a score is missing or prorated.

    Notes depend on a few small whole numbers, so each distinct combination is
    written once and spread to the rows that share it.
    """
    n = not_scored.size
    own = np.where(not_scored, 1, np.where(prorated, 2, 0))
    swem = np.where(is_w & s_not_scored, 1, np.where(is_w & s_prorated, 2, 0))
    young = ~np.isnan(age) & (age < min_age)
    notes = np.full(n, "", dtype=object)
    rows = np.flatnonzero((own > 0) | (swem > 0) | extra | young)
    if rows.size == 0:
        return notes
    keys = pd.DataFrame({
        "own": own[rows], "k_missing": (n_items - answered)[rows], "n_items": n_items[rows],
        "swem": swem[rows], "s_missing": 7 - s_answered[rows], "extra": extra[rows],
        "young": young[rows], "age": np.where(young[rows], age[rows], 0.0),
        "instrument": np.where(young[rows], instrument[rows], ""),
        "min_age": np.where(young[rows], min_age[rows], 0),
    })
    combo = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    _, first = np.unique(combo, return_index=True)
    texts = []
    for r in keys.iloc[first].itertuples(index=False):
        parts = []
        if r.own == 1:
            parts.append(f"not scored: {r.k_missing} of {r.n_items} items missing "
                         f"(allow_missing={allow_missing})")
        elif r.own == 2:
            parts.append(f"prorated: {r.k_missing} of {r.n_items} items missing")
        if r.swem == 1:
            parts.append(f"no SWEMWBS score: {r.s_missing} of 7 SWEMWBS items missing")
        elif r.swem == 2:
            parts.append(f"SWEMWBS score prorated: {r.s_missing} of 7 items missing")
        if r.extra:
            parts.append("answers to non-SWEMWBS items ignored")
        if r.young:
            parts.append(f"age {r.age:g} below the validated range ({r.instrument} from "
                         f"{r.min_age:g})")
        texts.append("; ".join(parts))
    notes[rows] = np.array(texts, dtype=object)[combo]
    return notes


# --------------------------------------------------------------------------
# Pairing and attrition
# --------------------------------------------------------------------------

def pair(
    scored: pd.DataFrame,
    *,
    scale: str = "SWEMWBS",
    baseline_rule: str = "earliest",
    follow_up_rule: str = "latest",
    keep: str = "paired",
) -> pd.DataFrame:
    """Match each young person's baseline and follow-up score.

    People are matched on ``participant`` within ``service`` and ``year`` (a
    young person in two programme years gives two pairs). Rules for repeats:

    - only questionnaires with a score on ``scale`` count (``"WEMWBS"``:
      WEMWBS totals only; ``"SWEMWBS"``: the metric score of either
      instrument);
    - of several baselines the earliest is used (``baseline_rule``), of several
      follow-ups the latest (``follow_up_rule``); order is by ``date``, undated
      questionnaires after dated ones, then by their order in the table;
    - the follow-up must be dated strictly after the baseline; when either
      date is missing the order cannot be checked and the pair is kept.

    Parameters
    ----------
    scored : pandas.DataFrame
        Output of :func:`score` (needs ``participant``, ``wave``, ``instrument``
        and the scale's score column; ``service``, ``year``, ``date``,
        ``response`` and ``age_valid`` are used when present).
    scale : {"SWEMWBS", "WEMWBS"}
        Which score to pair.
    baseline_rule : {"earliest", "latest"}, default "earliest"
    follow_up_rule : {"latest", "earliest"}, default "latest"
    keep : {"paired", "all"}, default "paired"
        ``"paired"`` returns complete pairs only; ``"all"`` returns everyone
        with a scored baseline or follow-up (``paired`` False, the reason in
        ``note``), as used by :func:`attrition`. People none of whose
        questionnaires could be scored appear in neither.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAIR_COLUMNS`: ``service, year, participant, scale,
        paired, baseline, follow_up, change`` (follow-up minus baseline),
        the ``response``, ``date`` and ``instrument`` used at each wave,
        ``baseline_age_valid``, ``n_baseline_responses`` and
        ``n_follow_up_responses`` (scored questionnaires found, so repeats are
        visible) and ``note``. Holds participant ids: never published.
    """
    _check_scale(scale)
    value = _SCALE_COLUMN[scale]
    _check_frame(scored, "scored", ["participant", "wave", value])
    for name, rule in (("baseline_rule", baseline_rule), ("follow_up_rule", follow_up_rule)):
        if rule not in ("earliest", "latest"):
            raise ValueError(f"{name} must be 'earliest' or 'latest', not {rule!r}")
    if keep not in ("paired", "all"):
        raise ValueError(f"keep must be 'paired' or 'all', not {keep!r}")
    waves = _distinct_text(scored["wave"])
    unknown = waves - set(WAVES)
    if unknown:
        raise ValueError(f"wave must be one of {list(WAVES)}; found {sorted(unknown)}")

    # The questionnaires are filtered and ordered as row positions; the columns are taken
    # only for the rows finally used (text columns stay in pyarrow).
    n = len(scored)

    def column(name: str, default) -> pd.Series:
        if name in scored:
            return scored[name].reset_index(drop=True)
        return pd.Series(default, index=range(n), dtype=object)

    src = {
        "service": column("service", pd.NA), "year": column("year", pd.NA),
        "participant": scored["participant"].reset_index(drop=True),
        "response": (scored["response"].reset_index(drop=True) if "response" in scored
                     else pd.Series(scored.index.to_numpy())),
        "instrument": column("instrument", scale),
        "age_valid": (scored["age_valid"].astype(object).reset_index(drop=True)
                      if "age_valid" in scored else column("age_valid", pd.NA)),
    }
    wave_all = scored["wave"].reset_index(drop=True)
    value_all = _floats(scored[value])
    usable = (~np.isnan(value_all) & src["participant"].notna().to_numpy(dtype=bool)
              & wave_all.notna().to_numpy(dtype=bool))
    if scale == "WEMWBS":
        usable &= (src["instrument"].astype(str) == "WEMWBS").to_numpy(dtype=bool)
    dates_all = (pd.to_datetime(scored["date"]).to_numpy() if "date" in scored
                 else np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"))
    if dates_all.dtype.kind != "M":
        dates_all = dates_all.astype("datetime64[ns]")
    pos = np.flatnonzero(usable)
    # Earliest first: dated before undated, then table order.
    when = dates_all[pos]
    when_key = np.where(np.isnat(when), np.iinfo(np.int64).max, when.view(np.int64))
    pos = pos[np.lexsort((pos, when_key))]
    # Group ids in sorted (service, year, participant) order; rows of a group stay in
    # date order, so "earliest" is a group's first row and "latest" its last dated one.
    key_frame = pd.DataFrame({c: src[c].take(pos).reset_index(drop=True)
                              for c in ("service", "year", "participant")})
    gid = _sorted_group_ids(key_frame)
    order = np.argsort(gid, kind="stable")
    pos = pos[order]
    gid = gid[order]
    n_groups = int(gid.max()) + 1 if gid.size else 0
    wave = wave_all.take(pos)
    is_base = (wave == "baseline").to_numpy(dtype=bool)
    is_foll = (wave == "follow-up").to_numpy(dtype=bool)
    dates = dates_all[pos]
    dated = ~np.isnat(dates)
    n_base = np.bincount(gid[is_base], minlength=n_groups)
    n_foll = np.bincount(gid[is_foll], minlength=n_groups)

    b_row = _pick(gid, is_base, dated, n_groups, baseline_rule)
    has_b = b_row >= 0
    b_date = np.full(n_groups, np.datetime64("NaT"), dtype=dates.dtype)
    b_date[has_b] = dates[b_row[has_b]]
    # A follow-up must be dated after the baseline when both are dated.
    row_b_date = b_date[gid]
    cand = is_foll & (~has_b[gid] | np.isnat(row_b_date) | ~dated | (dates > row_b_date))
    f_row = _pick(gid, cand, dated, n_groups, follow_up_rule)
    has_f = f_row >= 0
    paired = has_b & has_f

    note = np.full(n_groups, "", dtype=object)
    note[has_b & (n_foll > 0) & ~has_f] = "no follow-up dated after the baseline"
    note[~has_b] = "no scored baseline"
    note[has_b & (n_foll == 0)] = "no scored follow-up"
    repeats = paired & ((n_base > 1) | (n_foll > 1))
    note[repeats] = [f"repeats: {nb} baseline(s), {nf} follow-up(s); used {baseline_rule} "
                     f"baseline, {follow_up_rule} follow-up"
                     for nb, nf in zip(n_base[repeats], n_foll[repeats])]

    use = paired if keep == "paired" else np.ones(n_groups, dtype=bool)
    first_row = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]]) if gid.size else gid
    bi, fi = b_row[use], f_row[use]
    hb, hf = bi >= 0, fi >= 0

    def take(col: str, rows: np.ndarray, ok: np.ndarray, missing) -> list:
        at = np.where(ok, pos[np.where(ok, rows, 0)] if pos.size else 0, -1)
        fast = _text_take(src[col], at) if missing is pd.NA else None
        if fast is not None:
            return fast
        vals = (np.array(src[col].take(np.where(ok, at, 0)), dtype=object) if pos.size
                else np.array([], dtype=object))
        vals[~ok] = missing
        return vals.tolist()

    def key_values(col: str):
        keys = src[col].take(pos[first_row[use]])
        fast = _text_take(keys, None)
        return fast if fast is not None else keys.astype(object).tolist()

    def take_array(values: np.ndarray, rows: np.ndarray, ok: np.ndarray, missing) -> np.ndarray:
        out = np.full(ok.size, missing, dtype=values.dtype)
        out[ok] = values[rows[ok]]
        return out

    values = value_all[pos]
    bv, fv = take_array(values, bi, hb, np.nan), take_array(values, fi, hf, np.nan)
    k = int(use.sum())
    out = pd.DataFrame({
        "service": key_values("service"), "year": key_values("year"),
        "participant": key_values("participant"),
        "scale": _repeated_str(scale, k) if k else [scale] * k,
        "paired": paired[use], "baseline": bv, "follow_up": fv,
        "change": np.where(paired[use], fv - bv, np.nan),
        "baseline_response": take("response", bi, hb, pd.NA),
        "follow_up_response": take("response", fi, hf, pd.NA),
        "baseline_date": take_array(dates, bi, hb, np.datetime64("NaT")),
        "follow_up_date": take_array(dates, fi, hf, np.datetime64("NaT")),
        "baseline_instrument": take("instrument", bi, hb, pd.NA),
        "follow_up_instrument": take("instrument", fi, hf, pd.NA),
        "baseline_age_valid": take("age_valid", bi, hb, pd.NA),
        "n_baseline_responses": n_base[use], "n_follow_up_responses": n_foll[use],
        "note": _as_str(note[use]) if k else note[use].tolist(),
    }, columns=PAIR_COLUMNS)
    out = out.astype({"paired": bool, "baseline": float, "follow_up": float, "change": float,
                      "n_baseline_responses": np.int64, "n_follow_up_responses": np.int64})
    out["baseline_date"] = pd.to_datetime(out["baseline_date"])
    out["follow_up_date"] = pd.to_datetime(out["follow_up_date"])
    out["baseline_age_valid"] = out["baseline_age_valid"].astype("boolean")
    return _settings(out.reset_index(drop=True), scale=scale, baseline_rule=baseline_rule,
                     follow_up_rule=follow_up_rule, keep=keep,
                     matching="participant within service and year; follow-up strictly "
                              "after baseline when both are dated")


def _sorted_group_ids(frame: pd.DataFrame) -> np.ndarray:
    """Group id per row for all of ``frame``'s columns, numbered in sorted order of the
    keys with missing values last, exactly as ``frame.groupby(list(frame), dropna=False,
    sort=True).ngroup()``. Arrow text columns are coded by Arrow (hash, then sort only the
    distinct texts) and the codes combined as integers: much quicker than pandas on a
    million questionnaires; other columns go to pandas."""
    import pyarrow.compute as pc

    ranks = []
    for name in frame.columns:
        coded = text_codes(frame[name])
        if coded is None:
            return frame.groupby(list(frame.columns), dropna=False,
                                 sort=True).ngroup().to_numpy()
        codes, distinct = coded
        rank = np.empty(len(distinct) + 1, dtype=np.int64)
        rank[pc.sort_indices(distinct).to_numpy(zero_copy_only=False)] = np.arange(len(distinct))
        rank[-1] = len(distinct)  # missing (code -1) sorts last
        ranks.append((rank[codes], len(distinct) + 1))
    combined = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for rank, count in ranks:
        if size * count >= 2 ** 62:  # pragma: no cover - billions of combinations
            combined = np.unique(combined, return_inverse=True)[1].astype(np.int64)
            size = int(combined.max()) + 1
        combined = combined * count + rank
        size *= count
    return np.unique(combined, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _check_pair_options(options: dict) -> dict:
    unknown = set(options) - {"baseline_rule", "follow_up_rule"}
    if unknown:
        raise ValueError(f"unexpected argument(s) {sorted(unknown)}; only baseline_rule and "
                         "follow_up_rule are passed on to pair()")
    return options


def _pick(gid: np.ndarray, mask: np.ndarray, dated: np.ndarray, n_groups: int,
          rule: str) -> np.ndarray:
    """Row chosen per group among rows in ``mask`` (-1 if none).

    Rows are sorted by group and, within a group, by date (undated last) then
    table order. "earliest": a group's first such row; "latest": its last dated
    one, or its last (undated) one when none is dated.
    """
    chosen = np.full(n_groups, -1, dtype=np.int64)
    rows = np.flatnonzero(mask)
    if rule == "earliest":
        groups, first = np.unique(gid[rows], return_index=True)
        chosen[groups] = rows[first]
        return chosen
    for subset in (rows, rows[dated[rows]]):  # dated rows, where any, overwrite
        rev = subset[::-1]
        groups, last = np.unique(gid[rev], return_index=True)
        chosen[groups] = rev[last]
    return chosen


def _narrow(df: pd.DataFrame, by: str | None, columns: Sequence[str]) -> pd.DataFrame:
    """The grouping column and those of ``columns`` present: less to copy per group."""
    keep = [c for c in dict.fromkeys([*([by] if by is not None else []), *columns])
            if c in df.columns]
    return df[keep]


def _group_frames(df: pd.DataFrame, by: str | None, pooled_label: str):
    """(label, sub-frame) per group, then the pooled frame."""
    out = []
    if by is not None and len(df):
        # One sort instead of a comparison per group: rows keep their order within a group.
        names, codes = _label_codes(df[by])
        order = np.argsort(codes, kind="stable")
        cuts = np.searchsorted(codes[order], np.arange(1, len(names)))
        for lab, rows in zip(names, np.split(order, cuts)):
            out.append((str(lab), df.iloc[rows]))
    out.append((pooled_label, df))
    return out


def attrition(
    scored: pd.DataFrame,
    *,
    scale: str = "SWEMWBS",
    by: str | None = "service",
    confidence: float = 0.95,
    pooled_label: str = "All services",
    **pair_options,
) -> pd.DataFrame:
    """Attrition per service: who had a baseline, a follow-up, both, and who was lost.

    Missing follow-ups are a normal, reported condition (lockdown interrupted
    the 2019-20 follow-up), so they are counted rather than silently dropped.

    Parameters
    ----------
    scored : pandas.DataFrame
        Output of :func:`score`.
    scale : {"SWEMWBS", "WEMWBS"}
    by : str or None, default "service"
        Grouping column; None gives the pooled row only.
    confidence : float, default 0.95
        Level of the Wilson interval on the % lost.
    pooled_label : str, default "All services"
    **pair_options
        Passed to :func:`pair` (``baseline_rule``, ``follow_up_rule``).

    Returns
    -------
    pandas.DataFrame
        One row per group plus the pooled row, columns: ``<by>`` (or
        ``group``), ``scale``, ``n`` (people with any scored questionnaire),
        ``n_baseline``, ``n_follow_up``, ``n_paired``, ``n_lost`` (baseline but
        no usable follow-up), ``n_follow_up_only`` (follow-up but no baseline),
        ``pct_lost``, ``pct_lost_ci_low``, ``pct_lost_ci_high`` (Wilson, % of
        ``n_baseline``), ``ci_method``, ``note``.
        ``attrs["suppress"]``: ``pct_lost*`` rest on ``n_baseline`` and
        ``n_lost``; ``n = n_baseline + n_follow_up_only``, ``n_baseline =
        n_paired + n_lost``; the pooled row is the services' total.
    """
    confidence = _check_confidence(confidence)
    people = pair(scored, scale=scale, keep="all", **_check_pair_options(pair_options))
    col = by or "group"
    if by is not None and by not in people.columns:
        raise ValueError(f"by must be one of 'service' or 'year' (or None), not {by!r}")
    rows = []
    used = ("baseline", "n_follow_up_responses", "paired")
    for lab, g in _group_frames(_narrow(people, by, used), by, pooled_label):
        has_b = g["baseline"].notna()
        n_b = int(has_b.sum())
        n_f = int((g["n_follow_up_responses"] > 0).sum())
        n_p = int(g["paired"].sum())
        n_lost = n_b - n_p
        lo, hi = wilson_ci(n_lost, n_b, confidence)
        rows.append({col: lab, "scale": scale, "n": len(g), "n_baseline": n_b,
                     "n_follow_up": n_f, "n_paired": n_p, "n_lost": n_lost,
                     "n_follow_up_only": int((~has_b).sum()),
                     "pct_lost": 100 * n_lost / n_b if n_b else np.nan,
                     "pct_lost_ci_low": 100 * float(lo), "pct_lost_ci_high": 100 * float(hi),
                     "ci_method": f"Wilson {confidence:.0%}",
                     "note": "" if n_b else "no scored baselines"})
    out = pd.DataFrame(rows)
    _disclosure(out, _attrition_spec(col, pooled_label))
    return _settings(out, scale=scale, by=by, confidence=confidence,
                     lost="scored baseline without a usable follow-up", **pair_options)


def _welch(a: np.ndarray, b: np.ndarray, confidence: float):
    """difference a-b, CI, t, df (Welch-Satterthwaite)."""
    na, nb = len(a), len(b)
    va, vb = np.var(a, ddof=1) / na, np.var(b, ddof=1) / nb
    se = math.sqrt(va + vb)
    diff = float(np.mean(a) - np.mean(b))
    if se == 0:
        return diff, np.nan, np.nan, np.nan, np.nan
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    q = _st.t.ppf(0.5 + confidence / 2, df)
    return diff, diff - q * se, diff + q * se, diff / se, df


def completer_comparison(
    scored: pd.DataFrame,
    *,
    scale: str = "SWEMWBS",
    by: str | None = "service",
    confidence: float = 0.95,
    min_n_for_tests: int = 10,
    pooled_label: str = "All services",
    **pair_options,
) -> pd.DataFrame:
    """Baseline scores of completers (with a follow-up) against non-completers.

    If the young people lost to follow-up started lower or higher, the
    change among completers may not describe the whole group.

    Parameters
    ----------
    scored : pandas.DataFrame
        Output of :func:`score`.
    scale : {"SWEMWBS", "WEMWBS"}
    by : str or None, default "service"
    confidence : float, default 0.95
    min_n_for_tests : int, default 10
        Below this many people with a baseline the p-value is NaN
        (descriptives and CI only, methods.md).
    pooled_label : str, default "All services"
    **pair_options
        Passed to :func:`pair`.

    Returns
    -------
    pandas.DataFrame
        Columns ``<by>``, ``scale``, ``n`` (people with a baseline),
        ``n_completers``, ``n_non_completers``, ``mean_completers``,
        ``sd_completers``, ``mean_non_completers``, ``sd_non_completers``,
        ``difference`` (completers minus non-completers), ``ci_low``,
        ``ci_high``, ``t``, ``df``, ``p`` (Welch), ``confidence``, ``method``,
        ``note``. ``attrs["suppress"]``: each group's mean and SD rest on its
        count, the difference and its test on both; ``n = n_completers +
        n_non_completers``; the pooled row is the services' total.
    """
    confidence = _check_confidence(confidence)
    people = pair(scored, scale=scale, keep="all", **_check_pair_options(pair_options))
    people = people[people["baseline"].notna()]
    col = by or "group"
    rows = []
    for lab, g in _group_frames(_narrow(people, by, ("baseline", "paired")), by, pooled_label):
        a = g.loc[g["paired"], "baseline"].to_numpy(float)
        b = g.loc[~g["paired"], "baseline"].to_numpy(float)
        row = {col: lab, "scale": scale, "n": len(g), "n_completers": len(a),
               "n_non_completers": len(b),
               "mean_completers": a.mean() if len(a) else np.nan,
               "sd_completers": a.std(ddof=1) if len(a) > 1 else np.nan,
               "mean_non_completers": b.mean() if len(b) else np.nan,
               "sd_non_completers": b.std(ddof=1) if len(b) > 1 else np.nan,
               "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "t": np.nan,
               "df": np.nan, "p": np.nan, "confidence": confidence,
               "method": "Welch two-sample t", "note": ""}
        if len(a) < 2 or len(b) < 2:
            row["note"] = "fewer than 2 completers or non-completers: no comparison"
            if len(a) and len(b):
                row["difference"] = row["mean_completers"] - row["mean_non_completers"]
        else:
            diff, lo, hi, t, df = _welch(a, b, confidence)
            row.update(difference=diff, ci_low=lo, ci_high=hi, t=t, df=df)
            if np.isnan(t):
                row["note"] = "no variation in baseline scores: no interval"
            elif len(g) < min_n_for_tests:
                row["note"] = f"n < {min_n_for_tests}: descriptives and CI only, no p-value"
            else:
                row["p"] = float(2 * _st.t.sf(abs(t), df))
        rows.append(row)
    out = _disclosure(pd.DataFrame(rows), _completer_spec(col, pooled_label))
    return _settings(out, scale=scale, by=by, confidence=confidence,
                     min_n_for_tests=min_n_for_tests, **pair_options)


# --------------------------------------------------------------------------
# Change statistics
# --------------------------------------------------------------------------

_CHANGE_COLUMNS = [
    "n", "mean_baseline", "sd_baseline", "mean_follow_up", "sd_follow_up", "mean_change",
    "sd_change", "se_change", "ci_low", "ci_high", "confidence", "t", "df", "p",
    "wilcoxon_w", "wilcoxon_p", "wilcoxon_zero_method", "wilcoxon_method",
    "wilcoxon_correction", "d_z", "d_z_ci_low", "d_z_ci_high", "d_av", "d_av_standardiser",
    "rank_biserial", "n_dropped", "note",
]
_D_AV = {"rms": "root mean square of baseline and follow-up SDs, sqrt((sd1^2 + sd2^2) / 2)",
         "mean": "arithmetic mean of baseline and follow-up SDs, (sd1 + sd2) / 2"}


def _nct_ci(t: float, df: float, confidence: float) -> tuple[float, float]:
    """Noncentrality parameters bounding a CI for t's noncentrality (Steiger & Fouladi)."""
    alpha = 1 - confidence

    def solve(target: float) -> float:
        def f(ncp: float) -> float:
            return _st.nct.cdf(t, df, ncp) - target
        lo, hi = t - 5, t + 5
        for _ in range(60):
            if f(lo) > 0 > f(hi):  # cdf falls as ncp rises
                return optimize.brentq(f, lo, hi, xtol=1e-12)
            lo, hi = lo - 5, hi + 5
        return np.nan

    with np.errstate(all="ignore"):
        return solve(1 - alpha / 2), solve(alpha / 2)


def _kerby(diff: np.ndarray) -> float:
    """Matched-pairs rank-biserial (Kerby 2014): (R+ - R-) / (R+ + R-), zero differences dropped."""
    d = diff[diff != 0]
    if d.size == 0:
        return np.nan
    ranks = _st.rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def paired_change(
    baseline,
    follow_up,
    *,
    confidence: float = 0.95,
    wilcoxon_zero_method: str = "wilcox",
    wilcoxon_method: str = "asymptotic",
    wilcoxon_correction: bool = False,
    min_n_for_tests: int = 10,
    d_av_standardiser: str = "rms",
) -> pd.DataFrame:
    """Pre/post change for paired scores: mean change with t-based CI, tests and effect sizes.

    Change is ``follow_up - baseline`` (positive = wellbeing rose). The
    primary test is the paired t; the Wilcoxon signed-rank test is a
    sensitivity analysis with its settings stated in the result. Two effect
    sizes are always labelled: ``d_z`` = mean change / SD of change (the
    standardised response mean; CI from the noncentral t) and ``d_av`` = mean
    change / average of the baseline and follow-up SDs (Lakens 2013; the
    average is the root mean square by default, which reproduces methods.md
    reference A, d_av = -0.5244; ``d_av_standardiser="mean"`` gives the
    arithmetic mean of the two SDs). Beside the
    Wilcoxon test, the matched-pairs rank-biserial correlation (Kerby 2014,
    zero differences dropped).

    Pairs where either score is missing are dropped (counted in
    ``n_dropped``). With fewer than ``min_n_for_tests`` pairs only
    descriptives, CIs and effect sizes are given: ``p`` and ``wilcoxon_p`` are
    NaN and ``note`` says why (methods.md).

    Parameters
    ----------
    baseline, follow_up : array-like of float
        Scores of the same people, in the same order, equal length.
    confidence : float, default 0.95
        Level of the CIs for the mean change and for d_z.
    wilcoxon_zero_method : {"wilcox", "pratt", "zsplit"}, default "wilcox"
    wilcoxon_method : {"asymptotic", "exact", "auto"}, default "asymptotic"
        SciPy's ``auto`` runs an exact test for small n with ties/zeros in
        SciPy >= 1.15, so the default is stated, not left to SciPy.
    wilcoxon_correction : bool, default False
        Continuity correction (asymptotic method only).
    min_n_for_tests : int, default 10
    d_av_standardiser : {"rms", "mean"}, default "rms"
        How the two SDs are averaged for ``d_av``: ``sqrt((sd1^2 + sd2^2)/2)``
        or ``(sd1 + sd2)/2``.

    Returns
    -------
    pandas.DataFrame
        One row with columns ``n`` (pairs used), ``mean_baseline``,
        ``sd_baseline``, ``mean_follow_up``, ``sd_follow_up``, ``mean_change``,
        ``sd_change``, ``se_change``, ``ci_low``, ``ci_high``, ``confidence``,
        ``t``, ``df``, ``p`` (paired t), ``wilcoxon_w``, ``wilcoxon_p``,
        ``wilcoxon_zero_method``, ``wilcoxon_method``, ``wilcoxon_correction``,
        ``d_z``, ``d_z_ci_low``, ``d_z_ci_high``, ``d_av``,
        ``d_av_standardiser`` (in words), ``rank_biserial``, ``n_dropped``,
        ``note``. ``attrs["suppress"]``: every statistic rests on ``n``.

    Examples
    --------
    methods.md reference B (t there is computed on pre - post):

    >>> r = paired_change([5.5, 2.4, 6.8, 9.6, 4.2], [6.4, 3.4, 6.4, 11.0, 4.8],
    ...                   min_n_for_tests=5)
    >>> round(float(r["t"].iloc[0]), 2), round(float(r["mean_change"].iloc[0]), 2)
    (2.31, 0.7)
    """
    confidence = _check_confidence(confidence)
    if wilcoxon_zero_method not in _WILCOXON_ZERO:
        raise ValueError(f"wilcoxon_zero_method must be one of {_WILCOXON_ZERO}, "
                         f"not {wilcoxon_zero_method!r}")
    if wilcoxon_method not in _WILCOXON_METHODS:
        raise ValueError(f"wilcoxon_method must be one of {_WILCOXON_METHODS}, "
                         f"not {wilcoxon_method!r}")
    if d_av_standardiser not in _D_AV:
        raise ValueError(f"d_av_standardiser must be 'rms' or 'mean', not {d_av_standardiser!r}")
    if not isinstance(min_n_for_tests, numbers.Integral) or min_n_for_tests < 2:
        raise ValueError(f"min_n_for_tests must be a whole number >= 2, not {min_n_for_tests!r}")
    try:
        b_all, f_all = _floats(baseline), _floats(follow_up)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"baseline and follow_up must be numbers: {exc}") from None
    if b_all.shape != f_all.shape:
        raise ValueError(f"baseline and follow_up must have equal length; found {b_all.size} "
                         f"and {f_all.size}")
    ok = ~np.isnan(b_all) & ~np.isnan(f_all)
    b, f = b_all[ok], f_all[ok]
    d = f - b
    n = int(d.size)
    notes = []
    if n < b_all.size:
        notes.append(f"{b_all.size - n} pair(s) with a missing score dropped")
    row = {c: np.nan for c in _CHANGE_COLUMNS}
    row.update(n=n, confidence=confidence, wilcoxon_zero_method=wilcoxon_zero_method,
               wilcoxon_method=wilcoxon_method, wilcoxon_correction=bool(wilcoxon_correction),
               n_dropped=int(b_all.size - n), d_av_standardiser=_D_AV[d_av_standardiser])
    if n == 0:
        notes.append("no pairs: nothing to estimate")
    else:
        row.update(mean_baseline=b.mean(), mean_follow_up=f.mean(), mean_change=d.mean())
        row["rank_biserial"] = _kerby(d)
    if n == 1:
        notes.append("one pair: no SD, interval or test")
    if n >= 2:
        sd_b, sd_f, sd_d = b.std(ddof=1), f.std(ddof=1), d.std(ddof=1)
        se = sd_d / math.sqrt(n)
        df = n - 1
        q = _st.t.ppf(0.5 + confidence / 2, df)
        row.update(sd_baseline=sd_b, sd_follow_up=sd_f, sd_change=sd_d, se_change=se,
                   ci_low=d.mean() - q * se, ci_high=d.mean() + q * se, df=df)
        sd_av = (math.sqrt((sd_b**2 + sd_f**2) / 2) if d_av_standardiser == "rms"
                 else (sd_b + sd_f) / 2)
        if sd_av > 0:
            row["d_av"] = d.mean() / sd_av
        if sd_d > 0:
            t = d.mean() / se
            row["t"] = t
            row["d_z"] = d.mean() / sd_d
            lo, hi = _nct_ci(t, df, confidence)
            row["d_z_ci_low"], row["d_z_ci_high"] = lo / math.sqrt(n), hi / math.sqrt(n)
            if np.isnan(lo) or np.isnan(hi):
                notes.append("noncentral-t interval for d_z not found (t too extreme)")
            if n >= min_n_for_tests:
                row["p"] = float(2 * _st.t.sf(abs(t), df))
        else:
            notes.append("every change is the same: no t-test or d_z")
        if np.any(d != 0):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    w = _st.wilcoxon(d, zero_method=wilcoxon_zero_method,
                                     method=wilcoxon_method, correction=wilcoxon_correction)
                row["wilcoxon_w"] = float(w.statistic)
                if n >= min_n_for_tests:
                    row["wilcoxon_p"] = float(w.pvalue)
            except ValueError as exc:  # e.g. exact method unavailable for these data
                notes.append(f"Wilcoxon test not computed: {exc}")
        else:
            notes.append("no non-zero change: no Wilcoxon test")
        if n < min_n_for_tests:
            notes.append(f"n < {min_n_for_tests}: descriptives and CIs only, no p-values")
    row["note"] = "; ".join(notes)
    out = pd.DataFrame([row], columns=_CHANGE_COLUMNS)
    out["n"] = out["n"].astype(np.int64)
    out["n_dropped"] = out["n_dropped"].astype(np.int64)
    _disclosure(out, {"counts": ["n", "n_dropped"], "derived": _on("n", *_PAIRED_STATS)})
    return _settings(out, change="follow_up - baseline", confidence=confidence,
                     wilcoxon_zero_method=wilcoxon_zero_method, wilcoxon_method=wilcoxon_method,
                     wilcoxon_correction=bool(wilcoxon_correction),
                     min_n_for_tests=min_n_for_tests,
                     d_z="mean change / SD of change; CI from the noncentral t",
                     d_av="mean change / " + _D_AV[d_av_standardiser],
                     rank_biserial="Kerby 2014 matched pairs, zero differences dropped")


def reliable_change_threshold(
    scale: str = "SWEMWBS",
    *,
    sd: float | None = None,
    reliability: float | None = None,
    sem: float | None = None,
    threshold: float | None = None,
    z: float = 1.96,
) -> dict:
    """The Jacobson-Truax reliable-change threshold and where it came from.

    A change is reliable when ``|change| >= z * sqrt(2) * SEM`` with
    ``SEM = SD * sqrt(1 - r)``. Precedence: an explicit ``threshold``; else an
    explicit ``sem``; else ``sd`` and ``reliability``; anything not given is
    taken from :data:`RELIABLE_CHANGE_DEFAULTS` for the scale (WEMWBS: SD 8.96,
    r 0.83 -> 10.2 points; SWEMWBS: SEM 1.03 -> 2.86 metric points).

    Parameters
    ----------
    scale : {"SWEMWBS", "WEMWBS"}
    sd, reliability, sem, threshold : float, optional
    z : float, default 1.96

    Returns
    -------
    dict
        ``scale, sd, reliability, sem, z, threshold, source`` (a sentence naming
        what was used).
    """
    _check_scale(scale)
    defaults = RELIABLE_CHANGE_DEFAULTS[scale]
    for name, v in (("sd", sd), ("sem", sem), ("threshold", threshold)):
        if v is not None and (not isinstance(v, numbers.Real) or not v > 0):
            raise ValueError(f"{name} must be a positive number, not {v!r}")
    if reliability is not None and (not isinstance(reliability, numbers.Real)
                                    or not 0 <= reliability < 1):
        raise ValueError(f"reliability must be a number from 0 to below 1, not {reliability!r}")
    if not isinstance(z, numbers.Real) or not z > 0:
        raise ValueError(f"z must be a positive number, not {z!r}")
    if threshold is not None:
        return {"scale": scale, "sd": sd, "reliability": reliability, "sem": sem, "z": z,
                "threshold": float(threshold), "source": f"threshold {threshold:g} given"}
    if sem is None and (sd is not None or reliability is not None):
        sd_used = sd if sd is not None else defaults["sd"]
        r_used = reliability if reliability is not None else defaults["reliability"]
        if sd_used is None or r_used is None:
            raise ValueError(f"for {scale} give both sd and reliability (or sem, or threshold); "
                             f"found sd={sd!r}, reliability={reliability!r}")
        sem_used = sd_used * math.sqrt(1 - r_used)
        source = (f"Jacobson-Truax: {z:g} x sqrt(2) x SEM, SEM = SD {sd_used:g} x "
                  f"sqrt(1 - r {r_used:g}) = {sem_used:.3g}")
        if sd is None or reliability is None:
            source += f" (default from {defaults['source']})"
    elif sem is None and defaults["sem"] is None:
        sd_used, r_used = defaults["sd"], defaults["reliability"]
        sem_used = sd_used * math.sqrt(1 - r_used)
        source = (f"Jacobson-Truax: {z:g} x sqrt(2) x SEM, SEM = SD {sd_used:g} x "
                  f"sqrt(1 - r {r_used:g}) = {sem_used:.3g}; default: {defaults['source']}")
    else:
        sem_used = sem if sem is not None else defaults["sem"]
        sd_used, r_used = sd, reliability
        source = (f"Jacobson-Truax: {z:g} x sqrt(2) x SEM {sem_used:g}"
                  + ("" if sem is not None else f"; default: {defaults['source']}"))
    return {"scale": scale, "sd": sd_used, "reliability": r_used, "sem": float(sem_used),
            "z": float(z), "threshold": float(z * math.sqrt(2) * sem_used), "source": source}


def regression_to_mean(cutoff: float, population_mean: float, population_sd: float,
                       retest_r: float) -> float:
    """Expected rise from regression to the mean after selecting people below a cut-off.

    Barnett, van der Pols & Dobson (2005): for people selected because their
    baseline was below ``c``, the expected change with no real effect is
    ``(1 - r) * sigma * phi(z) / Phi(z)``, ``z = (c - mu) / sigma``.

    Parameters
    ----------
    cutoff : float
        Selection cut-off ``c`` on the baseline score (selected if below it).
    population_mean, population_sd : float
        Mean ``mu`` and SD ``sigma`` of the population selected from.
    retest_r : float
        Test-retest correlation ``r``.

    Returns
    -------
    float
        Expected change from regression to the mean alone (positive = a rise).
    """
    for name, v in (("cutoff", cutoff), ("population_mean", population_mean)):
        if not isinstance(v, numbers.Real):
            raise ValueError(f"{name} must be a number, not {v!r}")
    if not isinstance(population_sd, numbers.Real) or not population_sd > 0:
        raise ValueError(f"population_sd must be a positive number, not {population_sd!r}")
    if not isinstance(retest_r, numbers.Real) or not -1 <= retest_r <= 1:
        raise ValueError(f"retest_r must be a correlation from -1 to 1, not {retest_r!r}")
    z = (cutoff - population_mean) / population_sd
    return float((1 - retest_r) * population_sd * _st.norm.pdf(z) / _st.norm.cdf(z))


def _resolve_norm(norm: str | None, scale: str) -> pd.Series | None:
    if norm == "auto":
        norm = _AUTO_NORM[scale]
    if norm is None:
        return None
    hit = NORMS[NORMS["norm"] == norm]
    if hit.empty:
        raise ValueError(f"norm must be 'auto', None or one of {NORMS['norm'].tolist()}, "
                         f"not {norm!r}")
    row = hit.iloc[0]
    if row["scale"] != scale:
        raise ValueError(f"norm {norm!r} is on the {row['scale']} scale, but scale={scale!r}; "
                         "the two instruments are never mixed")
    return row


def change_by(
    data: pd.DataFrame,
    by: str | None = "service",
    *,
    scale: str = "SWEMWBS",
    confidence: float = 0.95,
    min_n_for_tests: int = 10,
    wilcoxon_zero_method: str = "wilcox",
    wilcoxon_method: str = "asymptotic",
    wilcoxon_correction: bool = False,
    d_av_standardiser: str = "rms",
    reliable_change_sd: float | None = None,
    reliability: float | None = None,
    sem: float | None = None,
    threshold: float | None = None,
    reliable_change_z: float = 1.96,
    warwick_points: float = 3,
    norm: str | None = "auto",
    selection_cutoff: float | None = None,
    population_mean: float | None = None,
    population_sd: float | None = None,
    retest_r: float | None = None,
    pooled_label: str = "All services",
    **pair_options,
) -> pd.DataFrame:
    """Pre/post change per service (or other group) and pooled, with everything to judge it.

    For each group and for all groups pooled: :func:`paired_change`
    statistics; reliable-change categories (Jacobson-Truax: improved / no
    reliable change / deteriorated, each a count and % with a Wilson CI);
    the share changing by the Warwick "about 3 or more points" rule; the
    baseline mean against a named norm (one-sample t); and, when young people
    were selected for low scores, the change expected from regression to the
    mean alone (Barnett et al. 2005), to be reported next to the change.

    Parameters
    ----------
    data : pandas.DataFrame
        Output of :func:`score` (paired here with :func:`pair` and
        ``pair_options``) or of :func:`pair` (columns ``baseline``,
        ``follow_up``; only ``paired`` rows are used).
    by : str or None, default "service"
        Grouping column; None gives the pooled row only.
    scale : {"SWEMWBS", "WEMWBS"}, default "SWEMWBS"
        SWEMWBS metric (from either instrument) or WEMWBS total.
    confidence, min_n_for_tests, wilcoxon_zero_method, wilcoxon_method, wilcoxon_correction, d_av_standardiser
        Passed to :func:`paired_change`.
    reliable_change_sd, reliability, sem, threshold, reliable_change_z
        Passed to :func:`reliable_change_threshold` (defaults per scale:
        WEMWBS SD 8.96, r 0.83 -> 10.2; SWEMWBS SEM 1.03 -> 2.86).
    warwick_points : float, default 3
        Warwick FAQ rule: a change of at least this many points either way.
    norm : str or None, default "auto"
        A ``NORMS["norm"]`` value; "auto" = the teenage norm (Clarke 2011) for
        WEMWBS and none for SWEMWBS (domain.md gives only adult SWEMWBS norms,
        which must be named to be used); None = no norm comparison.
    selection_cutoff : float, optional
        Baseline cut-off below which young people were selected; None = not
        selected on low scores (no regression-to-the-mean estimate).
    population_mean, population_sd, retest_r : float, optional
        For the regression-to-the-mean estimate; default to the norm's mean
        and SD and, for WEMWBS, r 0.83 (Tennant 2007).
    pooled_label : str, default "All services"
    **pair_options
        Passed to :func:`pair` when ``data`` is a scored table.

    Returns
    -------
    pandas.DataFrame
        One row per group plus the pooled row (last). Columns: ``<by>``,
        ``scale``, ``instruments``, the :func:`paired_change` columns (``n``
        = young people paired), then

        - ``n_improved``, ``n_no_reliable_change``, ``n_deteriorated`` and for
          each ``pct_<category>``, ``pct_<category>_ci_low``, ``_ci_high``
          (Wilson, percent of ``n``); ``rc_sd``, ``rc_reliability``,
          ``rc_sem``, ``rc_threshold``, ``rc_source``;
        - ``n_warwick_improved``, ``n_warwick_deteriorated``,
          ``pct_warwick_improved``, ``pct_warwick_deteriorated``,
          ``warwick_points``;
        - ``norm``, ``norm_population``, ``norm_survey``, ``norm_year``,
          ``norm_mean``, ``baseline_minus_norm``, ``norm_ci_low``,
          ``norm_ci_high``, ``norm_t``, ``norm_p``;
        - ``selection_cutoff``, ``rtm_expected`` (expected change from
          regression to the mean), ``change_beyond_rtm``, ``rtm_settings``;
        - ``n_outside_validated_age`` (paired people below the validated age
          at baseline).

        For disclosure control (``attrs["suppress"]``) the change statistics,
        effect sizes and norm comparison rest on ``n`` only; each
        ``pct_<category>`` (and its CI) rests on ``n`` and ``n_<category>``;
        ``n = n_improved + n_no_reliable_change + n_deteriorated``; the
        Warwick counts and ``n_outside_validated_age`` are protected with their
        complements; ``norm_mean`` and ``rtm_expected`` (published figures)
        are kept; the pooled row is the total of the services.
    """
    _check_scale(scale)
    _check_frame(data, "data", [])
    if {"baseline", "follow_up", "paired"} <= set(data.columns):
        pairs = data[data["paired"].astype(bool)]
        if "scale" in pairs and len(pairs) and _distinct_text(pairs["scale"]) != {scale}:
            raise ValueError(f"the pairs are on the {sorted(set(pairs['scale']))} scale, "
                             f"not {scale!r}")
    else:
        pairs = pair(data, scale=scale, **_check_pair_options(pair_options))
    if by is not None and by not in pairs.columns:
        raise ValueError(f"by must be a column of the pairs (e.g. 'service', 'year'), not {by!r}")
    rc = reliable_change_threshold(scale, sd=reliable_change_sd, reliability=reliability,
                                   sem=sem, threshold=threshold, z=reliable_change_z)
    if not isinstance(warwick_points, numbers.Real) or not warwick_points > 0:
        raise ValueError(f"warwick_points must be a positive number, not {warwick_points!r}")
    norm_row = _resolve_norm(norm, scale)
    rtm = np.nan
    rtm_settings = "not selected on low scores (selection_cutoff=None)"
    if selection_cutoff is not None:
        mu = population_mean if population_mean is not None else (
            norm_row["mean"] if norm_row is not None else None)
        sigma = population_sd if population_sd is not None else (
            norm_row["sd"] if norm_row is not None and pd.notna(norm_row["sd"]) else None)
        r = retest_r if retest_r is not None else _RETEST_R[scale]
        if mu is None or sigma is None or r is None:
            raise ValueError(
                "selection_cutoff needs the population mean and SD and a test-retest r "
                f"(found mean={mu!r}, sd={sigma!r}, retest_r={r!r}); give population_mean, "
                "population_sd and retest_r, or a norm with an SD")
        rtm = regression_to_mean(selection_cutoff, float(mu), float(sigma), float(r))
        rtm_settings = (f"Barnett 2005: selected below {selection_cutoff:g}; population mean "
                        f"{float(mu):g}, SD {float(sigma):g}, test-retest r {float(r):g}")

    col = by or "group"
    rows = []
    used = ("baseline", "follow_up", "baseline_instrument", "follow_up_instrument",
            "baseline_age_valid")
    for lab, g in _group_frames(_narrow(pairs, by, used), by, pooled_label):
        base = g["baseline"].to_numpy(float)
        foll = g["follow_up"].to_numpy(float)
        pc = paired_change(base, foll, confidence=confidence,
                           wilcoxon_zero_method=wilcoxon_zero_method,
                           wilcoxon_method=wilcoxon_method,
                           wilcoxon_correction=wilcoxon_correction,
                           min_n_for_tests=min_n_for_tests,
                           d_av_standardiser=d_av_standardiser).iloc[0].to_dict()
        n = int(pc["n"])
        d = foll - base
        d = d[~np.isnan(d)]
        tol = 1e-9
        counts = {"improved": int(np.sum(d >= rc["threshold"] - tol)),
                  "deteriorated": int(np.sum(d <= -rc["threshold"] + tol))}
        counts["no_reliable_change"] = n - counts["improved"] - counts["deteriorated"]
        instruments = sorted(_distinct_text(g.get("baseline_instrument", pd.Series(dtype=str)))
                             | _distinct_text(g.get("follow_up_instrument",
                                                    pd.Series(dtype=str))))
        row = {col: lab, "scale": scale, "instruments": ", ".join(instruments), **pc}
        for cat in ("improved", "no_reliable_change", "deteriorated"):
            k = counts[cat]
            lo, hi = wilson_ci(k, n, confidence)
            row[f"n_{cat}"] = k
            row[f"pct_{cat}"] = 100 * k / n if n else np.nan
            row[f"pct_{cat}_ci_low"] = 100 * float(lo)
            row[f"pct_{cat}_ci_high"] = 100 * float(hi)
        row.update(rc_sd=rc["sd"], rc_reliability=rc["reliability"], rc_sem=rc["sem"],
                   rc_threshold=rc["threshold"], rc_source=rc["source"])
        w_up = int(np.sum(d >= warwick_points - tol))
        w_down = int(np.sum(d <= -warwick_points + tol))
        row.update(n_warwick_improved=w_up, n_warwick_deteriorated=w_down,
                   pct_warwick_improved=100 * w_up / n if n else np.nan,
                   pct_warwick_deteriorated=100 * w_down / n if n else np.nan,
                   warwick_points=warwick_points)
        row.update(_norm_columns(base[~np.isnan(base) & ~np.isnan(foll)], norm_row, confidence,
                                 min_n_for_tests))
        row.update(selection_cutoff=selection_cutoff if selection_cutoff is not None else np.nan,
                   rtm_expected=rtm,
                   change_beyond_rtm=pc["mean_change"] - rtm if not np.isnan(rtm) else np.nan,
                   rtm_settings=rtm_settings)
        valid = g["baseline_age_valid"] if "baseline_age_valid" in g else pd.Series(dtype=object)
        row["n_outside_validated_age"] = int((valid.astype("boolean") == False).sum())  # noqa: E712
        rows.append(row)
    out = pd.DataFrame(rows)
    int_cols = [c for c in out.columns if c == "n" or (c.startswith("n_"))]
    out[int_cols] = out[int_cols].astype(np.int64)
    _disclosure(out, _change_spec(col, pooled_label))
    return _settings(out, scale=scale, by=by, change="follow_up - baseline",
                     confidence=confidence, min_n_for_tests=min_n_for_tests,
                     wilcoxon_zero_method=wilcoxon_zero_method, wilcoxon_method=wilcoxon_method,
                     wilcoxon_correction=wilcoxon_correction, reliable_change=rc,
                     warwick_points=warwick_points,
                     norm=None if norm_row is None else norm_row["norm"],
                     regression_to_mean=rtm_settings, copyright=COPYRIGHT, **pair_options)


def _norm_columns(base: np.ndarray, norm_row, confidence: float, min_n: int) -> dict:
    out = {"norm": None, "norm_population": None, "norm_survey": None, "norm_year": None,
           "norm_mean": np.nan, "baseline_minus_norm": np.nan, "norm_ci_low": np.nan,
           "norm_ci_high": np.nan, "norm_t": np.nan, "norm_p": np.nan}
    if norm_row is None:
        return out
    out.update(norm=norm_row["norm"], norm_population=norm_row["population"],
               norm_survey=norm_row["survey"], norm_year=norm_row["year"],
               norm_mean=float(norm_row["mean"]))
    n = base.size
    if n == 0:
        return out
    diff = base.mean() - norm_row["mean"]
    out["baseline_minus_norm"] = diff
    if n >= 2 and base.std(ddof=1) > 0:
        se = base.std(ddof=1) / math.sqrt(n)
        q = _st.t.ppf(0.5 + confidence / 2, n - 1)
        t = diff / se
        out.update(norm_ci_low=diff - q * se, norm_ci_high=diff + q * se, norm_t=t)
        if n >= min_n:
            out["norm_p"] = float(2 * _st.t.sf(abs(t), n - 1))
    return out


# --------------------------------------------------------------------------
# Across services
# --------------------------------------------------------------------------

def _service_rows(change_table: pd.DataFrame, by: str, pooled_label: str) -> pd.DataFrame:
    _check_frame(change_table, "change_table", [by, "n", "mean_change"])
    return change_table[_labels(change_table[by]) != pooled_label].copy()


def funnel_data(
    change_table: pd.DataFrame,
    *,
    by: str = "service",
    overdispersion: str = "auto",
    winsorize: float = 0.1,
    pooled_label: str = "All services",
) -> pd.DataFrame:
    """Funnel-plot data: each service's mean change against its paired n (Spiegelhalter 2005).

    The target is the pooled mean change (all young people); each service's
    standard error uses the pooled within-service SD of change, so the 95% and
    99.8% limits narrow as n grows. Services are not ranked. When services
    vary more than chance allows, the limits are widened multiplicatively by
    ``sqrt(phi)``, with ``phi`` the mean of the squared (winsorised) z-scores.

    Parameters
    ----------
    change_table : pandas.DataFrame
        Output of :func:`change_by` (needs ``<by>``, ``n``, ``mean_change``,
        ``sd_change``); the pooled row is ignored.
    by : str, default "service"
    overdispersion : {"auto", "multiplicative", "none"}, default "auto"
        ``"auto"`` widens the limits only when ``I * phi`` exceeds the 95th
        percentile of chi-square on ``I - 1`` df (I = number of services).
    winsorize : float, default 0.1
        Share of z-scores winsorised at each end before estimating phi
        (Spiegelhalter's 10%).
    pooled_label : str, default "All services"

    Returns
    -------
    pandas.DataFrame
        One row per service with n >= 2: ``<by>``, ``n``, ``mean_change``,
        ``se``, ``z`` (unadjusted), ``target``, ``sd_within``, ``lower_95``,
        ``upper_95``, ``lower_998``, ``upper_998`` (limits at the service's
        n), ``position`` ("inside 95% limits", "between 95% and 99.8% limits
        (above/below)", "outside 99.8% limits (above/below)"), ``phi``,
        ``overdispersion_p``, ``overdispersion_applied``, ``inflation``,
        ``adjustment``, ``note``. Empty (same columns) with fewer than 2
        usable services. ``attrs["suppress"]``: a service's estimate, SE, z,
        limits and position rest on its ``n``; the services add up to a total
        published elsewhere.
    """
    if overdispersion not in ("auto", "multiplicative", "none"):
        raise ValueError(f"overdispersion must be 'auto', 'multiplicative' or 'none', "
                         f"not {overdispersion!r}")
    if not isinstance(winsorize, numbers.Real) or not 0 <= winsorize < 0.5:
        raise ValueError(f"winsorize must be a share from 0 to below 0.5, not {winsorize!r}")
    cols = [by, "n", "mean_change", "se", "z", "target", "sd_within", "lower_95", "upper_95",
            "lower_998", "upper_998", "position", "phi", "overdispersion_p",
            "overdispersion_applied", "inflation", "adjustment", "note"]
    _check_frame(change_table, "change_table", [by, "n", "mean_change", "sd_change"])
    # A service's own numbers rest on its n (se and the limits give n away); the
    # target, SD and over-dispersion pool every service. Services add up to the
    # pooled total published with change_by.
    spec = {"counts": ["n"],
            "derived": _on("n", "mean_change", "se", "z", "lower_95", "upper_95", "lower_998",
                           "upper_998", "position"),
            "groups": []}
    svc = _service_rows(change_table, by, pooled_label)
    svc = svc[(svc["n"] >= 2) & svc["sd_change"].notna() & svc["mean_change"].notna()]
    if len(svc) < 2:
        out = _disclosure(pd.DataFrame(columns=cols), spec)
        out.attrs["note"] = "fewer than 2 services with at least 2 paired young people: no funnel"
        return out
    n = svc["n"].to_numpy(float)
    m = svc["mean_change"].to_numpy(float)
    s = svc["sd_change"].to_numpy(float)
    target = float(np.sum(n * m) / np.sum(n))
    sd_within = float(math.sqrt(np.sum((n - 1) * s**2) / np.sum(n - 1)))
    se = sd_within / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (m - target) / se
    k = len(z)
    zs = np.sort(z)
    cut = int(math.floor(winsorize * k))
    zw = np.clip(z, zs[cut], zs[k - 1 - cut]) if cut > 0 else z
    phi = float(np.mean(zw**2)) if sd_within > 0 else np.nan
    p_over = float(_st.chi2.sf(k * phi, k - 1)) if not np.isnan(phi) else np.nan
    apply = overdispersion == "multiplicative" or (
        overdispersion == "auto" and not np.isnan(phi) and phi > 1 and p_over < 0.05)
    inflation = math.sqrt(phi) if apply and phi > 1 else 1.0
    z95, z998 = _st.norm.ppf(0.975), _st.norm.ppf(0.999)
    out = pd.DataFrame({by: _labels(svc[by]).to_numpy(), "n": svc["n"].astype(np.int64).to_numpy(),
                        "mean_change": m, "se": se, "z": z, "target": target,
                        "sd_within": sd_within})
    for name, q in (("95", z95), ("998", z998)):
        out[f"lower_{name}"] = target - q * inflation * se
        out[f"upper_{name}"] = target + q * inflation * se
    pos = []
    for v, l95, u95, l998, u998 in out[["mean_change", "lower_95", "upper_95", "lower_998",
                                        "upper_998"]].to_numpy():
        if l95 <= v <= u95:
            pos.append("inside 95% limits")
        elif l998 <= v <= u998:
            pos.append("between 95% and 99.8% limits (" + ("above)" if v > u95 else "below)"))
        else:
            pos.append("outside 99.8% limits (" + ("above)" if v > u998 else "below)"))
    out["position"] = pos
    out["phi"] = phi
    out["overdispersion_p"] = p_over
    out["overdispersion_applied"] = bool(apply and phi > 1)
    out["inflation"] = inflation
    out["adjustment"] = ("multiplicative over-dispersion (Spiegelhalter 2005), limits x "
                         f"sqrt(phi) = {inflation:.3g}" if inflation > 1 else "none")
    dropped = len(_service_rows(change_table, by, pooled_label)) - len(svc)
    out["note"] = f"{dropped} service(s) with fewer than 2 pairs left out" if dropped else ""
    return _settings(_disclosure(out[cols], spec), by=by, scale=_scale_of(change_table, None),
                     overdispersion=overdispersion, winsorize=winsorize,
                     target="pooled mean change (weighted by n)",
                     sd_within="pooled within-service SD of change", limits=(0.95, 0.998))


def forest_data(
    change_table: pd.DataFrame,
    *,
    by: str = "service",
    method: str = "dl",
    confidence: float = 0.95,
    pooled_label: str = "All services",
) -> pd.DataFrame:
    """Forest-plot data: each service's mean change with its CI, and pooled estimates.

    Pooling is an inverse-variance meta-analysis of the service means
    (``statsmodels.stats.meta_analysis.combine_effects``) with the
    between-service variance estimated by DerSimonian-Laird (default) or
    Paule-Mandel; the method is named in every row. statsmodels 0.15 does not
    truncate a negative DerSimonian-Laird tau² at zero; here it is truncated
    (as DerSimonian and Laird specify) and the random-effects estimate then
    equals the fixed-effect one.

    Parameters
    ----------
    change_table : pandas.DataFrame
        Output of :func:`change_by` (needs ``<by>``, ``n``, ``mean_change``,
        ``se_change``; ``ci_low``/``ci_high`` are used for the services when
        present, else normal intervals); the pooled row is ignored.
    by : str, default "service"
    method : {"dl", "pm"}, default "dl"
        DerSimonian-Laird or Paule-Mandel (statsmodels' own default is
        Paule-Mandel, so the choice is always passed explicitly).
    confidence : float, default 0.95
        Level of the pooled intervals (normal, as in combine_effects).
    pooled_label : str, default "All services"

    Returns
    -------
    pandas.DataFrame
        Services (``kind`` "service") then ``"Pooled (fixed effect)"`` and
        ``"Pooled (random effects, <method>)"`` rows. Columns ``<by>``,
        ``kind``, ``n``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``weight_fixed``, ``weight_random`` (% weights), ``method``, ``tau2``,
        ``q``, ``q_df``, ``q_p``, ``i2``, ``confidence``, ``note``.
        Empty (same columns) with fewer than 2 usable services.
        ``attrs["suppress"]``: each row's estimate, SE, CI and weights rest on
        its ``n``; the services add up to the pooled ``n``.
    """
    confidence = _check_confidence(confidence)
    if method not in _META_METHODS:
        raise ValueError(f"method must be 'dl' (DerSimonian-Laird) or 'pm' (Paule-Mandel), "
                         f"not {method!r}")
    from statsmodels.stats.meta_analysis import combine_effects

    cols = [by, "kind", "n", "estimate", "se", "ci_low", "ci_high", "weight_fixed",
            "weight_random", "method", "tau2", "q", "q_df", "q_p", "i2", "confidence", "note"]
    _check_frame(change_table, "change_table", [by, "n", "mean_change", "se_change"])
    # Each row's estimate, SE, CI and weights rest on its n (the weights give n away).
    # The service rows (kind "service") add up to the pooled rows' n; each pooled row is
    # a set of its own, so that the two pooled rows are not taken for categories.
    spec = {"counts": ["n"],
            "derived": _on("n", "estimate", "se", "ci_low", "ci_high", "weight_fixed",
                           "weight_random"),
            "groups": [["kind"]]}
    svc = _service_rows(change_table, by, pooled_label)
    se = svc["se_change"].astype(float)
    svc = svc[se.notna() & (se > 0) & svc["mean_change"].notna()]
    method_name = _META_METHODS[method][1]
    if len(svc) < 2:
        out = _disclosure(pd.DataFrame(columns=cols), spec)
        out.attrs["note"] = "fewer than 2 services with a standard error: no pooled estimate"
        return out
    eff = svc["mean_change"].to_numpy(float)
    var = svc["se_change"].to_numpy(float) ** 2
    labels = _labels(svc[by]).tolist()
    res = combine_effects(eff, var, method_re=_META_METHODS[method][0], alpha=1 - confidence,
                          row_names=labels)
    tau2 = float(res.tau2)
    note = ""
    if tau2 < 0:
        note = (f"statsmodels returned tau2 = {tau2:.4g}; truncated at 0, so the random-effects "
                "estimate equals the fixed-effect one")
        tau2 = 0.0
    w_fe = 1 / var
    w_re = 1 / (var + tau2)
    re_mean = float(np.sum(w_re * eff) / np.sum(w_re))
    re_se = float(math.sqrt(1 / np.sum(w_re)))
    fe_mean, fe_se = float(res.mean_effect_fe), float(math.sqrt(res.var_eff_w_fe))
    zq = _st.norm.ppf(0.5 + confidence / 2)
    k = len(eff)
    q = float(res.q)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    if "ci_low" in svc and "ci_high" in svc and svc[["ci_low", "ci_high"]].notna().all().all():
        lo, hi = svc["ci_low"].to_numpy(float), svc["ci_high"].to_numpy(float)
        svc_note = "t-based CI from the service's paired change"
    else:
        lo, hi = eff - zq * np.sqrt(var), eff + zq * np.sqrt(var)
        svc_note = "normal CI"
    n_total = int(svc["n"].sum())
    rows = pd.DataFrame({by: labels, "kind": "service", "n": svc["n"].astype(np.int64).to_numpy(),
                         "estimate": eff, "se": np.sqrt(var), "ci_low": lo, "ci_high": hi,
                         "weight_fixed": 100 * w_fe / w_fe.sum(),
                         "weight_random": 100 * w_re / w_re.sum(), "note": svc_note})
    pooled = pd.DataFrame({
        by: ["Pooled (fixed effect)", f"Pooled (random effects, {method_name})"],
        "kind": ["pooled (fixed effect)", "pooled (random effects)"],
        "n": [n_total, n_total], "estimate": [fe_mean, re_mean], "se": [fe_se, re_se],
        "ci_low": [fe_mean - zq * fe_se, re_mean - zq * re_se],
        "ci_high": [fe_mean + zq * fe_se, re_mean + zq * re_se],
        "weight_fixed": [100.0, np.nan], "weight_random": [np.nan, 100.0],
        "note": ["inverse-variance, normal CI", f"{method_name}; normal CI" + (
            f"; {note}" if note else "")]})
    out = pd.concat([rows, pooled], ignore_index=True)
    out["method"] = f"{method_name} random effects (statsmodels combine_effects)"
    out["tau2"] = tau2
    out["q"] = q
    out["q_df"] = k - 1
    out["q_p"] = float(_st.chi2.sf(q, k - 1))
    out["i2"] = i2
    out["confidence"] = confidence
    out["n"] = out["n"].astype(np.int64)
    return _settings(_disclosure(out[cols], spec), by=by, scale=_scale_of(change_table, None),
                     method=method_name, confidence=confidence,
                     tau2_raw=float(res.tau2))


def shrunken_estimates(
    pairs: pd.DataFrame,
    by: str = "service",
    *,
    value: str = "change",
    optimisers: Sequence[str] = ("lbfgs", "powell"),
    confidence: float = 0.95,
    pooled_label: str = "All services",
) -> pd.DataFrame:
    """Partially pooled (shrunken) service estimates from a random-intercept model.

    Fits ``change ~ 1 + (1 | service)`` by REML with statsmodels ``MixedLM``.
    Each service's estimate is the intercept plus its predicted random effect
    (BLUP): small services are pulled towards the pooled mean. statsmodels
    reports Wald **z** statistics, not t (no Kenward-Roger correction), so
    intervals are normal and optimistic with few services.

    Guard for statsmodels issue #10239 (``lbfgs`` can report convergence
    with a wrong intercept when the service variance is near 0): the model is
    fitted with each optimiser in ``optimisers``, the fit with the highest
    REML log-likelihood is kept and all are recorded. When the service
    variance is ~0 the note says so (all services then shrink to the pooled
    mean).

    Parameters
    ----------
    pairs : pandas.DataFrame
        Output of :func:`pair` (columns ``<by>`` and ``value``).
    by : str, default "service"
    value : str, default "change"
    optimisers : sequence of str, default ("lbfgs", "powell")
        statsmodels fit methods to try.
    confidence : float, default 0.95
    pooled_label : str, default "All services"

    Returns
    -------
    pandas.DataFrame
        Services (``kind`` "service") and a pooled row (``kind`` "pooled
        (model intercept)"). Columns ``<by>``, ``kind``, ``n``,
        ``mean_change`` (raw), ``estimate`` (shrunken mean or intercept),
        ``random_effect``, ``shrinkage`` (weight on the service's own mean,
        tau² / (tau² + sigma²/n)), ``se``, ``z``, ``p``, ``ci_low``, ``ci_high``
        (pooled row only), ``group_var``, ``residual_var``, ``llf``,
        ``optimiser``, ``optimisers_compared``, ``method``, ``note``.
        With fewer than 2 services or 3 people: raw means only, a note, NaN
        estimates. ``attrs["suppress"]``: each row's estimates rest on its
        ``n``; the services add up to the pooled row.
    """
    confidence = _check_confidence(confidence)
    _check_frame(pairs, "pairs", [by, value])
    if isinstance(optimisers, str) or not len(optimisers):
        raise ValueError(f"optimisers must be a non-empty sequence of statsmodels fit methods, "
                         f"not {optimisers!r}")
    from statsmodels.regression.mixed_linear_model import MixedLM

    df = pd.DataFrame({"g": _labels(pairs[by]).to_numpy(), "y": _floats(pairs[value])})
    df = df[df["y"].notna()].sort_values("g", kind="stable")
    groups = sorted(df["g"].unique())
    cols = [by, "kind", "n", "mean_change", "estimate", "random_effect", "shrinkage", "se", "z",
            "p", "ci_low", "ci_high", "group_var", "residual_var", "llf", "optimiser",
            "optimisers_compared", "method", "note"]
    method_text = ("REML random-intercept model (statsmodels MixedLM); Wald z, not t "
                   "(no Kenward-Roger)")
    # Each row's estimates rest on its n (the shrinkage gives n away); the services add
    # up to the pooled row (variance components and llf pool every service).
    spec = {"counts": ["n"],
            "derived": _on("n", "mean_change", "estimate", "random_effect", "shrinkage", "se",
                           "z", "p", "ci_low", "ci_high"),
            "groups": [], "total": {"kind": "pooled (model intercept)"}}
    base = pd.DataFrame({by: groups, "kind": "service",
                         "n": [int((df["g"] == g).sum()) for g in groups],
                         "mean_change": [df.loc[df["g"] == g, "y"].mean() for g in groups]})
    if len(groups) < 2 or len(df) < 3 or df["y"].nunique() < 2:
        out = base.reindex(columns=cols)
        out["kind"] = "service"
        out["method"] = method_text
        out["note"] = ("fewer than 2 services, 3 young people or distinct changes: "
                       "no model fitted")
        out.attrs["note"] = out["note"].iloc[0] if len(out) else (
            "no paired young people: no model fitted")
        return _disclosure(out, spec)

    fits = {}
    for opt in optimisers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = MixedLM(df["y"].to_numpy(), np.ones((len(df), 1)),
                            groups=df["g"].to_numpy()).fit(reml=True, method=opt)
            if np.isfinite(r.llf):
                fits[opt] = r
        except Exception as exc:  # noqa: BLE001 - any optimiser failure is recorded, not raised
            fits[opt] = exc
    good = {k: v for k, v in fits.items() if not isinstance(v, Exception)}
    compared = "; ".join(f"{k}: llf {v.llf:.4f}, intercept {float(v.fe_params[0]):.4g}"
                         if not isinstance(v, Exception) else f"{k}: failed ({v})"
                         for k, v in fits.items())
    if not good:
        out = base.reindex(columns=cols)
        out["method"] = method_text
        out["optimisers_compared"] = compared
        out["note"] = "every optimiser failed: no model estimates"
        return _disclosure(out, spec)
    best_name = max(good, key=lambda k: good[k].llf)
    best = good[best_name]
    mu = float(best.fe_params[0])
    tau2 = max(float(np.asarray(best.cov_re)[0, 0]), 0.0)
    sigma2 = float(best.scale)
    n_g = base["n"].to_numpy(float)
    shrink = tau2 / (tau2 + sigma2 / n_g)
    re = np.array([float(np.asarray(best.random_effects[g])[0]) for g in groups])
    se_mu = float(math.sqrt(1 / np.sum(n_g / (sigma2 + n_g * tau2))))
    z = mu / se_mu
    zq = _st.norm.ppf(0.5 + confidence / 2)
    note = ""
    if tau2 < 1e-6 * sigma2:
        note = ("between-service variance ~0: every service is shrunk to the pooled mean "
                "(services differ no more than chance)")
    lls = [v.llf for v in good.values()]
    if max(lls) - min(lls) > 1e-3:
        note = "; ".join(filter(None, [note, f"optimisers disagreed; kept {best_name} "
                                             "(highest log-likelihood)"]))
    out = base.copy()
    out["estimate"] = mu + re
    out["random_effect"] = re
    out["shrinkage"] = shrink
    pooled = pd.DataFrame({by: [pooled_label], "kind": ["pooled (model intercept)"],
                           "n": [len(df)], "mean_change": [df["y"].mean()], "estimate": [mu],
                           "se": [se_mu], "z": [z], "p": [float(2 * _st.norm.sf(abs(z)))],
                           "ci_low": [mu - zq * se_mu], "ci_high": [mu + zq * se_mu]})
    out = pd.concat([out, pooled], ignore_index=True).reindex(columns=cols)
    out["group_var"] = tau2
    out["residual_var"] = sigma2
    out["llf"] = float(best.llf)
    out["optimiser"] = best_name
    out["optimisers_compared"] = compared
    out["method"] = method_text
    out["note"] = note
    out["n"] = out["n"].astype(np.int64)
    _disclosure(out, spec)
    return _settings(out, by=by, value=value, optimisers=tuple(optimisers),
                     confidence=confidence, reml=True,
                     intercept_se="GLS formula given the REML variance components")


def kruskal_dunn(
    pairs: pd.DataFrame,
    by: str = "service",
    *,
    value: str = "change",
    adjust: str = "holm",
) -> pd.DataFrame:
    """Kruskal-Wallis across services with Dunn's pairwise tests: a secondary, descriptive table.

    Dunn's z for groups i and j is ``(mean rank_i - mean rank_j) / sqrt(v *
    (1/n_i + 1/n_j))`` with the tie-corrected ``v = N(N+1)/12 -
    sum(t^3 - t) / (12 (N - 1))``; p-values are two-sided normal and adjusted
    explicitly (``holm`` or ``fdr_bh`` via :func:`changing_tracks.stats.adjust_p`).
    Not a ranking of services.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Output of :func:`pair` (columns ``<by>`` and ``value``).
    by : str, default "service"
    value : str, default "change"
    adjust : {"holm", "fdr_bh"}, default "holm"

    Returns
    -------
    pandas.DataFrame
        First row ``test`` "Kruskal-Wallis" (``statistic`` = tie-corrected H,
        ``df``, ``p``), then one "Dunn" row per pair of services. Columns
        ``test``, ``group_a``, ``group_b``, ``n``, ``n_a``, ``n_b``,
        ``mean_rank_a``, ``mean_rank_b``, ``statistic`` (H or z, z signed as
        a minus b), ``df``, ``p``, ``p_adjusted``, ``adjustment``, ``note``.
        Empty (same columns) with fewer than 2 services.
        ``attrs["suppress"]``: the group sizes ``n_a`` and ``n_b`` are the
        counts; ``n``, the mean ranks and the tests are hidden with them.
    """
    if adjust not in ("holm", "fdr_bh"):
        raise ValueError(f"adjust must be 'holm' or 'fdr_bh', not {adjust!r}")
    _check_frame(pairs, "pairs", [by, value])
    cols = ["test", "group_a", "group_b", "n", "n_a", "n_b", "mean_rank_a", "mean_rank_b",
            "statistic", "df", "p", "p_adjusted", "adjustment", "note"]
    # A service's size recurs in every Dunn row that names it: the sizes n_a and n_b are
    # the counts (a small one is hidden wherever it appears); n = n_a + n_b and each
    # row's ranks and tests are hidden with them, never another service's size.
    spec = {"counts": ["n_a", "n_b"],
            "derived": {"n": ["n_a", "n_b"], "mean_rank_a": "n_a", "mean_rank_b": "n_b",
                        **_on(["n_a", "n_b"], "statistic", "p", "p_adjusted")}}
    df = pd.DataFrame({"g": _labels(pairs[by]).to_numpy(), "y": _floats(pairs[value])})
    df = df[df["y"].notna()]
    groups = sorted(df["g"].unique())
    if len(groups) < 2:
        out = _disclosure(pd.DataFrame(columns=cols), spec)
        out.attrs["note"] = "fewer than 2 services with a change score: no comparison"
        return out
    N = len(df)
    ranks = _st.rankdata(df["y"].to_numpy())
    _, tie_counts = np.unique(df["y"].to_numpy(), return_counts=True)
    tie_sum = float(np.sum(tie_counts**3 - tie_counts))
    mean_rank = {g: float(ranks[df["g"].to_numpy() == g].mean()) for g in groups}
    n_g = {g: int((df["g"] == g).sum()) for g in groups}
    kw = {"test": "Kruskal-Wallis", "group_a": "all services", "group_b": None, "n": N,
          "n_a": N, "n_b": 0, "mean_rank_a": np.nan, "mean_rank_b": np.nan,
          "statistic": np.nan, "df": len(groups) - 1, "p": np.nan, "p_adjusted": np.nan,
          "adjustment": "none (single test)", "note": ""}
    if tie_sum == N**3 - N:
        kw["note"] = "every change is the same: no test"
        dunn_ok = False
    else:
        h, p = _st.kruskal(*[df.loc[df["g"] == g, "y"].to_numpy() for g in groups])
        kw.update(statistic=float(h), p=float(p))
        dunn_ok = True
    rows = [kw]
    var = N * (N + 1) / 12 - tie_sum / (12 * (N - 1)) if N > 1 else np.nan
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            row = {"test": "Dunn", "group_a": a, "group_b": b, "n": n_g[a] + n_g[b],
                   "n_a": n_g[a], "n_b": n_g[b], "mean_rank_a": mean_rank[a],
                   "mean_rank_b": mean_rank[b], "statistic": np.nan, "df": np.nan,
                   "p": np.nan, "p_adjusted": np.nan, "adjustment": adjust, "note": ""}
            if dunn_ok:
                z = (mean_rank[a] - mean_rank[b]) / math.sqrt(var * (1 / n_g[a] + 1 / n_g[b]))
                row.update(statistic=z, p=float(2 * _st.norm.sf(abs(z))))
            rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    dunn = out["test"] == "Dunn"
    out.loc[dunn, "p_adjusted"] = adjust_p(out.loc[dunn, "p"].to_numpy(float), method=adjust)
    out[["n", "n_a", "n_b"]] = out[["n", "n_a", "n_b"]].astype(np.int64)
    return _settings(_disclosure(out, spec), by=by, value=value, adjust=adjust,
                     purpose="secondary, descriptive; not a ranking of services")


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

def _caption(fig: Figure, copyright_note: bool) -> None:
    """Put :data:`COPYRIGHT` at the foot of ``fig``, wrapped to the figure's width.

    Placed as the figure's x label (``fig.supxlabel``), so that constrained layout keeps it
    clear of the axes however many lines it wraps to; setting another figure x label
    would replace it.
    """
    if copyright_note:
        fig.supxlabel(COPYRIGHT, x=0.01, ha="left", fontsize=6, color="0.35", wrap=True)


def _scale_of(table: pd.DataFrame, default: str | None = "SWEMWBS") -> str | None:
    if "scale" in table and len(table) and table["scale"].notna().any():
        return str(table["scale"].dropna().iloc[0])
    return table.attrs.get("settings", {}).get("scale", default)


def paired_plot(
    pairs: pd.DataFrame,
    by: str = "service",
    *,
    show_individuals: bool = True,
    ncols: int = 4,
    copyright_note: bool = True,
) -> Figure:
    """Baseline to follow-up score per service: one panel each, the mean with its 95% CI.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Output of :func:`pair` (``<by>``, ``baseline``, ``follow_up``, ``scale``).
    by : str, default "service"
    show_individuals : bool, default True
        Draw a faint line for each young person (internal use; switch off for
        publication where small services could identify people).
    ncols : int, default 4
    copyright_note : bool, default True
        Put :data:`COPYRIGHT` at the foot of the figure, as its x label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_frame(pairs, "pairs", [by, "baseline", "follow_up"])
    p = pairs[pairs["baseline"].notna() & pairs["follow_up"].notna()]
    scale = _scale_of(pairs)
    groups = sorted(_labels(p[by]).unique()) if len(p) else []
    k = max(len(groups), 1)
    ncols = max(1, min(ncols, k))
    nrows = math.ceil(k / ncols)
    # one panel gets room for its title and the figure's; titles wrap at the figure's edge
    # (not the panel's), which keeps a one-panel figure's long title within it
    fig = Figure(figsize=(max(2.6 * ncols + 0.5, 4.8), 2.6 * nrows + 0.9),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    if not groups:
        axes[0].text(0.5, 0.5, "No young people with both a baseline and a follow-up score",
                     ha="center", va="center", wrap=True, transform=axes[0].transAxes)
        axes[0].set_axis_off()
    labels = _labels(p[by]) if len(p) else pd.Series([], dtype=str)
    for ax, g in zip(axes, groups):
        sub = p[labels.to_numpy() == g]
        b, f = sub["baseline"].to_numpy(float), sub["follow_up"].to_numpy(float)
        if show_individuals:
            for bi, fi in zip(b, f):
                ax.plot([0, 1], [bi, fi], color="0.75", lw=0.8, zorder=1)
        for x, vals in ((0, b), (1, f)):
            mean = vals.mean()
            half = (_st.t.ppf(0.975, len(vals) - 1) * vals.std(ddof=1) / math.sqrt(len(vals))
                    if len(vals) > 1 else 0.0)
            ax.errorbar([x], [mean], yerr=[half], fmt="o", color="C0", capsize=3, zorder=3)
        ax.plot([0, 1], [b.mean(), f.mean()], color="C0", lw=2, zorder=2)
        ax.set_xticks([0, 1], ["Baseline", "Follow-up"])
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(f"{g} ({len(sub)} young people)", fontsize=9, wrap=True)
    for ax in axes[len(groups):] if groups else axes[1:]:
        ax.set_axis_off()
    for ax in axes[::ncols]:
        ax.set_ylabel(_SCALE_LABEL.get(scale, scale))
    fig.suptitle("Wellbeing at the start and end of the project, by service "
                 "(mean and 95% confidence interval)", wrap=True)
    _caption(fig, copyright_note)
    return fig


def change_distribution_plot(
    pairs: pd.DataFrame,
    *,
    threshold: float | None = None,
    scale: str | None = None,
    copyright_note: bool = True,
) -> Figure:
    """Histogram of individual change with the reliable-change band shaded.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Output of :func:`pair` (``change``).
    threshold : float, optional
        Reliable-change threshold; default from
        :func:`reliable_change_threshold` for the scale.
    scale : {"SWEMWBS", "WEMWBS"}, optional
        Default: the ``scale`` column of ``pairs``.
    copyright_note : bool, default True

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_frame(pairs, "pairs", ["change"])
    scale = _check_scale(scale or _scale_of(pairs))
    thr = threshold if threshold is not None else reliable_change_threshold(scale)["threshold"]
    d = _floats(pairs["change"])
    d = d[~np.isnan(d)]
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.axvspan(-thr, thr, color="0.9", zorder=0,
               label=f"No reliable change (less than {thr:.1f} points either way)")
    if d.size:
        lo, hi = min(d.min(), -thr) - 1, max(d.max(), thr) + 1
        bins = np.linspace(lo, hi, min(40, max(8, int(hi - lo) + 1)))
        ax.hist(d, bins=bins, color="C0", edgecolor="white", zorder=2)
    else:
        ax.text(0.5, 0.5, "No young people with both a baseline and a follow-up score",
                ha="center", va="center", transform=ax.transAxes)
    ax.axvline(0, color="0.3", lw=1)
    ax.set_xlabel(f"Change in {_SCALE_LABEL[scale]} (follow-up minus baseline)")
    ax.set_ylabel("Number of young people")
    ax.set_title("How much individual young people's wellbeing changed")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    _caption(fig, copyright_note)
    return fig


def funnel_plot(funnel_table: pd.DataFrame, *, by: str = "service",
                scale: str | None = None, copyright_note: bool = True) -> Figure:
    """Funnel plot of service mean change against the number of young people paired.

    Parameters
    ----------
    funnel_table : pandas.DataFrame
        Output of :func:`funnel_data`.
    by : str, default "service"
    scale : {"SWEMWBS", "WEMWBS"}, optional
        Only used for the axis label.
    copyright_note : bool, default True

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_frame(funnel_table, "funnel_table", [by, "n", "mean_change"])
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    scale = scale or funnel_table.attrs.get("settings", {}).get("scale")
    label = _SCALE_LABEL.get(scale, "wellbeing score") if scale else "wellbeing score"
    if funnel_table.empty:
        ax.text(0.5, 0.5, funnel_table.attrs.get("note", "Not enough services for a funnel plot"),
                ha="center", va="center", transform=ax.transAxes, wrap=True)
        ax.set_axis_off()
    else:
        t = funnel_table
        target, sdw, infl = float(t["target"].iloc[0]), float(t["sd_within"].iloc[0]), float(
            t["inflation"].iloc[0])
        grid = np.linspace(max(2, t["n"].min() * 0.8), t["n"].max() * 1.2, 200)
        for q, style, name in ((_st.norm.ppf(0.975), "--", "95% limits"),
                               (_st.norm.ppf(0.999), ":", "99.8% limits")):
            half = q * infl * sdw / np.sqrt(grid)
            ax.plot(grid, target + half, style, color="0.3", label=name)
            ax.plot(grid, target - half, style, color="0.3")
        ax.axhline(target, color="0.3", lw=1, label=f"All services: {target:.2f}")
        ax.scatter(t["n"], t["mean_change"], color="C0", zorder=3)
        for _, r in t.iterrows():
            ax.annotate(str(r[by]), (r["n"], r["mean_change"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("Number of young people with both scores")
        ax.set_ylabel(f"Mean change in {label}")
        adj = str(t["adjustment"].iloc[0])
        ax.legend(fontsize=8, frameon=False, title=None if adj == "none" else
                  "limits widened for over-dispersion", title_fontsize=7)
    fig.suptitle("Mean change in wellbeing by service, against number of young people",
                 wrap=True)
    _caption(fig, copyright_note)
    return fig


def forest_plot(forest_table: pd.DataFrame, *, by: str = "service",
                scale: str | None = None, copyright_note: bool = True) -> Figure:
    """Forest plot of each service's mean change with its CI and the pooled estimates.

    Parameters
    ----------
    forest_table : pandas.DataFrame
        Output of :func:`forest_data`.
    by : str, default "service"
    scale : {"SWEMWBS", "WEMWBS"}, optional
        Only used for the axis label.
    copyright_note : bool, default True

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_frame(forest_table, "forest_table", [by, "kind", "estimate", "ci_low", "ci_high"])
    t = forest_table
    fig = Figure(figsize=(8, 1.6 + 0.35 * max(len(t), 2)), layout="constrained")
    ax = fig.subplots()
    scale = scale or t.attrs.get("settings", {}).get("scale")
    label = _SCALE_LABEL.get(scale, "wellbeing score") if scale else "wellbeing score"
    if t.empty:
        ax.text(0.5, 0.5, t.attrs.get("note", "Not enough services for a forest plot"),
                ha="center", va="center", transform=ax.transAxes, wrap=True)
        ax.set_axis_off()
    else:
        y = np.arange(len(t))[::-1]
        pooled = t["kind"].astype(str).str.startswith("pooled").to_numpy()
        est, lo, hi = (t[c].to_numpy(float) for c in ("estimate", "ci_low", "ci_high"))
        ax.errorbar(est[~pooled], y[~pooled], xerr=[est[~pooled] - lo[~pooled],
                                                     hi[~pooled] - est[~pooled]],
                    fmt="s", color="C0", capsize=2)
        ax.errorbar(est[pooled], y[pooled], xerr=[est[pooled] - lo[pooled],
                                                 hi[pooled] - est[pooled]],
                    fmt="D", color="C3", capsize=2)
        names = [f"{s} (n={n})" if k == "service" else str(s)
                 for s, n, k in zip(t[by], t["n"], t["kind"])]
        ax.set_yticks(y, names, fontsize=8)
        ax.axvline(0, color="0.3", lw=1)
        ax.set_xlabel(f"Mean change in {label}\n(follow-up minus baseline, with 95% "
                      "confidence interval)")
    fig.suptitle("Change in wellbeing by service, with the pooled estimate", wrap=True)
    _caption(fig, copyright_note)
    return fig
