"""Participation tables do not depend on how ids are stored (text, pyarrow text, categorical),
and the integer-code helpers behind the national-scale linking give exact answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from changing_tracks import participation as P


def _as_category(frame: pd.DataFrame, categories=None) -> pd.DataFrame:
    out = frame.copy()
    for col in ("participant", "source_file", "source_sheet"):
        if col in out.columns:
            out[col] = (out[col].astype(pd.CategoricalDtype(categories)) if
                        col == "participant" and categories is not None
                        else out[col].astype("category"))
    return out


def _equal(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert repr(left.attrs) == repr(right.attrs)


@pytest.fixture(scope="module")
def tables(sample_data):
    """The sample's participants and registers, with register problems added: an unknown
    participant, a missing id, a session outside its participant's years, a repeated row."""
    p, a = sample_data.participants, sample_data.attendance
    extra = a.iloc[[0, 1, 2, 3]].copy()
    extra["participant"] = ["nobody", None, extra["participant"].iloc[2],
                            extra["participant"].iloc[3]]
    extra.loc[extra.index[2], "session_date"] = pd.Timestamp("2031-01-15")
    extra["source_row"] = [90001, 90002, 90003, 90004]
    return p, pd.concat([a, extra], ignore_index=True)


def _all_tables(p, a, benchmarks, services):
    rates = P.attendance_rates(p, a, check=False)
    return {
        "problems": P.register_problems(p, a),
        "rates": rates,
        "summary": P.attendance_summary(rates),
        "reach": P.reach(p, a),
        "reach by activity": P.reach(p, a, by=("service", "activity")),
        "reach by year": P.reach(p, by="year"),
        "representation": P.representation(p, benchmarks, services),
        "gaps": P.equity_gaps(p, a, check=False),
        "gaps by setting": P.equity_gaps(p, a, by=("service", "setting"), check=False,
                                         unrecorded="absent"),
    }


def test_categorical_ids_give_the_same_tables(sample_data, tables):
    p, a = tables
    expected = _all_tables(p, a, sample_data.benchmarks, sample_data.services)
    assert len(expected["problems"]) >= 4
    shared = pd.Index(sorted(set(p["participant"].dropna()) | set(a["participant"].dropna())))
    variants = {
        "register categorical": (p, _as_category(a)),
        "both categorical": (_as_category(p), _as_category(a)),
        "shared categories": (_as_category(p, shared), _as_category(a, shared)),
        "object ids": (p.assign(participant=p["participant"].astype(object)),
                       a.assign(participant=a["participant"].astype(object))),
    }
    for name, (pv, av) in variants.items():
        got = _all_tables(pv, av, sample_data.benchmarks, sample_data.services)
        for table, frame in expected.items():
            try:
                _equal(got[table], frame)
            except AssertionError as exc:  # pragma: no cover - names the failing case
                raise AssertionError(f"{name}: {table}: {exc}") from exc


def test_check_refuses_the_same_problems_with_categorical_ids(tables):
    p, a = tables
    with pytest.raises(ValueError) as plain:
        P.equity_gaps(p, a)
    with pytest.raises(ValueError) as cat:
        P.equity_gaps(_as_category(p), _as_category(a))
    assert str(plain.value) == str(cat.value)


@pytest.mark.parametrize("left_kind", ["str", "category", "object"])
@pytest.mark.parametrize("right_kind", ["str", "category", "object"])
def test_shared_codes(left_kind, right_kind):
    left = pd.Series(["x", "y", None, "z", "x"], dtype="str").astype(left_kind)
    right = pd.Series(["z", "q", None, "x", "y", "q"], dtype="str").astype(right_kind)
    lc, rc, k = P._shared_codes(left, right)
    assert k == 3
    assert list(lc) == [0, 1, -1, 2, 0]
    # each register id gets its participant's code; unknown and missing ids get -1
    assert list(rc) == [2, -1, -1, 0, 1, -1]


def test_shared_codes_numbers_and_empty_columns():
    lc, rc, k = P._shared_codes(pd.Series([30, 40, 30]), pd.Series([40, 50]))
    assert (list(lc), list(rc), k) == ([0, 1, 0], [1, -1], 2)
    lc, rc, k = P._shared_codes(pd.Series([], dtype="str"), pd.Series(["a"], dtype="str"))
    assert (list(lc), list(rc), k) == ([], [-1], 0)


def test_distinct_cells_by_counting_and_by_hashing():
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 50, size=200)
    expected = np.unique(cells)
    np.testing.assert_array_equal(P._distinct_cells(cells, 50), expected)
    # far more possible cells than values: hashed instead of counted
    sparse = cells * 10 ** 8
    np.testing.assert_array_equal(P._distinct_cells(sparse, 50 * 10 ** 8), expected * 10 ** 8)


def test_sessions_delivered_with_dates_far_apart():
    p = pd.DataFrame({"participant": ["a", "b"], "service": ["s1", "s2"],
                      "year": ["1990-91", "2030-31"], "activity": "ensemble"})
    a = pd.DataFrame({"participant": ["a", "a", "b"],
                      "session_date": pd.to_datetime(["1990-10-01", "1990-10-01", "2030-10-01"]),
                      "attended": [True, False, True]})
    r = P.reach(p, a, pooled=True)
    assert r["sessions_delivered"].tolist() == [1, 1, 1, 1]
    assert r["attendances"].tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_quantiles_equal_pandas(seed):
    rng = np.random.default_rng(seed)
    size = 40
    gid = rng.integers(0, size - 3, size=2000)  # the last groups are empty
    gid[5] = size - 3  # and one group has a single value
    values = np.round(rng.random(2000), 2)  # many ties
    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    got = P._group_quantiles(gid, values, np.argsort(values, kind="stable"), size, qs)
    expected = (pd.Series(values).groupby(gid).quantile(list(qs)).unstack()
                .reindex(index=range(size), columns=list(qs)).to_numpy())
    np.testing.assert_array_equal(got, expected)
    empty = P._group_quantiles(gid[:0], values[:0], np.zeros(0, dtype=np.int64), 3, qs)
    assert np.isnan(empty).all() and empty.shape == (3, 5)


@pytest.mark.parametrize("shared_ids", [False, True])
def test_continuing_by_table_and_by_hashing(shared_ids):
    """Dense table (one row per id and year) and hash lookup (an id in two services in the
    same year) agree with a plain merge on (service, participant, previous year)."""
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"service": rng.choice(["s1", "s2", None], n),
                          "participant": rng.integers(0, 150, n).astype(str),
                          "start": rng.choice([2018, 2019, 2020], n)})
    if not shared_ids:
        frame = frame.drop_duplicates(["participant", "start"]).reset_index(drop=True)
    svc = pd.factorize(frame["service"])[0]
    pid, uniques = pd.factorize(frame["participant"])
    got = P._continuing(svc, pid, len(uniques), frame["start"].to_numpy())
    previous = frame.assign(start=frame["start"] + 1, found=True).drop_duplicates(
        ["service", "participant", "start"])
    merged = frame.merge(previous, on=["service", "participant", "start"], how="left")
    np.testing.assert_array_equal(got, merged["found"].fillna(False).to_numpy(dtype=bool))
