"""Participation and reach: who takes part, who stays, who progresses, against the population.

This module is the evidence for two HEARD principles: *Equitable* (those facing the
biggest barriers get most support) and *Representative* (participants reflect the
local population). See ``../shared/reference/domain.md`` §5 and ``methods.md``
("Representation").

It works on the ``participants`` (one row per participant and programme year),
``attendance`` (the registers: one row per participant and session offered),
``services`` and ``benchmarks`` tables of :mod:`changing_tracks.contracts`:

* :func:`reach` -- participants, new and continuing participants, sessions delivered;
* :func:`representation` -- participant shares with confidence intervals against the
  local-authority population shares, representation ratios and goodness-of-fit tests;
* :func:`register_problems`, :func:`attendance_rates`, :func:`attendance_summary` --
  attendance from the registers, refused when the registers contradict the participants
  table;
* :func:`retention`, :func:`progression` -- completed vs withdrew, and progression into
  regular provision;
* :func:`equity_gaps` -- do priority groups attend, stay and progress as much as their peers;
* :func:`plot_representation`, :func:`plot_attendance`, :func:`plot_equity_gaps`.

Every published table is a tidy table of counts: an integer ``n`` (distinct people the
row describes) and ``n_*`` count columns, so that :mod:`changing_tracks.disclosure` can
suppress small numbers. ``DataFrame.attrs["suppress"]`` holds the keyword arguments
that declare the table to :func:`changing_tracks.disclosure.suppress` (the counts, which
statistic rests on which counts, which counts add up to which, the pooled row as the
total of the services, activities and settings as categories of their service), which
:meth:`changing_tracks.reports.Report.publish` applies by default, or call
``suppress(table, policy, **table.attrs["suppress"])``; ``attrs["settings"]`` records the
choices made.
Participant ids are used only to link tables and never appear in a summary.

All computations are vectorised (group ids and ``numpy.bincount``), so that they run on
millions of participants and tens of millions of register rows; the register is never
merged with the participants table, it is linked to it by integer row positions.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator, PercentFormatter
from scipy import stats as _st

from . import contracts
from ._arrow_text import text_codes
from .stats import clopper_pearson_ci, wilson_ci

__all__ = [
    "POOLED",
    "PRIORITY_GROUPS",
    "REGULAR_PROVISION",
    "reach",
    "representation",
    "register_problems",
    "attendance_rates",
    "attendance_summary",
    "retention",
    "progression",
    "equity_gaps",
    "newcombe_ci",
    "welch_ci",
    "plot_representation",
    "plot_attendance",
    "plot_equity_gaps",
]

#: Label of the rows that pool every service.
POOLED = "All services"

#: Priority groups compared with their peers by :func:`equity_gaps` (participants columns;
#: ``"sen"`` means SEN support or an EHC plan).
PRIORITY_GROUPS: tuple[str, ...] = ("fsm", "sen", "looked_after", "young_carer")

#: Progression routes that count as regular music-service provision.
REGULAR_PROVISION: tuple[str, ...] = tuple(r for r in contracts.PROGRESSION_ROUTES if r != "none")

_GROUP_LABELS = {
    "fsm": "FSM / Pupil Premium",
    "sen": "SEN (support or EHC plan)",
    "looked_after": "Looked after",
    "young_carer": "Young carer",
    "eal": "EAL",
}
_CHARACTERISTIC_LABELS = {
    "fsm": "FSM / Pupil Premium",
    "sen_support": "SEN support",
    "ehc_plan": "EHC plan",
    "looked_after": "Looked after",
    "young_carer": "Young carer",
    "eal": "EAL",
    "sex_female": "Female",
    "sex_male": "Male",
    **{f"ethnicity_{g}": f"Ethnicity: {g}" for g in contracts.ETHNICITY_GROUPS},
}
_MEASURES = ("attendance", "retention", "progression")
_BY_ALLOWED = ("service", "year", "activity", "setting")
_SETTING_PHASE = {
    "primary school": "primary",
    "secondary school": "secondary",
    "special school": "special",
}
_PHASE_CODES = ("primary", "secondary", "special")
_ETHNICITY = tuple(f"ethnicity_{g}" for g in contracts.ETHNICITY_GROUPS)
_ORDER: dict[str, tuple[str, ...]] = {
    "activity": contracts.ACTIVITY_TYPES,
    "setting": contracts.SETTINGS,
    "characteristic": tuple(contracts.CHARACTERISTICS),
    "measure": _MEASURES,
    "severity": ("error", "warning"),
}
_KEY_FACTOR = 10_000  # participant code * _KEY_FACTOR + programme start year


# --------------------------------------------------------------------------
# Argument checks and column helpers
# --------------------------------------------------------------------------


def _require(frame: object, columns: Sequence[str], name: str) -> pd.DataFrame:
    """Check ``frame`` is a DataFrame with ``columns``; ValueError saying what is missing."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} needs the column(s) {missing}; found {[str(c) for c in frame.columns]}"
        )
    return frame


def _check_by(by: str | Sequence[str], allowed: Sequence[str] = _BY_ALLOWED) -> list[str]:
    cols = [by] if isinstance(by, str) else list(by)
    bad = [b for b in cols if b not in allowed]
    if not cols or bad or len(set(cols)) != len(cols):
        raise ValueError(
            f"by must be one or more distinct columns from {list(allowed)}; got {cols!r}"
        )
    return cols


def _check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number between 0 and 1, not {confidence!r}")
    return float(confidence)


def _ci_function(ci_method: str):
    if ci_method == "wilson":
        return wilson_ci
    if ci_method == "clopper-pearson":
        return clopper_pearson_ci
    raise ValueError(f"ci_method must be 'wilson' or 'clopper-pearson', not {ci_method!r}")


def _eq(series: pd.Series, value: object) -> np.ndarray:
    """Boolean array: the value equals ``value`` (missing counts as not equal)."""
    res = series == value
    return np.asarray(res.to_numpy(dtype=bool, na_value=False), dtype=bool)


def _isin(series: pd.Series, values: Sequence[object]) -> np.ndarray:
    return np.asarray(series.isin(list(values)).to_numpy(dtype=bool, na_value=False), dtype=bool)


def _known(series: pd.Series) -> np.ndarray:
    return ~np.asarray(series.isna().to_numpy(), dtype=bool)


def _as_boolean(series: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(value is True, value is recorded) for a yes/no column."""
    try:
        s = series.astype("boolean")
    except (TypeError, ValueError) as exc:
        examples = list(pd.unique(series.dropna()))[:5]
        raise ValueError(
            f"column {name!r} should hold yes/no values (True/False, missing = not recorded); "
            f"found values such as {examples}"
        ) from exc
    known = ~np.asarray(s.isna().to_numpy(), dtype=bool)
    return np.asarray(s.to_numpy(dtype=bool, na_value=False), dtype=bool), known


def _check_values(series: pd.Series, allowed: Sequence[str], name: str) -> None:
    values = _distinct_values(series)  # the few distinct values, then without the missing one
    bad = [v for v in values if not _missing(v) and v not in allowed]
    if bad:
        raise ValueError(
            f"column {name!r} must hold one of {list(allowed)} (or be missing); found {bad[:5]}"
        )


def _distinct_values(series: pd.Series) -> list:
    """``pd.unique(series)`` as a list (first appearance; a missing value as None for Arrow
    text): Arrow's own unique for Arrow text, which makes no codes for millions of rows."""
    arr = series.array
    data = getattr(arr, "_pa_array", None)
    if isinstance(arr, pd.arrays.ArrowStringArray) and data is not None:
        return data.unique().to_pylist()
    return list(pd.unique(series))


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and value != value)


def _years(series: pd.Series, dtype: str = "string") -> tuple[pd.Series, np.ndarray]:
    """Canonical programme years ("2019-20") and their start years, via the distinct values.
    Years already canonical in text of the wanted type (as loaded) are kept as they are,
    not rebuilt row by row."""
    codes, uniques, canon = _year_codes(series)
    start = np.array([int(c[:4]) for c in canon], dtype=np.int64)
    wanted = pd.array(canon, dtype=dtype)
    if canon == list(uniques) and series.dtype == wanted.dtype \
            and type(series.array) is type(wanted):
        values = series.array  # the same texts: nothing to rebuild
    else:  # spread the few distinct years with take: no Python string per row
        values = wanted.take(codes)
    years = pd.Series(values, index=series.index, name="year", copy=False)
    return years, start[codes]


def _start_years(series: pd.Series) -> np.ndarray:
    """Start year of each row's programme year (checked as :func:`_years` checks them)."""
    codes, _, canon = _year_codes(series)
    return np.array([int(c[:4]) for c in canon], dtype=np.int64)[codes]


def _year_codes(series: pd.Series) -> tuple[np.ndarray, list, list[str]]:
    """Codes of the distinct years, the years as written and as canonical programme years;
    ValueError for a missing or unreadable year."""
    codes, uniques = _factorize(series)
    if (codes < 0).any():
        raise ValueError("participants has rows with no programme year (column 'year')")
    canon = [contracts.programme_year(u) for u in uniques]
    bad = [u for u, c in zip(uniques, canon) if c is None]
    if bad:
        raise ValueError(f"year must be a programme year such as '2019-20'; found {bad[:5]}")
    return codes, uniques, canon


def _factorize(series: pd.Series) -> tuple[np.ndarray, list]:
    """``pd.factorize``'s codes (-1 = missing, by first appearance) and distinct values; for
    Arrow text by Arrow's hashing directly (pandas adds copies on millions of rows)."""
    coded = _arrow_codes(series)
    if coded is None:
        codes, uniques = pd.factorize(series)
        return codes, list(uniques)
    return coded


def _arrow_codes(series: pd.Series) -> tuple[np.ndarray, list] | None:
    """(codes, distinct texts) of an Arrow-backed text column, numbered by first appearance,
    -1 = missing; None for any other column."""
    coded = text_codes(series)
    if coded is None:
        return None
    codes, distinct = coded
    return codes, distinct.to_pylist()


