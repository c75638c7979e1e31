"""The grouping and coding helpers behind the national-scale participation tables give
exactly pandas' answers: group ids numbered as ``groupby(sort=False).ngroup()`` numbers
them, and the same tables whether text is held by Arrow (the quick path) or as Python
strings (pandas' path)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .conftest import arrow_text

from changing_tracks import participation as P


@pytest.mark.parametrize("seed", range(40))
def test_group_ids_number_groups_as_pandas_does(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 2000))
    service = rng.integers(0, 1 + seed % 7, n).astype(str).astype(object)
    year = rng.integers(0, 1 + seed % 300, n).astype(str).astype(object)
    if seed % 3 == 0:  # listed service by service, as registers usually are
        service = np.sort(service)
    service[rng.random(n) < 0.05] = None
    year[rng.random(n) < 0.05] = None
    frame = pd.DataFrame({"service": arrow_text(service, 1 + seed % 3),
                          "year": arrow_text(year, 1 + seed % 2)})
    for by in (["service"], ["service", "year"], ["year", "service"]):
        expected = frame.groupby(by, dropna=False, observed=True, sort=False).ngroup()
        gid, first = P._group_ids(frame, by)
        np.testing.assert_array_equal(gid, expected.to_numpy())
        np.testing.assert_array_equal(first, P._first_positions(expected.to_numpy()))


def test_group_ids_of_other_columns_go_to_pandas():
    frame = pd.DataFrame({"service": pd.Categorical(["b", "a", None, "b"]),
                          "year": ["x", "x", "y", None]})
    gid, first = P._group_ids(frame, ["service", "year"])
    expected = frame.groupby(["service", "year"], dropna=False, observed=True,
                             sort=False).ngroup().to_numpy()
    np.testing.assert_array_equal(gid, expected)
    np.testing.assert_array_equal(first, [0, 1, 2, 3])


@pytest.mark.parametrize("size", [10, 1 << 40])
def test_first_appearance_of_keys_changing_at_most_rows(size):
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 10, 5000) * (size // 10)  # hashing path; keys up to size
    gid, first = P._first_appearance(keys, size)
    np.testing.assert_array_equal(gid, pd.factorize(keys)[0])
    ordered = np.sort(keys)  # few changes: the sorted path, table or search
    gid, first = P._first_appearance(ordered, size)
    np.testing.assert_array_equal(gid, pd.factorize(ordered)[0])
    np.testing.assert_array_equal(first, np.unique(ordered, return_index=True)[1])


def test_arrow_codes_and_distinct_values_match_pandas():
    s = arrow_text(np.array(["b", None, "a", "b", None], dtype=object), 2)
    codes, uniques = P._factorize(s)
    expected, exp_uniques = pd.factorize(s)
    np.testing.assert_array_equal(codes, expected)
    assert uniques == list(exp_uniques)
    assert P._distinct_values(s) == ["b", None, "a"]
    assert P._distinct_values(pd.Series(["b", "a", "b"], dtype=object)) == ["b", "a"]


def test_years_kept_as_loaded_or_rebuilt_from_their_distinct_values():
    loaded = pd.Series(["2019-20", "2018-19", "2019-20"], dtype="string[pyarrow]")
    years, start = P._years(loaded)
    assert years.array is loaded.array  # canonical already: not rebuilt
    np.testing.assert_array_equal(start, [2019, 2018, 2019])
    np.testing.assert_array_equal(P._start_years(loaded), start)
    written = pd.Series(["2019/20", "2018-19", "2019/20"], dtype=object)
    rebuilt, start = P._years(written)
    assert rebuilt.tolist() == ["2019-20", "2018-19", "2019-20"]
    assert str(rebuilt.dtype) == "string"
    np.testing.assert_array_equal(start, [2019, 2018, 2019])
    with pytest.raises(ValueError, match="programme year"):
        P._start_years(pd.Series(["2019-20", "soon"], dtype="string[pyarrow]"))


def test_programme_start_year_by_lookup_matches_search():
    days = np.array(["2018-08-31", "2018-09-01", "2019-08-31", "2020-02-29", "NaT"],
                    dtype="datetime64[D]")
    day, ok = P._days(days)
    np.testing.assert_array_equal(P._programme_start_year(day, ok)[ok],
                                  [2017, 2018, 2018, 2019])


def _python_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python strings (object), which take pandas' path."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.StringDtype):
            out[col] = out[col].astype(object)
    return out


def test_tables_the_same_from_arrow_or_python_text(sample_data):
    p, a = sample_data.participants, sample_data.attendance
    q = _python_text(p)
    pairs = [
        (P.reach(p, a), P.reach(q, a)),
        (P.representation(p, sample_data.benchmarks, sample_data.services),
         P.representation(q, sample_data.benchmarks, sample_data.services)),
        (P.retention(p), P.retention(q)),
        (P.progression(p), P.progression(q)),
        (P.equity_gaps(p, a, check=False), P.equity_gaps(q, a, check=False)),
        (P.register_problems(p, a), P.register_problems(q, a)),
    ]
    for fast, slow in pairs:
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
        assert repr(fast.attrs) == repr(slow.attrs)
    year = sorted(p["year"].unique())[0]
    pd.testing.assert_frame_equal(
        P.representation(p, sample_data.benchmarks, sample_data.services, year=year),
        P.representation(q, sample_data.benchmarks, sample_data.services, year=year),
        check_exact=True)