def _datetimes(series: pd.Series, name: str) -> np.ndarray:
    """datetime64 array (NaT where missing or not a date)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(None)
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        try:
            series = pd.to_datetime(series, errors="coerce")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {name!r} should hold dates") from exc
    return series.to_numpy()


def _days(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 (floor) and a mask of valid (non-NaT) values."""
    ok = ~np.isnat(values)
    unit, count = np.datetime_data(values.dtype)
    per_day = int(np.timedelta64(1, "D") // np.timedelta64(count, unit)) if unit != "D" else 1
    days = values.view(np.int64) // per_day if per_day > 1 else values.view(np.int64).copy()
    return days, ok


def _programme_start_year(days: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Start year of the programme year (September to August) of each day (junk where not ok).
    Each day of the span is placed once, then looked up: millions of sessions, few days."""
    if not ok.any():
        return np.zeros(days.shape, dtype=np.int64)
    valid = np.where(ok, days, days[ok][0])
    first, last = int(valid.min()), int(valid.max())
    y0 = int(np.datetime64(first, "D").astype("datetime64[Y]").astype(int)) + 1970 - 1
    y1 = int(np.datetime64(last, "D").astype("datetime64[Y]").astype(int)) + 1970 + 1
    starts = np.array([f"{y}-09-01" for y in range(y0, y1 + 1)], dtype="datetime64[D]")
    span = np.arange(first, last + 1, dtype=np.int64)
    if span.size > days.size:  # a few dates far apart: search each
        return np.searchsorted(starts.astype(np.int64), days, side="right") - 1 + y0
    of_day = np.searchsorted(starts.astype(np.int64), span, side="right") - 1 + y0
    valid -= first
    return of_day[valid]


def _iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")


def _arrow_strings(values):
    """The values as one pyarrow large_string array, or None when they are not
    pyarrow-backed strings."""
    arr = values.array if isinstance(values, (pd.Series, pd.Index)) else values
    if not type(arr).__name__.startswith("Arrow"):
        return None
    import pyarrow as pa

    data = arr._pa_array if hasattr(arr, "_pa_array") else pa.array(arr)
    if not (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return None
    return data.cast(pa.large_string()).combine_chunks()


def _shared_codes(ids: pd.Series, other: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes for two id columns in one numbering: ``ids`` get 0..k-1 (-1 where
    missing), ``other`` the code of the same id in ``ids`` (-1 where absent or missing).

    One hash pass over both columns; categorical columns are coded through their
    categories, so that string and categorical ids give the same links. Hashing millions of
    distinct ids is the costly part of linking a national register: two categorical
    columns sharing their categories need none."""

    def parts(s: pd.Series):
        if isinstance(s.dtype, pd.CategoricalDtype):
            return pd.Series(s.cat.categories), s.cat.codes.to_numpy()
        return s, None

    lv, lc = parts(ids)
    rv, rc = parts(other)
    if lc is not None and rc is not None and (
            ids.cat.categories is other.cat.categories or lv.equals(rv)):
        k = len(lv)
        dtype = np.int32 if k < np.iinfo(np.int32).max else np.int64  # the codes as they are
        left_codes, right_codes = lc.astype(dtype, copy=False), rc.astype(dtype, copy=False)
    else:
        left = _arrow_strings(lv)
        right = _arrow_strings(rv)
        if left is not None and right is not None:
            import pyarrow as pa

            encoded = pa.concat_arrays([left, right]).dictionary_encode().indices
            codes = np.asarray(encoded.fill_null(-1).to_numpy(zero_copy_only=False),
                               dtype=np.int64)
            cl, cr = codes[:len(left)], codes[len(left):]
        else:
            both = pd.concat([pd.Series(lv.to_numpy(dtype=object)),
                              pd.Series(rv.to_numpy(dtype=object))], ignore_index=True)
            codes = pd.factorize(both)[0].astype(np.int64)
            cl, cr = codes[:len(lv)], codes[len(lv):]
        k = int(cl.max()) + 1 if cl.size else 0
        cr = np.where(cr < k, cr, -1)  # ids only in ``other`` have codes from k on
        left_codes = cl if lc is None else np.where(lc >= 0, cl[np.maximum(lc, 0)], -1)
        right_codes = cr if rc is None else np.where(rc >= 0, cr[np.maximum(rc, 0)], -1)
    if lc is not None and k and right_codes.size:  # a category no participant has: unknown
        used = np.zeros(k + 1, dtype=bool)
        used[left_codes] = True
        used[k] = False  # where a code of -1 lands
        right_codes = np.where(used[right_codes], right_codes, -1)
    return left_codes, right_codes, k


def _first_positions(gid: np.ndarray) -> np.ndarray:
    """Row position of the first member of each group, for ids numbered by first appearance."""
    if gid.size == 0:
        return np.zeros(0, dtype=np.int64)
    running = np.maximum.accumulate(gid)
    new = np.r_[True, gid[1:] > running[:-1]]
    first = np.flatnonzero(new)
    if not np.array_equal(gid[first], np.arange(first.size)):  # pragma: no cover - safety net
        _, first = np.unique(gid, return_index=True)
    return first


def _value_codes(series: pd.Series, values: Sequence[str]) -> np.ndarray:
    """Position of each row's value in ``values``; ``len(values)`` for any other value or a
    missing one. Each distinct value is compared once."""
    codes, uniques = pd.factorize(series)
    lookup = np.array([values.index(u) if u in values else len(values) for u in uniques]
                      + [len(values)], dtype=np.int64)
    return lookup[codes]  # code -1 (missing) takes the trailing "other"


def _cross_count(gid: np.ndarray, code: np.ndarray, size: int, n_codes: int) -> np.ndarray:
    """Rows per group and code: a (size, n_codes) table of counts."""
    return np.bincount(gid * n_codes + code, minlength=size * n_codes).reshape(size, n_codes)


def _distinct_cells(cells: np.ndarray, n_cells: int) -> np.ndarray:
    """The distinct values of ``cells`` (whole numbers from 0 to ``n_cells`` - 1), sorted:
    by counting when the cells are few enough, otherwise by hashing."""
    if n_cells <= max(4 * cells.size, 1 << 22):
        return np.flatnonzero(np.bincount(cells, minlength=n_cells))
    return np.sort(pd.unique(cells))


def _count(gid: np.ndarray, size: int, mask: np.ndarray | None = None) -> np.ndarray:
    ids = gid if mask is None else gid[mask]
    return np.bincount(ids, minlength=size).astype(np.int64)


def _sum(gid: np.ndarray, size: int, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.bincount(gid[mask], weights=values[mask], minlength=size)


@dataclass
class _Grouping:
    gid: np.ndarray  # group id per participant row
    keys: pd.DataFrame  # one row per group id
    pooled: bool
    parent: np.ndarray | None = None  # pooled: the group id of each per-``by`` group


def _groupings(frame: pd.DataFrame, by: list[str], pooled: bool) -> list[_Grouping]:
    """Group ids for the per-``by`` table and, when asked and ``service`` is in ``by``,
    for the pooled table (``service`` = :data:`POOLED`).

    The rows are grouped once; the pooled groups are the per-``by`` groups' keys without
    the service, numbered (like the per-``by`` groups) by first appearance."""
    if len(frame) == 0:
        gid = first = np.zeros(0, dtype=np.int64)
    elif by:
        gid, first = _group_ids(frame, by)
    else:
        gid = np.zeros(len(frame), dtype=np.int64)
        first = _first_positions(gid)
    keys = frame[by].iloc[first].reset_index(drop=True)
    out = [_Grouping(gid, keys.astype(object)[by], False)]
    if pooled and "service" in by:
        cols = [b for b in by if b != "service"]
        if len(keys) == 0:
            fine_to_pooled = np.zeros(0, dtype=np.int64)
        elif cols:
            fine_to_pooled = keys.groupby(cols, dropna=False, observed=True,
                                          sort=False).ngroup().to_numpy(dtype=np.int64)
        else:
            fine_to_pooled = np.zeros(len(keys), dtype=np.int64)
        pooled_keys = keys[cols].iloc[_first_positions(fine_to_pooled)].reset_index(drop=True)
        pooled_keys = pooled_keys.astype(object)
        pooled_keys.insert(by.index("service"), "service", POOLED)
        out.append(_Grouping(fine_to_pooled[gid], pooled_keys[by], True, fine_to_pooled))
    return out


def _group_ids(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Group id per row, numbered by first appearance with missing values as a group of
    their own, exactly as ``frame.groupby(by, dropna=False, observed=True,
    sort=False).ngroup()``, and the row of each group's first member. Arrow text columns
    are coded by Arrow's hashing and the codes combined as integers (quicker on millions of
    rows); other columns go to pandas."""
    coded = [_arrow_codes(frame[b]) for b in by]
    if any(c is None for c in coded):
        gid = frame.groupby(by, dropna=False, observed=True, sort=False).ngroup()
        gid = gid.to_numpy(dtype=np.int64)
        return gid, _first_positions(gid)
    combined = np.zeros(len(frame), dtype=np.int64)
    size = 1
    for codes, distinct in coded:
        count = len(distinct) + 1
        if size * count >= 2 ** 62:  # pragma: no cover - billions of combinations
            combined = pd.factorize(combined)[0]
            size = int(combined.max()) + 1
        combined *= count
        combined += codes
        combined += 1
        size *= count
    return _first_appearance(combined, size)


def _first_appearance(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids for integer keys (0 <= key < size) numbered by first appearance, as
    ``pd.factorize`` numbers them, and the row of each id's first appearance.

    A key first appears at row 0 or where it differs from the row before; rows grouped
    by service and year change key only a few hundred times, so only those rows are
    sorted, and no hash table of millions of keys is built. Keys that change at most rows
    are factorized by hashing."""
    n = keys.size
    changes = np.flatnonzero(keys[1:] != keys[:-1]) if n else np.zeros(0, dtype=np.int64)
    if changes.size > n // 8 + 1024:
        gid = pd.factorize(keys)[0].astype(np.int64, copy=False)
        return gid, _first_positions(gid)
    starts = np.concatenate(([0], changes + 1)) if n else changes
    distinct, first = np.unique(keys[starts], return_index=True)  # first occurrences
    first = starts[first]
    order = np.argsort(first, kind="stable")
    if size <= 4 * n + (1 << 20):  # a lookup table of the keys
        number = np.zeros(size, dtype=np.int64)
        number[distinct[order]] = np.arange(distinct.size)
        gid = number[keys]
    else:
        number = np.empty(distinct.size, dtype=np.int64)
        number[order] = np.arange(distinct.size)
        gid = number[np.searchsorted(distinct, keys)]
    return gid, first[order]


def _sort(out: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Sort by ``cols``: services alphabetically then the pooled row, vocabularies in order."""

    def key(s: pd.Series) -> pd.Series:
        if s.name == "service":
            return s.map(lambda v: "2" if pd.isna(v) else ("1" if v == POOLED else "0" + str(v)))
        if s.name in _ORDER:
            order = {v: i for i, v in enumerate(_ORDER[str(s.name)])}
            return s.map(lambda v: order.get(v, len(order) + (0 if pd.notna(v) else 1)))
        if s.name == "group":
            order = {v: i for i, v in enumerate(PRIORITY_GROUPS)}
            return s.map(lambda v: order.get(v, len(order)))
        return s

    cols = [c for c in cols if c in out.columns]
    if not cols or out.empty:
        return out.reset_index(drop=True)
    return out.sort_values(cols, key=key, kind="stable", na_position="last").reset_index(drop=True)


def _disclosure_args(by: Sequence[str], pooled: bool, derived: dict[str, list[str]], *,
                     counts: Sequence[str],
                     sums: dict[str, list[str]] | None = None,
                     complements: dict[str, str] | None = None,
                     keep: Sequence[str] = (), groups: Sequence[Sequence[str]] = (),
                     additive: Sequence[str] | None = None,
                     split: Sequence[str] = (), categories: bool = True) -> dict[str, Any]:
    """Keyword arguments for :func:`changing_tracks.disclosure.suppress` describing a table
    (``attrs["suppress"]``): the services' rows add up to the pooled row that shares the
    other ``by`` values (and the ``split`` columns), or to a total published elsewhere when
    there is no pooled row; with ``categories``, the activities (settings) of a service add
    up to its total too (a participant has one activity and setting per year)."""
    args: dict[str, Any] = {"counts": list(counts), "derived": derived}
    if sums:
        args["sums"] = sums
    if complements:
        args["complements"] = complements
    if keep:
        args["keep"] = list(keep)
    grouping = [list(g) for g in groups]
    if "service" in by:
        grouping.append([b for b in by if b != "service"] + list(split))
        if pooled:
            args["total"] = {"service": POOLED}
    if categories:
        for dim in ("activity", "setting"):
            if dim in by:
                grouping.append([b for b in by if b != dim] + list(split))
    if grouping:
        args["groups"] = grouping
    if additive is not None:
        args["additive"] = list(additive)
    return args


def _finish(out: pd.DataFrame, columns: Sequence[str], text_columns: Sequence[str],
            sort_by: Sequence[str], settings: dict[str, Any],
            disclosure_args: dict[str, Any]) -> pd.DataFrame:
    """Documented column order, string key columns, sorting and attrs."""
    out = out.reindex(columns=list(columns))
    for c in text_columns:
        if c in out.columns:
            out[c] = out[c].astype(object).astype("string")
    out = _sort(out, sort_by)
    out.attrs["settings"] = dict(settings)
    out.attrs["suppress"] = disclosure_args
    return out


def _join_notes(*notes: np.ndarray) -> np.ndarray:
    """Element-wise '; '-join of note arrays, skipping empty strings."""
    if not notes:
        return np.zeros(0, dtype=object)
    size = len(notes[0])
    out = np.empty(size, dtype=object)
    for i in range(size):
        out[i] = "; ".join(str(n[i]) for n in notes if n[i])
    return out


# --------------------------------------------------------------------------
# Linking the register to the participants table
# --------------------------------------------------------------------------


@dataclass
class _Link:
    row: np.ndarray  # participants row position per register row (-1: not linked)
    day: np.ndarray  # session date in days since 1970-01-01
    day_ok: np.ndarray  # session date present
    attended: np.ndarray  # int8: 1 attended, 0 absent, -1 not recorded
    pid_code: np.ndarray  # participant id position in the participants' ids (-1: unknown)
    session_year: np.ndarray  # programme start year of the session
    start_day: np.ndarray | None  # per participants row
    end_day: np.ndarray | None
    start_ok: np.ndarray | None
    end_ok: np.ndarray | None
    p_codes: np.ndarray | None = None  # participant id code per participants row
    n_ids: int = 0  # distinct participant ids


def _link(participants: pd.DataFrame, attendance: pd.DataFrame) -> _Link:
    """Link each register row to the participants row of the same participant and programme
    year (the year, September to August, in which the session took place)."""
    _require(participants, ["participant", "year"], "participants")
    _require(attendance, ["participant", "session_date", "attended"], "attendance")
    p_codes, pid_code, n_ids = _shared_codes(participants["participant"],
                                             attendance["participant"])
    if (p_codes < 0).any():
        raise ValueError("participants has rows with no participant id")
    start_year = _start_years(participants["year"])
    y_min = int(start_year.min()) if start_year.size else 0
    n_years = int(start_year.max()) - y_min + 1 if start_year.size else 1
    # Participants row of (participant code, programme year): a dense lookup table, as
    # programme years are few; no hashing of the register. Codes and rows in 4 bytes
    # where they fit: at national scale each temporary array is tens of megabytes.
    wide = np.int32 if n_ids * n_years < np.iinfo(np.int32).max else np.int64
    cell = p_codes.astype(wide)  # dense (participant, year) cell
    cell *= n_years
    np.add(cell, start_year - y_min, out=cell, casting="same_kind")
    table = np.full(n_ids * n_years, -1, dtype=np.int32)
    rows = np.arange(len(participants), dtype=np.int32)
    table[cell] = rows
    if start_year.size and (table[cell] != rows).any():  # a cell written twice
        pkey = p_codes.astype(np.int64) * _KEY_FACTOR + start_year
        dup = participants.loc[pd.Series(pkey).duplicated(keep=False).to_numpy(),
                               ["participant", "year"]]
        raise ValueError(
            "participants must have one row per participant and year; duplicated: "
            + ", ".join(f"{p} {y}" for p, y in
                        dup.drop_duplicates().head(5).itertuples(index=False))
        )
    del cell, rows
    day, day_ok = _days(_datetimes(attendance["session_date"], "session_date"))
    session_year = _programme_start_year(day, day_ok)
    col = session_year - y_min
    usable = (pid_code >= 0) & day_ok & (col >= 0) & (col < n_years)
    if usable.all():  # every session has an id and a date in the participants' years
        at = pid_code.astype(wide)
        at *= n_years
        np.add(at, col, out=at, casting="same_kind")
        del col
        row = table[at].astype(np.int64)
    else:
        row = np.full(pid_code.shape, -1, dtype=np.int64)
        row[usable] = table[pid_code[usable].astype(np.int64) * n_years + col[usable]]
        del col
    del table, usable
    att = attendance["attended"]
    if not isinstance(att.dtype, pd.BooleanDtype):
        try:
            att = att.astype("boolean")
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "attendance column 'attended' should hold yes/no values (True/False, missing = "
                f"not recorded); found values such as {list(pd.unique(att.dropna()))[:5]}"
            ) from exc
    attended = np.asarray(att.to_numpy(dtype=np.int8, na_value=-1), dtype=np.int8)
    start_day = end_day = start_ok = end_ok = None
    if "start" in participants.columns:
        start_day, start_ok = _days(_datetimes(participants["start"], "start"))
    if "end" in participants.columns:
        end_day, end_ok = _days(_datetimes(participants["end"], "end"))
    return _Link(row, day, day_ok, attended, pid_code, session_year, start_day, end_day,
                 start_ok, end_ok, p_codes, n_ids)


_PROBLEM_COLUMNS = ["file", "row", "column", "value", "expected", "message", "severity"]


def _source(frame: pd.DataFrame, idx: np.ndarray) -> tuple[pd.Series, pd.Series]:
    if "source_file" in frame.columns:
        files = pd.Series(frame["source_file"].iloc[idx].to_numpy(dtype=object), dtype="string")
    else:
        files = pd.Series(pd.NA, index=range(idx.size), dtype="string")
    if "source_row" in frame.columns:
        rows = pd.Series(pd.array(frame["source_row"].iloc[idx].to_numpy(dtype=object),
                                  dtype="Int64"))
    else:
        rows = pd.Series(pd.NA, index=range(idx.size), dtype="Int64")
    return files, rows


def _problem_frame(frame: pd.DataFrame, idx: np.ndarray, column: str, value, expected,
                   message, severity: str) -> pd.DataFrame:
    files, rows = _source(frame, idx)

    def text(v) -> pd.Series:
        return pd.Series(np.broadcast_to(np.asarray(v, dtype=object), idx.shape), dtype="string")

    return pd.DataFrame({
        "file": files, "row": rows, "column": column, "value": text(value),
        "expected": text(expected), "message": text(message), "severity": severity,
    })


def _register_problems(participants: pd.DataFrame, attendance: pd.DataFrame,
                       link: _Link) -> pd.DataFrame:
    parts: list[pd.DataFrame] = []
    pid = attendance["participant"]

    def ids(idx: np.ndarray) -> np.ndarray:
        return pid.iloc[idx].astype(object).astype(str).to_numpy()

    # Missing session dates and participant ids.
    idx = np.flatnonzero(~link.day_ok)
    if idx.size:
        parts.append(_problem_frame(attendance, idx, "session_date", "", "a date",
                                    "register row has no session date", "error"))
    no_id = np.asarray(pid.isna().to_numpy(), dtype=bool)
    idx = np.flatnonzero(no_id & link.day_ok)
    if idx.size:
        parts.append(_problem_frame(attendance, idx, "participant", "", "a participant id",
                                    "register row has no participant id", "error"))
    # Participants not in the participants table (at all, or not for the session's year).
    unlinked = (link.row < 0) & link.day_ok & ~no_id
    idx = np.flatnonzero(unlinked & (link.pid_code < 0))
    if idx.size:
        who = ids(idx)
        parts.append(_problem_frame(
            attendance, idx, "participant", who, "a participant in the participants table",
            "participant " + who.astype(object) + " is not in the participants table", "error"))
    idx = np.flatnonzero(unlinked & (link.pid_code >= 0))
    if idx.size:
        who = ids(idx).astype(object)
        yr = link.session_year[idx]
        year = np.char.add(np.char.add(yr.astype(str), "-"),
                           np.char.zfill(((yr + 1) % 100).astype(str), 2))
        year = year.astype(object)
        when = _iso(link.day[idx]).astype(object)
        parts.append(_problem_frame(
            attendance, idx, "participant", who,
            "a participants row for " + who + " in programme year " + year,
            "participant " + who + " has no participants row for programme year " + year
            + " (session on " + when + ")", "error"))
    linked = np.flatnonzero(link.row >= 0)
    every = linked.size == link.row.size  # every row linked: no copies of millions of rows
    r = link.row if every else link.row[linked]
    day = link.day if every else link.day[linked]
    # Sessions before the start date or after the end date.
    if link.start_day is not None:
        bad = link.start_ok[r] & (day < link.start_day[r])
        idx = linked[bad]
        if idx.size:
            who = ids(idx).astype(object)
            when = _iso(link.day[idx]).astype(object)
            start = _iso(link.start_day[r[bad]]).astype(object)
            parts.append(_problem_frame(
                attendance, idx, "session_date", when, "on or after the start date " + start,
                "session on " + when + " is before participant " + who + "'s start date "
                + start, "error"))
    if link.end_day is not None:
        bad = link.end_ok[r] & (day > link.end_day[r])
        idx = linked[bad]
        if idx.size:
            who = ids(idx).astype(object)
            when = _iso(link.day[idx]).astype(object)
            end = _iso(link.end_day[r[bad]]).astype(object)
            parts.append(_problem_frame(
                attendance, idx, "session_date", when, "on or before the end date " + end,
                "session on " + when + " is after participant " + who + "'s end date " + end,
                "error"))
    # Two register rows for the same participant and session date.
    n_rows = np.bincount(r, minlength=len(participants))  # register rows per participant row
    if linked.size:
        # Only participants with two or more register rows can have a repeated date.
        if n_rows.max() > 1:
            first_day = day.min()
            span = int(day.max() - first_day + 1)
            several = n_rows[r] > 1
            key = r[several] * span + (day[several] - first_day)
            ordered = np.sort(key)  # cheaper than hashing; the rare duplicates are then located
            if (ordered[1:] == ordered[:-1]).any():
                idx = linked[several][pd.Series(key).duplicated(keep=False).to_numpy()]
            else:
                idx = linked[:0]
            del ordered, key, several
        else:
            idx = linked[:0]
        if idx.size:
            who = ids(idx).astype(object)
            when = _iso(link.day[idx]).astype(object)
            parts.append(_problem_frame(
                attendance, idx, "session_date", when,
                "one register row per participant and session date",
                "participant " + who + " has more than one register row for " + when, "error"))
    # Warning: participants without any register rows in a service-year that keeps registers.
    if "service" in participants.columns and len(participants):
        sy = _group_ids(participants, ["service", "year"])[0]
        has_register = np.bincount(sy, weights=n_rows, minlength=sy.max() + 1) > 0
        idx = np.flatnonzero((n_rows == 0) & has_register[sy])
        if idx.size:
            who = participants["participant"].iloc[idx].astype(object).astype(str).to_numpy()
            who = who.astype(object)
            svc = participants["service"].iloc[idx].astype(object).astype(str).to_numpy()
            yrs = participants["year"].iloc[idx].astype(object).astype(str).to_numpy()
            parts.append(_problem_frame(
                participants, idx, "participant", who,
                "register rows for every participant of a service-year that keeps registers",
                "participant " + who + " (" + svc.astype(object) + " " + yrs.astype(object)
                + ") has no register rows, so has no attendance rate", "warning"))
    if not parts:
        out = pd.DataFrame({c: pd.Series(dtype="string") for c in _PROBLEM_COLUMNS})
        out["row"] = out["row"].astype("Int64")
        return out
    out = pd.concat(parts, ignore_index=True)
    return _sort(out, ["severity", "file", "row"])[_PROBLEM_COLUMNS]


def register_problems(participants: pd.DataFrame, attendance: pd.DataFrame) -> pd.DataFrame:
    """Problems in the registers that would make attendance rates wrong.

    Each register row is linked to the participants row of the same participant and
    programme year (the September-to-August year in which the session took place; the
    participants table has one row per participant and year).

    Errors (:func:`attendance_rates` refuses to compute while any remain):

    * a register row with no session date or no participant id;
    * a participant not in the participants table, or not in it for the session's year;
    * a session dated before the participant's ``start`` or after their ``end`` date;
    * two register rows for the same participant and session date.

    Warnings: a participant with no register rows in a service and year where other
    participants have registers (their attendance rate is missing, not zero).

    This is a validation report for the people who hold the data: its messages name the
    participant ids so that rows can be found, so it is not for publication.

    Parameters
    ----------
    participants : DataFrame
        Columns ``participant``, ``year`` and, when present, ``service``, ``start``,
        ``end``, ``source_file``, ``source_row``.
    attendance : DataFrame
        Columns ``participant``, ``session_date``, ``attended`` and, when present,
        ``source_file``, ``source_row``.

    Returns
    -------
    DataFrame
        One row per problem: ``file``, ``row`` (the source file and row as seen in Excel;
        missing for hand-built frames without ``source_file``/``source_row``), ``column``,
        ``value``, ``expected``, ``message``, ``severity`` (``"error"`` or ``"warning"``).
        Empty (with these columns) when the registers are consistent.
    """
    link = _link(participants, attendance)
    return _register_problems(participants, attendance, link)


# --------------------------------------------------------------------------
# Reach
# --------------------------------------------------------------------------


def _person_codes(svc: np.ndarray, pid: np.ndarray, n_ids: int) -> np.ndarray:
    """One code per person: the (service, participant) pair (ids are issued by services),
    from the service and participant id codes (-1: missing, a value of its own)."""
    return (svc.astype(np.int64) + 1) * (n_ids + 1) + (pid.astype(np.int64) + 1)


def _continuing(svc: np.ndarray, pid: np.ndarray, n_ids: int,
                start_year: np.ndarray) -> np.ndarray:
    """Whether the same participant id has a row for the same service in the previous
    programme year. A dense (participant, year) table when each participant has one row per
    year (no hashing), otherwise a hash lookup of (person, year) keys."""
    if pid.size == 0:
        return np.zeros(0, dtype=bool)
    y_min = int(start_year.min())
    n_years = int(start_year.max()) - y_min + 1
    year = start_year - y_min
    if (pid >= 0).all() and n_ids * n_years <= max(8 * pid.size, 1 << 20):
        cell = pid.astype(np.int64) * n_years + year
        if np.bincount(cell, minlength=n_ids * n_years).max() <= 1:
            service_of = np.full(n_ids * n_years, -2, dtype=np.int64)  # -2: no row
            service_of[cell] = svc
            before = np.where(year > 0, cell - 1, cell)
            return (year > 0) & (service_of[before] == svc)
    key = _person_codes(svc, pid, n_ids) * _KEY_FACTOR + start_year
    return np.asarray(pd.Series(key - 1).isin(key).to_numpy(), dtype=bool)


def reach(participants: pd.DataFrame, attendance: pd.DataFrame | None = None,
          by: str | Sequence[str] = ("service", "year"), *, pooled: bool = True,
          first_year: str = "unknown") -> pd.DataFrame:
    """How many young people each service reached, how many were new, and sessions delivered.

    A participant is *continuing* when the same participant id has a row for the same
    service in the previous programme year, and *new* otherwise. When the data hold no
    participants at all for the service in the previous year, new and continuing cannot be
    told apart: such participants are counted in ``n_history_unknown`` (the default,
    ``first_year="unknown"``) or as new (``first_year="new"``).

    Sessions delivered are the distinct session dates in the registers of the group's
    participants (the registers have no group or session id, so two groups meeting on the
    same day count once). Register rows that cannot be linked to a participant (see
    :func:`register_problems`) are not counted.

    Parameters
    ----------
    participants : DataFrame
        Columns ``participant``, ``service``, ``year`` and the ``by`` columns.
    attendance : DataFrame, optional
        The registers (``participant``, ``session_date``, ``attended``). Without it the
        session columns are missing values.
    by : str or sequence of str, default ("service", "year")
        Any of ``service``, ``year``, ``activity``, ``setting``.
    pooled : bool, default True
        Add rows with ``service`` = ``"All services"`` when ``service`` is in ``by``.
    first_year : {"unknown", "new"}, default "unknown"
        How to count participants whose service has no data for the previous year.

    Returns
    -------
    DataFrame
        The ``by`` columns, then ``n`` (distinct young people: a person is a service's
        participant id), ``n_enrolments`` (participant-year rows; equals ``n`` when ``year``
        is in ``by``), ``n_new``, ``n_continuing``, ``n_history_unknown`` (these three add
        up to ``n_enrolments``), ``sessions_delivered`` (distinct session dates),
        ``attendances`` (participant-sessions attended), ``note``.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"participant": ["a", "b", "a"], "service": ["s", "s", "s"],
    ...                   "year": ["2019-20", "2019-20", "2020-21"]})
    >>> reach(p, pooled=False)[["year", "n", "n_new", "n_continuing", "n_history_unknown"]]
          year  n  n_new  n_continuing  n_history_unknown
    0  2019-20  2      0             0                  2
    1  2020-21  1      0             1                  0
    """
    by = _check_by(by)
    _require(participants, ["participant", "service", "year", *by], "participants")
    if first_year not in ("unknown", "new"):
        raise ValueError(f"first_year must be 'unknown' or 'new', not {first_year!r}")
    years, start_year = _years(participants["year"])
    frame = participants[by].copy() if by else pd.DataFrame(index=participants.index)
    if "year" in by:
        frame["year"] = years
    link = _link(participants, attendance) if attendance is not None else None
    if link is not None:  # the participant ids are already coded
        pid, n_ids = link.p_codes, link.n_ids
    else:
        pid, pid_uniques = pd.factorize(participants["participant"])
        n_ids = len(pid_uniques)
    svc_codes = pd.factorize(participants["service"])[0].astype(np.int64)
    person = _person_codes(svc_codes, pid, n_ids)
    # New / continuing: same (service, participant) in the previous programme year.
    continuing = _continuing(svc_codes, pid, n_ids, start_year)
    skey = svc_codes * _KEY_FACTOR + start_year
    prev_known = np.isin(skey - 1, np.unique(skey))
    if first_year == "new":
        prev_known[:] = True
    is_new = ~continuing & prev_known
    unknown = ~continuing & ~prev_known
    if link is not None:
        ok = link.row >= 0
        session_day = link.day[ok]
        first_day = int(session_day.min()) if session_day.size else 0
        session_day = session_day - first_day
        span = int(session_day.max()) + 1 if session_day.size else 1
        session_row = link.row[ok]
        attended_row = session_row[link.attended[ok] == 1]
    rows = []
    date_cells = None  # distinct (group, session date) cells of the per-``by`` groups
    for g in _groupings(frame, by, pooled):
        size = len(g.keys)
        out = g.keys.copy()
        enrol = _count(g.gid, size)
        if "year" in by:
            out["n"] = enrol
        else:
            n_people = int(person.max()) + 1 if person.size else 1
            people = pd.unique(g.gid * n_people + person)  # distinct (group, person)
            out["n"] = _count(people // n_people, size)
        out["n_enrolments"] = enrol
        out["n_new"] = _count(g.gid, size, is_new)
        out["n_continuing"] = _count(g.gid, size, continuing)
        out["n_history_unknown"] = _count(g.gid, size, unknown)
        note = np.full(size, "", dtype=object)
        if link is not None:
            if session_day.size:
                if g.parent is None:
                    date_cells = _distinct_cells(g.gid[session_row] * span + session_day,
                                                 size * span)
                    distinct = date_cells
                else:  # the pooled groups' dates are those of their services' groups
                    distinct = _distinct_cells(
                        g.parent[date_cells // span] * span + date_cells % span, size * span)
                out["sessions_delivered"] = np.bincount(distinct // span, minlength=size)
                out["attendances"] = np.bincount(g.gid[attended_row], minlength=size)
            else:
                out["sessions_delivered"] = 0
                out["attendances"] = 0
            note = np.where(out["sessions_delivered"].to_numpy() == 0,
                            "no register rows for these participants", "")
        else:
            out["sessions_delivered"] = pd.NA
            out["attendances"] = pd.NA
        out["note"] = note
        rows.append(out)
    res = pd.concat(rows, ignore_index=True)
    for c in ("sessions_delivered", "attendances"):
        res[c] = res[c].astype("Int64")
    cols = [*by, "n", "n_enrolments", "n_new", "n_continuing", "n_history_unknown",
            "sessions_delivered", "attendances", "note"]
    settings = {"first_year": first_year, "pooled": pooled, "by": tuple(by),
                "person": "service and participant id",
                "sessions_delivered": "distinct session dates in the group's registers"}
    # Attendances are the participants' own records: they rest on n. Sessions delivered
    # describe the service's provision. Without year in ``by`` n counts distinct people,
    # who can be in two activities in two years: activities then do not add up.
    sums = {"n_enrolments": ["n_new", "n_continuing", "n_history_unknown"]}
    if "year" in by:
        sums["n"] = ["n_enrolments"]  # the same number: hidden together
    args = _disclosure_args(by, pooled, {"attendances": ["n"]}, sums=sums,
                            counts=["n", "n_enrolments", "n_new", "n_continuing",
                                    "n_history_unknown"], categories="year" in by)
    return _finish(res, cols, [*by, "note"], by, settings, args)


# --------------------------------------------------------------------------
# Representation
# --------------------------------------------------------------------------


def _participant_phase(participants: pd.DataFrame) -> np.ndarray:
    """Phase code per participant (0 primary, 1 secondary, 2 special, -1 unknown): from the
    setting where it names a school phase, otherwise from the year group."""
    code = np.full(len(participants), -1, dtype=np.int8)
    if "year_group" in participants.columns:
        yg = pd.to_numeric(participants["year_group"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
        code[yg <= 6] = 0
        code[(yg >= 7) & (yg <= 13)] = 1
    if "setting" in participants.columns:
        for setting, phase in _SETTING_PHASE.items():
            code[_eq(participants["setting"], setting)] = _PHASE_CODES.index(phase)
    return code


def _characteristic_codes(participants: pd.DataFrame, name: str,
                          coded: dict[str, tuple[np.ndarray, pd.Index]]
                          ) -> tuple[np.ndarray, int, list[int]] | None:
    """The characteristic as small codes per participant, for counting by group:
    (codes: 0 = not known, 1.. = known values; number of codes; the codes of participants
    who have it); None when its column is not in participants. Text columns are coded
    once (``coded``, by column), their values checked, and shared by their
    characteristics (sex, ethnicity groups); yes/no columns must hold yes/no values."""
    column, value = contracts.CHARACTERISTICS[name]
    if column not in participants.columns:
        return None
    s = participants[column]
    if isinstance(value, bool):
        if column not in coded:
            flag, known = _as_boolean(s, column)
            codes = known.astype(np.int8)  # 0 not known, 1 no, 2 yes
            codes += flag & known
            coded[column] = (codes, pd.Index([False, True]))
        return coded[column][0], 3, [2 if value else 1]
    if column not in coded:
        codes, uniques = _factorize(s)
        allowed = contracts.TABLES["participants"].column(column).allowed
        bad = [v for v in uniques if v not in allowed]
        if bad:
            raise ValueError(f"column {column!r} must hold one of {list(allowed)} (or be "
                             f"missing); found {bad[:5]}")
        coded[column] = (codes, pd.Index(uniques))
    codes, uniques = coded[column]
    if f"{column}+1" not in coded:
        shifted = codes.astype(np.int32 if len(uniques) < 2 ** 31 - 1 else np.int64)
        shifted += 1
        coded[f"{column}+1"] = (shifted, uniques)
    hits = np.flatnonzero(np.asarray(uniques == value, dtype=bool))
    return coded[f"{column}+1"][0], len(uniques) + 1, [int(h) + 1 for h in hits]


def _source_label(source, year) -> str:
    """A benchmark's source with its year, unless the source's title already gives that year
    (as DfE titles do: "... in England 2023/24" and 2023/24 gives it once)."""
    parts = [str(x) for x in (source, year) if pd.notna(x) and str(x).strip()]
    if len(parts) == 2 and parts[1] in parts[0]:
        parts = parts[:1]
    return " ".join(parts)


def _benchmark_table(benchmarks: pd.DataFrame) -> dict[tuple[str, str, str], tuple[float, str]]:
    _require(benchmarks, ["local_authority", "phase", "characteristic", "share"], "benchmarks")
    _check_values(benchmarks["phase"], contracts.PHASES, "phase")
    _check_values(benchmarks["characteristic"], tuple(contracts.CHARACTERISTICS), "characteristic")
    la = benchmarks["local_authority"].map(
        lambda v: contracts.normalise_value(v) if pd.notna(v) else v)
    key = pd.DataFrame({"la": la, "phase": benchmarks["phase"],
                        "characteristic": benchmarks["characteristic"]})
    if key.duplicated().any():
        dup = benchmarks.loc[key.duplicated(keep=False),
                             ["local_authority", "phase", "characteristic"]]
        raise ValueError("benchmarks must have one row per local authority, phase and "
                         f"characteristic; duplicated: {dup.head(5).values.tolist()}")
    share = pd.to_numeric(benchmarks["share"], errors="coerce").to_numpy(dtype=float,
                                                                         na_value=np.nan)
    if np.any((share < 0) | (share > 1)):
        raise ValueError("benchmark shares must be between 0 and 1; found "
                         f"{share[(share < 0) | (share > 1)][:5].tolist()}")
    src = [""] * len(benchmarks)
    if "source" in benchmarks.columns:
        sy = benchmarks["source_year"] if "source_year" in benchmarks.columns else None
        src = [_source_label(s, None if sy is None else sy.iloc[i])
               for i, s in enumerate(benchmarks["source"])]
    table = {}
    for i, (a, ph, ch) in enumerate(key.itertuples(index=False)):
        if pd.notna(a) and not np.isnan(share[i]):
            table[(a, ph, ch)] = (float(share[i]), src[i])
    return table


def _service_authorities(services: pd.DataFrame) -> dict[str, str]:
    _require(services, ["service", "local_authority"], "services")
    if services["service"].duplicated().any():
        raise ValueError("services must have one row per service; duplicated: "
                         f"{services.loc[services['service'].duplicated(), 'service'].tolist()[:5]}"
                         )
    return {s: la for s, la in zip(services["service"], services["local_authority"])
            if pd.notna(s) and pd.notna(la)}


def _gof_binary(k: int, n: int, p: float, min_expected: float
                ) -> tuple[str, float, float, float, str]:
    expected = np.array([n * p, n * (1 - p)])
    if (expected >= min_expected).all():
        obs = np.array([k, n - k])
        stat = float(((obs - expected) ** 2 / expected).sum())
        return "chi-square", stat, 1.0, float(_st.chi2.sf(stat, 1)), ""
    pval = float(_st.binomtest(int(k), int(n), float(p), alternative="two-sided").pvalue)
    return "exact binomial", np.nan, np.nan, pval, ""


def _gof_multinomial(counts: np.ndarray, probs: np.ndarray, min_expected: float, n_sim: int,
                     rng: np.random.Generator) -> tuple[str, float, float, float, str]:
    n = int(counts.sum())
    if np.any((probs == 0) & (counts > 0)):
        return "", np.nan, np.nan, np.nan, "no test: a benchmark share is 0 but has participants"
    use = probs > 0
    counts, probs = counts[use], probs[use]
    expected = n * probs
    stat = float(((counts - expected) ** 2 / expected).sum())
    df = float(use.sum() - 1)
    if (expected >= min_expected).all():
        return "chi-square", stat, df, float(_st.chi2.sf(stat, df)), ""
    sims = rng.multinomial(n, probs, size=n_sim)
    sim_stat = ((sims - expected) ** 2 / expected).sum(axis=1)
    exceed = int(np.sum(sim_stat >= stat * (1 - 1e-12)))
    return "Monte Carlo chi-square", stat, df, (exceed + 1) / (n_sim + 1), ""


def representation(participants: pd.DataFrame, benchmarks: pd.DataFrame,
                   services: pd.DataFrame, *, year: str | Sequence[str] | None = None,
                   characteristics: Sequence[str] | None = None, confidence: float = 0.95,
                   ci_method: str = "wilson",
                   phase_rule: str | Mapping[str, str] = "modal",
                   pooled: bool = True, pooled_benchmark: str = "weighted",
                   rescale_ethnicity: bool = True, min_expected: float = 5.0,
                   n_sim: int = 10_000, seed: int = 20190901) -> pd.DataFrame:
    """Participants' profile against the local population, per service and programme year.

    For each service, year and characteristic of :data:`contracts.CHARACTERISTICS` (FSM /
    Pupil Premium, SEN support, EHC plan, looked-after, young carer, EAL, sex, each GSS
    ethnicity group):

    * **share** = participants with the characteristic / participants *with a known value*
      for it (missing = not recorded). Unknown values are never dropped silently: they are
      counted in ``n_unknown`` and ``share_unknown``; a share resting on few known values
      should be read with that in mind. The interval is Wilson's (methods.md), or
      Clopper-Pearson when ``ci_method="clopper-pearson"``.
    * **benchmark** = the population share for the service's local authority (from
      ``services``) and phase. The phase is chosen by ``phase_rule``; when the benchmarks
      have no row for that phase the ``"all"`` row is used, and the row actually used is
      named in ``benchmark_phase``. A service with no benchmark gets missing values and a
      note, not an error. Ethnicity benchmarks are rescaled to sum to 1 over the five
      groups (``rescale_ethnicity``), because the participant share is among those whose
      ethnicity is known while census shares include "unclassified" pupils.
    * **ratio** = share / benchmark (1 = represented as in the population) with the interval
      ``(ci_low / benchmark, ci_high / benchmark)``; the benchmark is treated as known
      (census figures describe the whole population).
    * **goodness of fit** per characteristic *family*: the five ethnicity groups form one
      multinomial family, every other characteristic is binary (has / has not). Pearson's
      chi-square is used only when every expected count is at least ``min_expected``;
      otherwise an exact binomial test (binary) or a Monte Carlo chi-square test
      (multinomial, ``n_sim`` simulations seeded from ``seed``, p = (exceed + 1) /
      (n_sim + 1)). The test used is named in ``test``; the family's p-value is repeated on
      each of its rows. No adjustment for multiple testing is made.

    The pooled rows (``service = "All services"``) add up every service's participants.
    Their benchmark is, by default (``pooled_benchmark="weighted"``), the mean of the
    services' benchmarks weighted by their numbers of known values (the share expected if
    every service matched its own population; missing when a contributing service has no
    benchmark); or give a local authority name present in ``benchmarks`` (e.g.
    ``"England"``) to compare with it. The pooled tests use the pooled expected shares
    (a binomial/multinomial approximation).

    Parameters
    ----------
    participants : DataFrame
        Columns ``service``, ``year`` and the characteristics' columns (``fsm``, ``sen``,
        ``looked_after``, ``young_carer``, ``eal``, ``sex``, ``ethnicity``; a missing
        column counts as all unknown, with a note); ``setting`` and ``year_group`` for the
        phase.
    benchmarks : DataFrame
        Columns ``local_authority``, ``phase``, ``characteristic``, ``share`` (0-1) and
        optionally ``source``, ``source_year``.
    services : DataFrame
        Columns ``service`` and ``local_authority``.
    year : str or sequence of str, optional
        Programme year(s) to include; default every year (each reported separately).
    characteristics : sequence of str, optional
        Keys of ``contracts.CHARACTERISTICS`` to report; default all.
    confidence : float, default 0.95
    ci_method : {"wilson", "clopper-pearson"}, default "wilson"
    phase_rule : str or mapping, default "modal"
        ``"modal"``: each participant's phase comes from the setting (primary, secondary or
        special school) or otherwise the year group (Reception-Year 6 primary, Years 7-13
        secondary); the service's phase is the most common one, or ``"all"`` when there is
        a tie or no phase is known. ``"all"``, ``"primary"``, ``"secondary"``, ``"special"``:
        that phase for every service. A mapping {service: phase} fixes some services'
        phases, the others use the modal rule.
    pooled : bool, default True
        Add the ``"All services"`` rows.
    pooled_benchmark : str, default "weighted"
        ``"weighted"`` or the local authority whose benchmarks the pooled rows use.
    rescale_ethnicity : bool, default True
    min_expected : float, default 5
        Smallest expected count for which the chi-square approximation is used.
    n_sim : int, default 10000
    seed : int, default 20190901
        Seed for the Monte Carlo tests (each service, year and family gets its own stream
        derived from the seed and its names, so results do not depend on other services).

    Returns
    -------
    DataFrame
        One row per service (then the pooled row), year and characteristic:
        ``service``, ``year``, ``characteristic``, ``family``, ``n`` (participants in the
        service and year), ``n_known``, ``n_unknown`` (n = n_known + n_unknown),
        ``n_with``, ``share`` (n_with / n_known), ``ci_low``, ``ci_high``,
        ``share_unknown`` (n_unknown / n), ``local_authority``, ``phase`` (chosen for the
        service), ``phase_share`` (share of its participants in that phase),
        ``benchmark_phase``, ``benchmark``, ``benchmark_source``, ``ratio``,
        ``ratio_ci_low``, ``ratio_ci_high``, ``expected`` (n_known x benchmark), ``test``,
        ``statistic``, ``df``, ``p_value``, ``note``. ``attrs["settings"]`` records the
        choices.
    """
    _require(participants, ["service", "year"], "participants")
    confidence = _check_confidence(confidence)
    ci = _ci_function(ci_method)
    chars = list(contracts.CHARACTERISTICS) if characteristics is None else list(characteristics)
    bad = [c for c in chars if c not in contracts.CHARACTERISTICS]
    if bad or not chars:
        raise ValueError(f"characteristics must be keys of contracts.CHARACTERISTICS "
                         f"({list(contracts.CHARACTERISTICS)}); got {bad or chars}")
    fixed_phases: dict[str, str] = {}
    if isinstance(phase_rule, Mapping):
        fixed_phases = dict(phase_rule)
        rule = "modal"
    else:
        rule = phase_rule
    if rule not in ("modal", *contracts.PHASES) or any(
            p not in contracts.PHASES for p in fixed_phases.values()):
        raise ValueError(f"phase_rule must be 'modal', one of {list(contracts.PHASES)} or a "
                         f"mapping of service to phase; got {phase_rule!r}")
    if not isinstance(n_sim, (int, np.integer)) or n_sim < 1:
        raise ValueError(f"n_sim must be a positive whole number, not {n_sim!r}")
    if min_expected < 0:
        raise ValueError(f"min_expected must be 0 or more, not {min_expected!r}")
    bench = _benchmark_table(benchmarks)
    authorities = _service_authorities(services)
    if pooled_benchmark != "weighted" and not any(
            k[0] == contracts.normalise_value(pooled_benchmark) for k in bench):
        raise ValueError("pooled_benchmark must be 'weighted' or a local authority in the "
                         f"benchmarks; {pooled_benchmark!r} has no benchmark rows")

    years, _ = _years(participants["year"])
    keep = np.ones(len(participants), dtype=bool)
    if year is not None:
        wanted = [year] if isinstance(year, str) else list(year)
        canon = [contracts.programme_year(y) for y in wanted]
        present = set(years.dropna().unique())
        missing = [w for w, c in zip(wanted, canon) if c not in present]
        if missing:
            raise ValueError(f"year {missing} not in participants; found {sorted(present)}")
        keep = np.asarray(years.isin(canon).to_numpy(dtype=bool, na_value=False))
    everyone = bool(keep.all())  # no copy of millions of rows when every year is wanted
    part = participants if everyone else participants.loc[keep]
    frame = pd.DataFrame({"service": part["service"], "year": years if everyone else years[keep]})
    phase_code = _participant_phase(part)
    char_codes = {}
    coded: dict[str, tuple[np.ndarray, pd.Index]] = {}
    for name in contracts.CHARACTERISTICS:
        char_codes[name] = _characteristic_codes(part, name, coded)

    tables = []
    fine: dict[str, np.ndarray] = {}  # counts per group and value code, by column
    for g in _groupings(frame, ["service", "year"], pooled):
        size = len(g.keys)

        def counts_of(column: str, codes: np.ndarray, width: int) -> np.ndarray:
            """Rows per group and value code (0..width-1): one pass over the rows for the
            services' groups; the pooled groups add up their services' groups."""
            if g.parent is None:
                cells = g.gid * width
                cells += codes
                fine[column] = np.bincount(cells, minlength=size * width).reshape(size, width)
                return fine[column]
            table = np.zeros((size, width), dtype=np.int64)
            np.add.at(table, g.parent, fine[column])
            return table

        by_phase = counts_of("", phase_code + 1, 4)  # 0: phase unknown
        n = by_phase.sum(axis=1)
        counts = by_phase[:, 1:]
        top = counts.max(axis=1) if size else np.zeros(0, dtype=np.int64)
        tie = (counts == top[:, None]).sum(axis=1) > 1
        modal = np.where((top == 0) | tie, "all",
                         np.array(_PHASE_CODES, dtype=object)[counts.argmax(axis=1)])
        phase = np.empty(size, dtype=object)
        phase_share = np.full(size, np.nan)
        for i in range(size):
            svc = g.keys["service"].iloc[i]
            if g.pooled and pooled_benchmark == "weighted":
                phase[i] = None
                continue
            ph = fixed_phases.get(svc) if not g.pooled else None
            ph = ph or (modal[i] if rule == "modal" else rule)
            phase[i] = ph
            if ph in _PHASE_CODES and n[i]:
                phase_share[i] = counts[i, _PHASE_CODES.index(ph)] / n[i]
        for name in contracts.CHARACTERISTICS:
            out = g.keys.copy()
            out["characteristic"] = name
            out["n"] = n
            arrays = char_codes[name]
            if arrays is None:
                out["n_known"] = 0
                out["n_with"] = 0
                out["note"] = f"column {contracts.CHARACTERISTICS[name][0]!r} not in participants"
            else:
                codes, width, with_codes = arrays
                table = fine[column] if (column := contracts.CHARACTERISTICS[name][0]) in fine \
                    and g.parent is None else None
                if table is None:
                    table = counts_of(column, codes, width)
                out["n_known"] = table[:, 1:].sum(axis=1)
                out["n_with"] = table[:, with_codes].sum(axis=1)
                out["note"] = ""
            out["phase"] = phase
            out["phase_share"] = phase_share
            out["_pooled"] = g.pooled
            tables.append(out)
    res = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if res.empty:
        res = pd.DataFrame(columns=["service", "year", "characteristic", "n", "n_known",
                                    "n_with", "note", "phase", "phase_share", "_pooled"])
    res["family"] = np.where(res["characteristic"].astype(str).str.startswith("ethnicity_"),
                             "ethnicity", res["characteristic"].astype(object))
    res["n_unknown"] = res["n"] - res["n_known"]
    for c in ("n", "n_known", "n_with", "n_unknown"):
        res[c] = res[c].astype(np.int64)

    # Benchmarks: the service's local authority and phase (falling back to "all").
    size = len(res)
    la = np.empty(size, dtype=object)
    bphase = np.empty(size, dtype=object)
    bvalue = np.full(size, np.nan)
    bsource = np.empty(size, dtype=object)
    bnote = np.full(size, "", dtype=object)
    pooled_la = None if pooled_benchmark == "weighted" else pooled_benchmark
    for i, (svc, ch, ph, is_pooled) in enumerate(
            res[["service", "characteristic", "phase", "_pooled"]].itertuples(index=False)):
        if is_pooled and pooled_la is None:
            la[i], bphase[i], bsource[i] = None, "weighted", None
            continue
        auth = pooled_la if is_pooled else authorities.get(svc)
        la[i] = auth
        bsource[i] = None
        bphase[i] = None
        if auth is None:
            bnote[i] = f"service {svc!r} has no local authority in services: no benchmark"
            continue
        a = contracts.normalise_value(auth)
        for try_phase in dict.fromkeys([ph, "all"]):
            hit = bench.get((a, try_phase, ch))
            if hit is not None:
                bvalue[i], bsource[i], bphase[i] = hit[0], hit[1] or None, try_phase
                if try_phase != ph:
                    bnote[i] = f"no {ph} benchmark: the all-phase share is used"
                break
        else:
            bnote[i] = f"no benchmark for {auth} ({ph}) {ch}"
    res["local_authority"] = la
    res["benchmark_phase"] = bphase
    res["benchmark_source"] = bsource
    res["benchmark"] = bvalue
    res["note"] = _join_notes(res["note"].to_numpy(dtype=object), bnote)

    # Ethnicity: rescale the five benchmarks to sum to 1 within each service-year row set.
    eth = res["family"].to_numpy() == "ethnicity"
    non_weighted = ~(res["_pooled"].to_numpy(dtype=bool) & (pooled_la is None))
    if rescale_ethnicity and eth.any():
        sub = res.loc[eth & non_weighted, ["service", "year", "benchmark"]]
        grp = sub.groupby(["service", "year"], dropna=False, sort=False)["benchmark"]
        total = grp.transform("sum")
        complete = grp.transform("count") == len(_ETHNICITY)
        rescale = complete & (total > 0)
        idx = sub.index[rescale.to_numpy()]
        res.loc[idx, "benchmark"] = (sub.loc[idx, "benchmark"] / total[rescale]).to_numpy()
        changed = idx[np.abs(total[rescale].to_numpy() - 1) > 1e-9]
        if len(changed):
            msg = [f"ethnicity benchmark rescaled: the five groups summed to {t:.3f}"
                   for t in total.loc[changed]]
            res.loc[changed, "note"] = _join_notes(res.loc[changed, "note"].to_numpy(dtype=object),
                                                   np.array(msg, dtype=object))
    # Pooled rows: benchmarks weighted by the services' numbers of known values.
    if pooled_la is None and res["_pooled"].any():
        svc_rows = res.loc[~res["_pooled"].astype(bool)]
        contrib = svc_rows.loc[svc_rows["n_known"] > 0]
        w = contrib.assign(_wb=contrib["n_known"] * contrib["benchmark"],
                           _missing=contrib["benchmark"].isna())
        agg = w.groupby(["year", "characteristic"], dropna=False).agg(
            _wb=("_wb", "sum"), _w=("n_known", "sum"), _missing=("_missing", "sum"))
        lacking = (contrib.loc[contrib["benchmark"].isna()]
                   .groupby(["year", "characteristic"], dropna=False)["service"]
                   .agg(lambda s: ", ".join(sorted(map(str, s.unique())))))
        pooled_idx = res.index[res["_pooled"].astype(bool)]
        for i in pooled_idx:
            k = (res.at[i, "year"], res.at[i, "characteristic"])
            if k not in agg.index:
                continue
            if agg.at[k, "_missing"] > 0:
                res.at[i, "note"] = "; ".join(filter(None, [
                    res.at[i, "note"], f"no pooled benchmark: no benchmark for {lacking[k]}"]))
            elif agg.at[k, "_w"] > 0:
                res.at[i, "benchmark"] = agg.at[k, "_wb"] / agg.at[k, "_w"]

    # Shares, intervals, ratios.
    n_known = res["n_known"].to_numpy(dtype=float)
    n_with = res["n_with"].to_numpy(dtype=float)
    b = res["benchmark"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        res["share"] = np.where(n_known > 0, n_with / n_known, np.nan)
        low, high = ci(n_with, n_known, confidence)
        res["ci_low"], res["ci_high"] = low, high
        res["share_unknown"] = np.where(res["n"] > 0, res["n_unknown"] / res["n"], np.nan)
        pos = b > 0
        res["ratio"] = np.where(pos, res["share"] / b, np.nan)
        res["ratio_ci_low"] = np.where(pos, low / b, np.nan)
        res["ratio_ci_high"] = np.where(pos, high / b, np.nan)
        res["expected"] = n_known * b
    notes = np.where((n_known == 0) & (res["n"].to_numpy() > 0),
                     "no known values: share not estimated", "")
    notes = np.where(b == 0, "benchmark share is 0: no ratio", notes)
    res["note"] = _join_notes(res["note"].to_numpy(dtype=object), notes.astype(object))

    # Goodness-of-fit tests per service, year and family.
    test = np.full(size, "", dtype=object)
    stat = np.full(size, np.nan)
    dfree = np.full(size, np.nan)
    pval = np.full(size, np.nan)
    tnote = np.full(size, "", dtype=object)
    order = res.groupby(["service", "year", "family"], dropna=False, sort=True).indices
    for (svc, yr, fam), idx in order.items():
        kn = res["n_known"].to_numpy()[idx]
        bb = b[idx]
        if fam != "ethnicity":
            i = idx[0]
            if kn[0] == 0 or np.isnan(bb[0]):
                tnote[idx] = "no test: no known values" if kn[0] == 0 else "no test: no benchmark"
                continue
            t = _gof_binary(int(res.at[i, "n_with"]), int(kn[0]), float(bb[0]), min_expected)
        else:
            if kn[0] == 0 or np.isnan(bb).any():
                tnote[idx] = ("no test: no known values" if kn[0] == 0
                              else "no test: benchmark missing for an ethnicity group")
                continue
            counts = res["n_with"].to_numpy()[idx].astype(float)
            probs = bb / bb.sum() if bb.sum() > 0 else bb
            stream = zlib.crc32(f"{svc}|{yr}|{fam}".encode())
            rng = np.random.default_rng([int(seed), stream])
            t = _gof_multinomial(counts, probs, min_expected, int(n_sim), rng)
        test[idx], stat[idx], dfree[idx], pval[idx], tnote[idx] = t
    res["test"], res["statistic"], res["df"], res["p_value"] = test, stat, dfree, pval
    res["note"] = _join_notes(res["note"].to_numpy(dtype=object), tnote)
    res = res.loc[res["characteristic"].isin(chars)]
    cols = ["service", "year", "characteristic", "family", "n", "n_known", "n_unknown", "n_with",
            "share", "ci_low", "ci_high", "share_unknown", "local_authority", "phase",
            "phase_share", "benchmark_phase", "benchmark", "benchmark_source", "ratio",
            "ratio_ci_low", "ratio_ci_high", "expected", "test", "statistic", "df", "p_value",
            "note"]
    settings = {"confidence": confidence, "ci_method": ci_method, "denominator": "known values",
                "phase_rule": phase_rule if isinstance(phase_rule, str) else dict(phase_rule),
                "pooled_benchmark": pooled_benchmark, "rescale_ethnicity": rescale_ethnicity,
                "min_expected": min_expected, "n_sim": int(n_sim), "seed": seed,
                "year": year}
    derived = {c: ["n_known", "n_with"] for c in ("share", "ci_low", "ci_high", "ratio",
                                                  "ratio_ci_low", "ratio_ci_high", "statistic",
                                                  "p_value")}
    derived.update(expected=["n_known"], share_unknown=["n", "n_unknown"], phase_share=["n"])
    args = _disclosure_args(
        ["service", "year"], pooled, derived, sums={"n": ["n_known", "n_unknown"]},
        counts=["n", "n_known", "n_unknown", "n_with"],
        complements={"n_with": "n_known"}, keep=["benchmark", "df"],
        groups=[["service", "year", "family"]], split=["characteristic"],
        # n_known and n_unknown repeat on every row of a family, where they do not add
        # up; declaring them additive pins small repeated values (unprotectable). n and
        # the categories' n_with add up across services, n_with within a family too.
        additive=["n_with", "n"])
    text = ["service", "year", "characteristic", "family", "local_authority", "phase",
            "benchmark_phase", "benchmark_source", "test", "note"]
    return _finish(res, cols, text, ["year", "service", "characteristic"], settings, args)


# --------------------------------------------------------------------------
# Engagement: attendance, retention, progression
# --------------------------------------------------------------------------


def _problem_summary(problems: pd.DataFrame, limit: int = 10) -> str:
    kinds = problems["message"].str.replace(r"participant \S+", "participant …", regex=True)
    lines = [f"{len(problems)} register problem(s) would give wrong attendance rates; fix them "
             "(see register_problems) or pass check=False:"]
    for _, p in problems.head(limit).iterrows():
        where = f"{p['file']} row {p['row']}: " if pd.notna(p["file"]) else ""
        lines.append(f"  - {where}{p['message']}")
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more ({kinds.nunique()} kinds)")
    return "\n".join(lines)


def _rates_arrays(participants: pd.DataFrame, attendance: pd.DataFrame, check: bool,
                  unrecorded: str) -> dict[str, np.ndarray]:
    if unrecorded not in ("exclude", "absent"):
        raise ValueError(f"unrecorded must be 'exclude' or 'absent', not {unrecorded!r}")
    link = _link(participants, attendance)
    if check:
        problems = _register_problems(participants, attendance, link)
        errors = problems.loc[problems["severity"] == "error"]
        if len(errors):
            raise ValueError(_problem_summary(errors))
    size = len(participants)
    ok = link.row >= 0
    r, a = (link.row, link.attended) if ok.all() else (link.row[ok], link.attended[ok])
    offered = np.bincount(r, minlength=size)
    attended = np.bincount(r[a == 1], minlength=size)
    not_recorded = np.bincount(r[a < 0], minlength=size)
    recorded = offered - not_recorded
    denom = recorded if unrecorded == "exclude" else offered
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(denom > 0, attended / denom, np.nan)
    return {"sessions_offered": offered, "sessions_recorded": recorded,
            "sessions_attended": attended, "rate": rate}


def attendance_rates(participants: pd.DataFrame, attendance: pd.DataFrame, *,
                     check: bool = True, unrecorded: str = "exclude") -> pd.DataFrame:
    """Attendance rate of each participant in each programme year: attended ÷ offered.

    A session is *offered* to a participant when the register has a row for them on that
    date. Register rows are linked to participants as described in
    :func:`register_problems`. When the registers contradict the participants table
    (sessions before the start or after the end date, unknown participants, duplicates) a
    rate would be wrong, so this raises ``ValueError`` listing the problems, unless
    ``check=False`` (then rows that cannot be linked are left out and the others are used
    as they stand).

    This table is person-level (one row per participant and year) and is for analysis
    only: it carries no participant id (it keeps the participants table's index, so
    ``participants.join(rates)`` works) but must not be published. Publish
    :func:`attendance_summary` instead.

    Parameters
    ----------
    participants : DataFrame
        Columns ``participant``, ``service``, ``year`` and optionally ``activity``,
        ``setting``, ``status``, ``start``, ``end``.
    attendance : DataFrame
        Columns ``participant``, ``session_date``, ``attended``.
    check : bool, default True
        Refuse to compute when :func:`register_problems` finds errors.
    unrecorded : {"exclude", "absent"}, default "exclude"
        Register rows with ``attended`` missing (not recorded): left out of the rate, or
        counted as absences.

    Returns
    -------
    DataFrame
        Index of ``participants``; columns ``service``, ``year`` (canonical), ``activity``,
        ``setting``, ``status`` (those present), ``sessions_offered`` (register rows),
        ``sessions_recorded`` (rows with attendance recorded), ``sessions_attended``,
        ``rate`` (missing when no session was offered or recorded).
    """
    _require(participants, ["participant", "service", "year"], "participants")
    arrays = _rates_arrays(participants, attendance, check, unrecorded)
    keep = [c for c in ("service", "year", "activity", "setting", "status")
            if c in participants.columns]
    out = participants[keep].copy()
    out["year"] = _years(participants["year"], dtype="str")[0].array
    for k, v in arrays.items():
        out[k] = v
    out.attrs["settings"] = {"unrecorded": unrecorded, "check": check,
                             "linking": "participant and programme year of the session"}
    return out


def attendance_summary(rates: pd.DataFrame,
                       by: str | Sequence[str] = ("service", "year", "activity"), *,
                       threshold: float = 0.75, confidence: float = 0.95,
                       ci_method: str = "wilson", pooled: bool = True) -> pd.DataFrame:
    """Distribution of attendance rates per service and activity (and year).

    Parameters
    ----------
    rates : DataFrame
        The output of :func:`attendance_rates` (columns ``rate`` and the ``by`` columns).
    by : str or sequence of str, default ("service", "year", "activity")
        Any of ``service``, ``year``, ``activity``, ``setting``.
    threshold : float, default 0.75
        Rate counted as regular attendance (``share_at_least`` attend at least this share
        of the sessions offered).
    confidence : float, default 0.95
    ci_method : {"wilson", "clopper-pearson"}, default "wilson"
        Interval for ``share_at_least``.
    pooled : bool, default True
        Add ``"All services"`` rows.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``n`` (participants with a rate), ``n_no_sessions`` (participants
        with no session offered or recorded, not in ``n``), ``mean``, ``sd``, ``q10``,
        ``q1`` (25th percentile), ``median``, ``q3`` (75th), ``q90``, ``iqr`` (percentiles
        by linear interpolation), ``threshold``, ``n_at_least``, ``share_at_least``,
        ``ci_low``, ``ci_high``, ``note``. Rates are 0-1.
    """
    by = _check_by(by)
    _require(rates, ["rate", *by], "rates")
    confidence = _check_confidence(confidence)
    ci = _ci_function(ci_method)
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1 (a rate), not {threshold!r}")
    rate = pd.to_numeric(rates["rate"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    has = ~np.isnan(rate)
    frame = rates[by].copy()
    rate_order = np.argsort(rate[has], kind="stable")  # sorted once, for every grouping
    tables = []
    for g in _groupings(frame, by, pooled):
        size = len(g.keys)
        out = g.keys.copy()
        n = _count(g.gid, size, has)
        out["n"] = n
        out["n_no_sessions"] = _count(g.gid, size, ~has)
        total = _sum(g.gid, size, rate, has)
        sq = _sum(g.gid, size, rate**2, has)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
            var = np.where(n > 1, (sq - n * mean**2) / np.maximum(n - 1, 1), np.nan)
        out["mean"] = mean
        out["sd"] = np.sqrt(np.clip(var, 0, None))
        qs = (0.1, 0.25, 0.5, 0.75, 0.9)
        quant = _group_quantiles(g.gid[has], rate[has], rate_order, size, qs)
        for k, name in enumerate(("q10", "q1", "median", "q3", "q90")):
            out[name] = quant[:, k]
        out["iqr"] = out["q3"] - out["q1"]
        out["threshold"] = threshold
        out["n_at_least"] = _count(g.gid, size, has & (rate >= threshold - 1e-12))
        low, high = ci(out["n_at_least"].to_numpy(), n, confidence)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["share_at_least"] = np.where(n > 0, out["n_at_least"] / np.maximum(n, 1), np.nan)
        out["ci_low"], out["ci_high"] = low, high
        out["note"] = np.where(n == 0, "no sessions offered or recorded", "")
        tables.append(out)
    res = pd.concat(tables, ignore_index=True)
    cols = [*by, "n", "n_no_sessions", "mean", "sd", "q10", "q1", "median", "q3", "q90", "iqr",
            "threshold", "n_at_least", "share_at_least", "ci_low", "ci_high", "note"]
    settings = {"threshold": threshold, "confidence": confidence, "ci_method": ci_method,
                "quantiles": "linear interpolation", "by": tuple(by),
                **rates.attrs.get("settings", {})}
    derived = {c: ["n"] for c in ("mean", "sd", "q10", "q1", "median", "q3", "q90", "iqr")}
    derived.update({c: ["n", "n_at_least"] for c in ("share_at_least", "ci_low", "ci_high")})
    args = _disclosure_args(by, pooled, derived, complements={"n_at_least": "n"},
                            keep=["threshold"], counts=["n", "n_no_sessions", "n_at_least"])
    return _finish(res, cols, [*by, "note"], by, settings, args)


def _group_quantiles(gid: np.ndarray, values: np.ndarray, value_order: np.ndarray, size: int,
                     qs: Sequence[float]) -> np.ndarray:
    """Quantiles of ``values`` per group (rows: group ids 0..size-1; NaN for an empty group),
    by linear interpolation exactly as pandas' ``groupby().quantile()`` computes them.

    ``value_order`` sorts the values; a stable sort of the group ids (a radix sort while
    groups are fewer than 32,768) then orders them by group without sorting them again."""
    out = np.full((size, len(qs)), np.nan)
    if values.size == 0:
        return out
    ids = gid[value_order]
    ids = ids.astype(np.int16) if size < 2 ** 15 else ids
    order = value_order[np.argsort(ids, kind="stable")]
    v = values[order]
    counts = np.bincount(gid, minlength=size)
    starts = np.cumsum(counts) - counts
    ok = counts > 0
    for k, q in enumerate(qs):
        position = q * (counts[ok] - 1).astype(np.float64)
        idx = starts[ok] + position.astype(np.int64)  # truncated, as pandas does
        frac = position % 1
        low = v[idx]
        high = v[np.minimum(idx + 1, v.size - 1)]
        out[ok, k] = np.where(frac == 0.0, low, low + (high - low) * frac)
    return out


def _status(participants: pd.DataFrame) -> pd.Series:
    _require(participants, ["status"], "participants")
    _check_values(participants["status"], contracts.STATUSES, "status")
    return participants["status"]


def _key_frame(participants: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    frame = participants[by].copy()
    if "year" in by:
        frame["year"] = _years(participants["year"])[0]
    return frame


def retention(participants: pd.DataFrame, by: str | Sequence[str] = ("service", "year"), *,
              confidence: float = 0.95, ci_method: str = "wilson",
              pooled: bool = True) -> pd.DataFrame:
    """Retention: the share of participants who completed, among those who finished.

    Retention = completed / (completed + withdrew). Participants still *active* have not
    finished, so they are excluded from the denominator (and counted in ``n_active``);
    counting them as completers would overstate retention before the year ends. A missing
    status is counted in ``n_status_unknown``.

    Parameters
    ----------
    participants : DataFrame
        Columns ``status`` (active / completed / withdrew) and the ``by`` columns.
    by : str or sequence of str, default ("service", "year")
    confidence : float, default 0.95
    ci_method : {"wilson", "clopper-pearson"}, default "wilson"
    pooled : bool, default True

    Returns
    -------
    DataFrame
        The ``by`` columns, ``n`` (all participants), ``n_completed``, ``n_withdrew``,
        ``n_active``, ``n_status_unknown``, ``n_ended`` (completed + withdrew: the
        denominator), ``share_completed``, ``ci_low``, ``ci_high``, ``note``.
    """
    by = _check_by(by)
    _require(participants, ["status", *by], "participants")
    confidence = _check_confidence(confidence)
    ci = _ci_function(ci_method)
    status = _status(participants)
    n_statuses = len(contracts.STATUSES)
    code = _value_codes(status, contracts.STATUSES)
    frame = _key_frame(participants, by)
    tables = []
    for g in _groupings(frame, by, pooled):
        size = len(g.keys)
        out = g.keys.copy()
        out["n"] = _count(g.gid, size)
        table = _cross_count(g.gid, code, size, n_statuses + 1)
        for k, s in enumerate(contracts.STATUSES):
            out[f"n_{s}"] = table[:, k]
        out["n_status_unknown"] = out["n"] - out[[f"n_{s}" for s in contracts.STATUSES]].sum(axis=1)
        out["n_ended"] = out["n_completed"] + out["n_withdrew"]
        k, n = out["n_completed"].to_numpy(), out["n_ended"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out["share_completed"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        out["ci_low"], out["ci_high"] = ci(k, n, confidence)
        out["note"] = np.where(n == 0, "nobody has completed or withdrawn yet", "")
        tables.append(out)
    res = pd.concat(tables, ignore_index=True)
    cols = [*by, "n", "n_completed", "n_withdrew", "n_active", "n_status_unknown", "n_ended",
            "share_completed", "ci_low", "ci_high", "note"]
    settings = {"confidence": confidence, "ci_method": ci_method,
                "denominator": "completed + withdrew (active excluded)", "by": tuple(by)}
    derived = {c: ["n_ended", "n_completed"] for c in ("share_completed", "ci_low", "ci_high")}
    args = _disclosure_args(by, pooled, derived, sums={
        "n": ["n_completed", "n_withdrew", "n_active", "n_status_unknown"],
        "n_ended": ["n_completed", "n_withdrew"]},
        counts=["n", "n_completed", "n_withdrew", "n_active", "n_status_unknown", "n_ended"])
    return _finish(res, cols, [*by, "note"], by, settings, args)


def _check_among(among: str | Sequence[str]) -> list[str]:
    statuses = [among] if isinstance(among, str) else list(among)
    if not statuses or any(s not in contracts.STATUSES for s in statuses):
        raise ValueError(f"among must be one or more of {list(contracts.STATUSES)}; got {among!r}")
    return statuses


def progression(participants: pd.DataFrame, by: str | Sequence[str] = ("service", "year"), *,
                among: str | Sequence[str] = ("completed",), confidence: float = 0.95,
                ci_method: str = "wilson", pooled: bool = True) -> pd.DataFrame:
    """Progression into regular provision (lessons, ensemble, music centre, other).

    Share progressed = participants whose ``progression`` is one of
    :data:`REGULAR_PROVISION` / participants (by default completers) whose progression is
    known (``"none"`` counts as known, not progressed). Unknown progression is counted in
    ``n_unknown`` and left out of the denominator.

    Parameters
    ----------
    participants : DataFrame
        Columns ``status``, ``progression`` and the ``by`` columns.
    by : str or sequence of str, default ("service", "year")
    among : str or sequence of str, default ("completed",)
        Statuses of the participants considered.
    confidence : float, default 0.95
    ci_method : {"wilson", "clopper-pearson"}, default "wilson"
    pooled : bool, default True

    Returns
    -------
    DataFrame
        The ``by`` columns, ``n`` (participants with a status in ``among``), ``n_known``,
        ``n_unknown``, ``n_progressed``, ``n_none``, ``n_lessons``, ``n_ensemble``,
        ``n_music_centre``, ``n_other``, ``share_progressed`` (n_progressed / n_known),
        ``ci_low``, ``ci_high``, ``note``.
    """
    by = _check_by(by)
    _require(participants, ["status", "progression", *by], "participants")
    confidence = _check_confidence(confidence)
    ci = _ci_function(ci_method)
    statuses = _check_among(among)
    status = _status(participants)
    _check_values(participants["progression"], contracts.PROGRESSION_ROUTES, "progression")
    in_pop = _isin(status, statuses)
    routes = contracts.PROGRESSION_ROUTES
    # Route per participant (0.. one per route, then: not known), among the population.
    code = _value_codes(participants["progression"], routes)[in_pop]
    regular = [routes.index(r) for r in REGULAR_PROVISION]
    frame = _key_frame(participants, by)
    tables = []
    for g in _groupings(frame, by, pooled):
        size = len(g.keys)
        out = g.keys.copy()
        table = _cross_count(g.gid[in_pop], code, size, len(routes) + 1)
        out["n"] = table.sum(axis=1)
        out["n_known"] = table[:, :len(routes)].sum(axis=1)
        out["n_unknown"] = out["n"] - out["n_known"]
        out["n_progressed"] = table[:, regular].sum(axis=1)
        for k, r in enumerate(routes):
            out["n_" + r.replace(" ", "_")] = table[:, k]
        k, n = out["n_progressed"].to_numpy(), out["n_known"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out["share_progressed"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        out["ci_low"], out["ci_high"] = ci(k, n, confidence)
        out["note"] = np.where(out["n"] == 0, "no participants with status " + "/".join(statuses),
                               np.where(n == 0, "progression not known for anyone", ""))
        tables.append(out)
    res = pd.concat(tables, ignore_index=True)
    route_cols = ["n_" + r.replace(" ", "_") for r in contracts.PROGRESSION_ROUTES]
    cols = [*by, "n", "n_known", "n_unknown", "n_progressed", *route_cols, "share_progressed",
            "ci_low", "ci_high", "note"]
    settings = {"confidence": confidence, "ci_method": ci_method, "among": tuple(statuses),
                "regular_provision": REGULAR_PROVISION, "denominator": "known progression",
                "by": tuple(by)}
    derived = {c: ["n_known", "n_progressed"] for c in ("share_progressed", "ci_low", "ci_high")}
    args = _disclosure_args(by, pooled, derived, sums={
        "n": ["n_known", "n_unknown"], "n_known": ["n_progressed", "n_none"],
        "n_progressed": route_cols[1:]},
        counts=["n", "n_known", "n_unknown", "n_progressed", *route_cols])
    return _finish(res, cols, [*by, "note"], by, settings, args)


# --------------------------------------------------------------------------
# Equity gaps
# --------------------------------------------------------------------------


def newcombe_ci(x1, n1, x2, n2, confidence: float = 0.95
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two independent proportions p1 - p2 with Newcombe's hybrid score interval.

    Newcombe (1998) method 10, built from the Wilson intervals (l1, u1), (l2, u2):
    ``(d - sqrt((p1-l1)^2 + (u2-p2)^2), d + sqrt((u1-p1)^2 + (p2-l2)^2))``. Vectorised;
    NaN where either n is 0.

    Returns
    -------
    difference, low, high : ndarray
    """
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    l1, u1 = wilson_ci(x1, n1, confidence)
    l2, u2 = wilson_ci(x2, n2, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1 = np.where(n1 > 0, x1 / n1, np.nan)
        p2 = np.where(n2 > 0, x2 / n2, np.nan)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def welch_ci(mean1, sd1, n1, mean2, sd2, n2, confidence: float = 0.95
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two means mean1 - mean2 with Welch's t interval (unequal variances).

    Vectorised; NaN where a side has fewer than 2 people. When both SDs are 0 the interval
    is the difference itself (and ``df`` is NaN).

    Returns
    -------
    difference, low, high, df : ndarray
    """
    m1, s1, k1, m2, s2, k2 = (np.asarray(v, dtype=float) for v in (mean1, sd1, n1, mean2, sd2, n2))
    ok = (k1 >= 2) & (k2 >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        v1, v2 = s1**2 / k1, s2**2 / k2
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (k1 - 1) + v2**2 / (k2 - 1))
        t = _st.t.ppf(0.5 + confidence / 2, df)
        half = np.where(se > 0, t * se, 0.0)
    d = np.where(ok, m1 - m2, np.nan)
    return d, d - half, d + half, np.where(ok & (se > 0), df, np.nan)


def _group_membership(participants: pd.DataFrame, group: str) -> tuple[np.ndarray, np.ndarray]:
    if group == "sen":
        s = participants["sen"]
        _check_values(s, contracts.SEN_VALUES, "sen")
        return _isin(s, ("sen support", "ehc plan")), _known(s)
    return _as_boolean(participants[group], group)


def equity_gaps(participants: pd.DataFrame, attendance: pd.DataFrame | None = None,
                groups: Sequence[str] = PRIORITY_GROUPS, *,
                by: str | Sequence[str] = ("service", "year"), confidence: float = 0.95,
                pooled: bool = True, check: bool = True, unrecorded: str = "exclude",
                among: str | Sequence[str] = ("completed",)) -> pd.DataFrame:
    """Do priority groups attend, stay and progress as much as their peers?

    For each service (and all services pooled), year and priority group, the group is
    compared with its peers (participants known not to be in the group; those whose
    membership is not recorded are counted in ``n_unknown`` and left out):

    * ``attendance``: mean attendance rate (:func:`attendance_rates`), difference of means
      with Welch's t interval; the group and peer means have t intervals;
    * ``retention``: completed / (completed + withdrew), as :func:`retention`;
    * ``progression``: progressed into regular provision among completers with known
      progression, as :func:`progression`.

    Differences of proportions use Newcombe's hybrid score interval built from the Wilson
    intervals (:func:`newcombe_ci`); each side's proportion has its Wilson interval. The SEN
    group is SEN support or an EHC plan (vs ``"none"``).

    Parameters
    ----------
    participants : DataFrame
        Columns ``participant``, ``service``, ``year``, ``status``, ``progression``, the
        ``groups`` columns and the ``by`` columns.
    attendance : DataFrame, optional
        The registers; without them the attendance measure is left out.
    groups : sequence of str, default ("fsm", "sen", "looked_after", "young_carer")
        ``"sen"`` or yes/no columns of participants (e.g. ``"eal"``).
    by : str or sequence of str, default ("service", "year")
    confidence : float, default 0.95
    pooled : bool, default True
    check, unrecorded
        Passed to :func:`attendance_rates`.
    among : str or sequence of str, default ("completed",)
        Statuses considered for progression.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``group``, ``measure`` (attendance / retention / progression),
        ``n`` (n_group + n_peers), ``n_group``, ``n_peers``, ``n_unknown``,
        ``n_group_outcome``, ``n_peers_outcome`` (numbers completed / progressed; missing
        for attendance), ``estimate_group``, ``group_ci_low``, ``group_ci_high``,
        ``estimate_peers``, ``peers_ci_low``, ``peers_ci_high``, ``difference`` (group -
        peers), ``ci_low``, ``ci_high``, ``method``, ``note``.
        ``attrs["suppress"]`` declares the table as a whole: a proportion (and its
        interval) rests on its side's count and outcome count; attendance rows have no
        outcome count (missing, so not applicable), so a mean attendance rests on its
        side's count only. ``attrs["suppress_by_measure"]`` has the same spec for each
        measure's rows on their own.
    """
    by = _check_by(by)
    groups = [groups] if isinstance(groups, str) else list(groups)
    if not groups:
        raise ValueError("groups must name at least one priority group")
    needed = ["service", "year", "status", "progression", *by]
    needed += [g for g in groups if g not in needed]
    _require(participants, needed, "participants")
    confidence = _check_confidence(confidence)
    statuses = _check_among(among)
    status = _status(participants)
    _check_values(participants["progression"], contracts.PROGRESSION_ROUTES, "progression")
    membership = {g: _group_membership(participants, g) for g in groups}
    completed = _eq(status, "completed")
    ended = completed | _eq(status, "withdrew")
    route = participants["progression"]
    prog_pop = _isin(status, statuses) & _known(route)
    progressed = _isin(route, REGULAR_PROVISION)
    measures = ["retention", "progression"]
    rate = None
    if attendance is not None:
        rate = _rates_arrays(participants, attendance, check, unrecorded)["rate"]
        measures.insert(0, "attendance")
    frame = _key_frame(participants, by)
    # Each row's flags (bits: ended, completed, in the progression population, progressed,
    # has an attendance rate) and side per group (0 unknown, 1 group, 2 peers): every count
    # is a sum over a (group id, side, flags) table made with one bincount per group.
    has_rate = ~np.isnan(rate) if rate is not None else np.zeros(len(participants), bool)
    bits = (ended.astype(np.int64) | completed * 2 | prog_pop * 4 | progressed * 8
            | has_rate * 16)
    sides = {}
    for group in groups:
        member, known = membership[group]
        sides[group] = np.where(known, np.where(member, 1, 2), 0).astype(np.int8)
    flag = np.arange(32)
    in_pop = {"attendance": (flag & 16) > 0, "retention": (flag & 1) > 0,
              "progression": (flag & 4) > 0}
    has_outcome = {"retention": (flag & 2) > 0, "progression": (flag & 8) > 0}
    if rate is not None:  # the rates' sums are made row by row, in row order, as ever
        rate_rows = np.flatnonzero(has_rate)
        rate_values = rate[rate_rows]
        rate_squares = rate_values ** 2
    tables = []
    fine_tables: dict[str, np.ndarray] = {}
    for g in _groupings(frame, by, pooled):
        size = len(g.keys)
        if rate is not None:
            rate_gid = g.gid[rate_rows]
        for group in groups:
            if g.parent is None:
                cells = g.gid * 3
                cells += sides[group]
                cells *= 32
                cells += bits
                table = np.bincount(cells, minlength=size * 96).reshape(size, 3, 32)
                fine_tables[group] = table
            else:  # pooled groups: sums of their services' groups
                table = np.zeros((size, 3, 32), dtype=np.int64)
                np.add.at(table, g.parent, fine_tables[group])
            for measure in measures:
                out = g.keys.copy()
                out["group"] = group
                out["measure"] = measure
                pop_table = table[:, :, in_pop[measure]].sum(axis=2)
                n2 = pop_table[:, 1:]
                out["n_group"], out["n_peers"] = n2[:, 0], n2[:, 1]
                out["n"] = n2.sum(axis=1)
                out["n_unknown"] = pop_table[:, 0]
                if measure == "attendance":
                    # sums by group id and side (0 unknown, 1 group, 2 peers), in row order
                    idx = rate_gid * 3
                    idx += sides[group][rate_rows]
                    s1 = np.bincount(idx, weights=rate_values,
                                     minlength=3 * size).reshape(size, 3)[:, 1:]
                    s2 = np.bincount(idx, weights=rate_squares,
                                     minlength=3 * size).reshape(size, 3)[:, 1:]
                    del idx
                    with np.errstate(invalid="ignore", divide="ignore"):
                        mean = np.where(n2 > 0, s1 / np.maximum(n2, 1), np.nan)
                        var = np.where(n2 > 1, (s2 - n2 * mean**2) / np.maximum(n2 - 1, 1), np.nan)
                        sd = np.sqrt(np.clip(var, 0, None))
                        tq = _st.t.ppf(0.5 + confidence / 2, n2 - 1)
                        half = np.where(n2 > 1, tq * sd / np.sqrt(n2), np.nan)
                    out["n_group_outcome"] = pd.NA
                    out["n_peers_outcome"] = pd.NA
                    out["estimate_group"], out["estimate_peers"] = mean[:, 0], mean[:, 1]
                    low, high = mean - half, mean + half
                    out["group_ci_low"], out["group_ci_high"] = low[:, 0], high[:, 0]
                    out["peers_ci_low"], out["peers_ci_high"] = low[:, 1], high[:, 1]
                    d, lo, hi, _ = welch_ci(mean[:, 0], sd[:, 0], n2[:, 0],
                                            mean[:, 1], sd[:, 1], n2[:, 1], confidence)
                    out["method"] = "Welch t"
                    note = np.where((n2 < 2).any(axis=1), "fewer than 2 people in the group or "
                                    "among peers: no interval for the difference", "")
                else:
                    x2 = table[:, 1:, in_pop[measure] & has_outcome[measure]].sum(axis=2)
                    out["n_group_outcome"], out["n_peers_outcome"] = x2[:, 0], x2[:, 1]
                    with np.errstate(invalid="ignore", divide="ignore"):
                        p = np.where(n2 > 0, x2 / np.maximum(n2, 1), np.nan)
                    out["estimate_group"], out["estimate_peers"] = p[:, 0], p[:, 1]
                    for k, label in enumerate(("group", "peers")):
                        lo_k, hi_k = wilson_ci(x2[:, k], n2[:, k], confidence)
                        out[f"{label}_ci_low"], out[f"{label}_ci_high"] = lo_k, hi_k
                    d, lo, hi = newcombe_ci(x2[:, 0], n2[:, 0], x2[:, 1], n2[:, 1], confidence)
                    out["method"] = "Newcombe hybrid score"
                    note = np.where((n2 == 0).any(axis=1),
                                    "nobody in the group or among peers: no difference", "")
                out["difference"], out["ci_low"], out["ci_high"] = d, lo, hi
                unknown_only = (n2.sum(axis=1) == 0) & (out["n_unknown"].to_numpy() > 0)
                out["note"] = np.where(unknown_only, f"{group} not recorded for anyone: "
                                       "no comparison", note)
                tables.append(out)
    res = pd.concat(tables, ignore_index=True)
    for c in ("n_group_outcome", "n_peers_outcome"):
        res[c] = res[c].astype("Int64")
    cols = [*by, "group", "measure", "n", "n_group", "n_peers", "n_unknown", "n_group_outcome",
            "n_peers_outcome", "estimate_group", "group_ci_low", "group_ci_high",
            "estimate_peers", "peers_ci_low", "peers_ci_high", "difference", "ci_low",
            "ci_high", "method", "note"]
    settings = {"confidence": confidence, "groups": tuple(groups), "sen_group":
                "sen support or ehc plan", "among": tuple(statuses), "unrecorded": unrecorded,
                "check": check, "by": tuple(by)}
    # Each measure is declared on its own (attrs["suppress_by_measure"][measure]); the
    # table as a whole gets the proportions' spec: on attendance rows the outcome counts
    # are missing, which disclosure.suppress takes as "not applicable", so a mean
    # attendance rests on its side's count only.
    group_side = {"estimate_group": "n_group", "group_ci_low": "n_group",
                  "group_ci_high": "n_group", "estimate_peers": "n_peers",
                  "peers_ci_low": "n_peers", "peers_ci_high": "n_peers"}
    args = {}
    for measure in measures:
        if measure == "attendance":
            derived = {k: [v] for k, v in group_side.items()}
            derived.update({c: ["n_group", "n_peers"] for c in ("difference", "ci_low", "ci_high")})
            complements = None
        else:
            derived = {k: [v, v + "_outcome"] for k, v in group_side.items()}
            derived.update({c: ["n_group", "n_peers", "n_group_outcome", "n_peers_outcome"]
                            for c in ("difference", "ci_low", "ci_high")})
            complements = {"n_group_outcome": "n_group", "n_peers_outcome": "n_peers"}
        counts = ["n", "n_group", "n_peers", "n_unknown"]
        if measure != "attendance":
            counts += ["n_group_outcome", "n_peers_outcome"]
        args[measure] = _disclosure_args(by, pooled, derived, sums={"n": ["n_group", "n_peers"]},
                                         complements=complements, split=["group", "measure"],
                                         counts=counts)
    out = _finish(res, cols, [*by, "group", "measure", "method", "note"],
                  [*by, "group", "measure"], settings, dict(args["retention"]))
    out.attrs["suppress_by_measure"] = args
    return out


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------


def _num(values: pd.Series | pd.DataFrame) -> np.ndarray:
    """Numbers for plotting; hidden cells of a suppressed table (e.g. "c") become NaN."""
    if isinstance(values, pd.DataFrame):
        return np.column_stack([_num(values[c]) for c in values.columns]) if len(values.columns) \
            else np.zeros((len(values), 0))
    return pd.to_numeric(values.astype(object), errors="coerce").to_numpy(dtype=float,
                                                                           na_value=np.nan)


def _one_year(table: pd.DataFrame, year: str | None) -> tuple[pd.DataFrame, str | None]:
    if "year" not in table.columns:
        return table, None
    present = sorted(table["year"].dropna().unique())
    if year is None:
        if not present:
            return table, None
        year = present[-1]
    elif year not in present:
        raise ValueError(f"year {year!r} not in the table; found {present}")
    return table.loc[table["year"] == year], year


def _ratio_ticks(lo: float, hi: float) -> list[float]:
    """Ratio-axis ticks at 1, 2, 5 times powers of ten (so half and double are labelled).

    Over more than seven such ticks, only powers of ten with 0.5 and 2 are kept.
    """
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if lo <= t * (1 + 1e-9) and t <= hi * (1 + 1e-9)]
    if len(ticks) > 7:
        ticks = [t for t in ticks if math.isclose(math.log10(t), round(math.log10(t)))
                 or math.isclose(t, 0.5) or math.isclose(t, 2)]
    return ticks



def plot_representation(table: pd.DataFrame, *, year: str | None = None,
                        services: Sequence[str] | None = None,
                        characteristics: Sequence[str] | None = None, col_wrap: int = 3,
                        height: float = 3.2) -> Figure:
    """Dot plot of representation ratios with their intervals, against a line at 1.

    One panel per service (the pooled panel last). The x axis is logarithmic, so that
    half and double the population share are the same distance from 1. A ratio or lower
    limit of 0 (nobody with the characteristic) is drawn at the left edge with a ``<``
    marker; rows without a ratio (no benchmark, no known values) are left empty.

    Parameters
    ----------
    table : DataFrame
        The output of :func:`representation`, or its display copy from
        ``disclosure.suppress`` (hidden values are not drawn).
    year : str, optional
        Programme year to show; default the latest in the table.
    services, characteristics : sequence of str, optional
        Subsets to show; default all in the table.
    col_wrap : int, default 3
    height : float, default 3.2
        Height of each panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(table, ["service", "characteristic", "ratio", "ratio_ci_low", "ratio_ci_high"],
             "table")
    data, yr = _one_year(table, year)
    if services is not None:
        data = data.loc[data["service"].isin(list(services))]
    if characteristics is not None:
        data = data.loc[data["characteristic"].isin(list(characteristics))]
    svc = list(dict.fromkeys(_sort(data[["service"]].drop_duplicates(), ["service"])["service"]))
    chars = [c for c in contracts.CHARACTERISTICS if c in set(data["characteristic"])]
    ncol = max(1, min(col_wrap, len(svc)))
    nrow = max(1, -(-len(svc) // ncol))
    fig = Figure(figsize=(3.6 * ncol + 1.4, height * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, sharex=True, sharey=True, squeeze=False)
    vals = _num(data[["ratio", "ratio_ci_low", "ratio_ci_high"]])
    positive = vals[np.isfinite(vals) & (vals > 0)]
    lo = min(0.1, positive.min() / 1.5) if positive.size else 0.1
    hi = max(10.0, positive.max() * 1.5) if positive.size else 10.0
    ypos = {c: i for i, c in enumerate(chars)}
    for k, ax in enumerate(axes.flat):
        if k >= len(svc):
            ax.set_visible(False)
            continue
        d = data.loc[data["service"] == svc[k]]
        ax.axvline(1, color="0.4", lw=1, zorder=0)
        y = d["characteristic"].map(ypos).to_numpy(dtype=float)
        r, l, h = (_num(d[c]) for c in ("ratio", "ratio_ci_low", "ratio_ci_high"))
        lc, hc, rc = (np.clip(v, lo, hi) for v in (l, h, r))
        ok = np.isfinite(r)
        ax.hlines(y[ok], lc[ok], hc[ok], color="C0", lw=1.5)
        floor = ok & (r <= lo)
        ax.plot(rc[ok & ~floor], y[ok & ~floor], "o", color="C0", ms=5)
        ax.plot(np.full(floor.sum(), lo), y[floor], "<", color="C3", ms=6)
        ax.set_xscale("log")
        if not ok.any():
            ax.text(0.5, 0.5, "no ratio: no benchmark\nor no known values", ha="center",
                    va="center", transform=ax.transAxes, color="0.4", fontsize=9)
        else:
            for yi in y[~ok & np.isfinite(y)]:
                ax.text(1.0, yi, "n/a", ha="center", va="center", color="0.5", fontsize=7)
        ax.set_xlim(lo, hi)
        ax.set_xticks(_ratio_ticks(lo, hi))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(str(svc[k]), fontsize=10)
        ax.grid(axis="x", which="major", color="0.9")
    ax0 = axes.flat[0]
    ax0.set_yticks(range(len(chars)))
    ax0.set_yticklabels([_CHARACTERISTIC_LABELS.get(c, c) for c in chars])
    ax0.set_ylim(len(chars) - 0.5, -0.5)
    fig.supxlabel("Representation ratio (participant share / population share; log scale)",
                  wrap=True)
    title = "Representation against the local population"
    fig.suptitle(title + (f", {yr}" if yr else ""), wrap=True)
    return fig


def plot_attendance(summary: pd.DataFrame, *, year: str | None = None,
                    height_per_row: float = 0.35) -> Figure:
    """Attendance distribution per service (and activity) from :func:`attendance_summary`.

    Drawn from the summary (not from individual rates): boxes span the 25th-75th
    percentiles with the median, whiskers the 10th-90th percentiles, a diamond marks the
    mean, and a dashed line the regular-attendance threshold.

    Parameters
    ----------
    summary : DataFrame
        The output of :func:`attendance_summary`, or its suppressed display copy (groups
        whose statistics are hidden are left out).
    year : str, optional
        Programme year to show; default the latest in the table.
    height_per_row : float, default 0.35

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(summary, ["n", "q10", "q1", "median", "q3", "q90", "mean"], "summary")
    data, yr = _one_year(summary, year)
    q = {c: _num(data[c]) for c in ("q10", "q1", "median", "q3", "q90", "mean")}
    drawn = np.isfinite(np.column_stack(list(q.values()))).all(axis=1) if len(data) else \
        np.zeros(0, dtype=bool)
    label_cols = [c for c in ("service", "activity", "setting") if c in data.columns]
    stats_list = []
    for i in np.flatnonzero(drawn):
        lab = " · ".join(str(v) for v in data[label_cols].iloc[i] if pd.notna(v))
        stats_list.append({"med": q["median"][i], "q1": q["q1"][i], "q3": q["q3"][i],
                           "whislo": q["q10"][i], "whishi": q["q90"][i], "mean": q["mean"][i],
                           "fliers": [], "label": f"{lab} (n={data['n'].iloc[i]})"})
    fig = Figure(figsize=(7, 1.2 + height_per_row * max(len(stats_list), 1)), layout="constrained")
    ax = fig.subplots()
    if stats_list:
        ax.bxp(stats_list, orientation="horizontal", showmeans=True, patch_artist=True,
               boxprops={"facecolor": "C0", "alpha": 0.4},
               meanprops={"marker": "D", "markerfacecolor": "k", "markeredgecolor": "k",
                          "markersize": 4})
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "No attendance data", ha="center", va="center",
                transform=ax.transAxes)
    if "threshold" in data.columns and len(data):
        ax.axvline(float(_num(data["threshold"])[0]), color="C3", ls="--", lw=1,
                   label="regular-attendance threshold")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Sessions attended (% of sessions offered)")
    ax.set_title("Attendance" + (f", {yr}" if yr else ""))
    return fig


def plot_equity_gaps(gaps: pd.DataFrame, *, service: str = POOLED, year: str | None = None,
                     measures: Sequence[str] = ("retention", "progression")) -> Figure:
    """Bars by priority group: each group beside its peers, with intervals.

    Parameters
    ----------
    gaps : DataFrame
        The output of :func:`equity_gaps`, or its suppressed display copy (hidden
        estimates are not drawn).
    service : str, default "All services"
        Service to show.
    year : str, optional
        Programme year to show; default the latest in the table.
    measures : sequence of str, default ("retention", "progression")
        One panel each; ``"attendance"`` shows mean attendance rates.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(gaps, ["service", "group", "measure", "estimate_group", "estimate_peers",
                    "n_group", "n_peers"], "gaps")
    measures = [measures] if isinstance(measures, str) else list(measures)
    bad = [m for m in measures if m not in _MEASURES]
    if bad or not measures:
        raise ValueError(f"measures must be some of {list(_MEASURES)}; got {measures!r}")
    if service not in set(gaps["service"]):
        raise ValueError(f"service {service!r} not in the table; found "
                         f"{sorted(gaps['service'].dropna().unique())}")
    data, yr = _one_year(gaps.loc[gaps["service"] == service], year)
    titles = {"attendance": "Mean attendance rate", "retention": "Retention (completed)",
              "progression": "Progressed into regular provision"}
    fig = Figure(figsize=(4.2 * len(measures), 3.8), layout="constrained")
    axes = fig.subplots(1, len(measures), squeeze=False, sharey=True)[0]
    for ax, measure in zip(axes, measures):
        d = data.loc[data["measure"] == measure]
        d = _sort(d, ["group"])
        x = np.arange(len(d))
        for offset, side, colour, label in ((-0.2, "group", "C1", "priority group"),
                                            (0.2, "peers", "C0", "peers")):
            est = _num(d[f"estimate_{side}"])
            lo_col, hi_col = f"{side}_ci_low", f"{side}_ci_high"
            if lo_col in d.columns:
                lo, hi = _num(d[lo_col]), _num(d[hi_col])
                err = np.vstack([est - lo, hi - est])
                err = np.where(np.isfinite(err), np.clip(err, 0, None), 0)
            else:
                err = None
            ax.bar(x + offset, np.nan_to_num(est), width=0.4, color=colour, label=label,
                   yerr=err, capsize=3)
            for xi, n in zip(x + offset, d[f"n_{side}"]):
                ax.text(xi, 0.01, f"n={n}", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xticks(x)
        ax.set_xticklabels([_GROUP_LABELS.get(g, g) for g in d["group"]], rotation=20, ha="right")
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(titles[measure], fontsize=10)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Priority groups and their peers: {service}" + (f", {yr}" if yr else ""),
                 wrap=True)
    return fig
