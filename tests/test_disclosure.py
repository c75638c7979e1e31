"""Tests for changing_tracks.disclosure: suppression, rounding, identifiers, figures.

The property tests check protection independently of the module: from the
*published* table alone they set up the linear constraints a reader could use
(rows and columns add up to the published totals, hidden cells unknown and
non-negative) and solve, with scipy's linprog, for the smallest and largest value
each hidden cell could take - its protection interval. A hidden cell is protected
when that interval has positive width.
"""

from __future__ import annotations

import copy
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.optimize import linprog  # noqa: E402

from changing_tracks.disclosure import (  # noqa: E402
    DisclosureError,
    DisclosurePolicy,
    check_no_identifiers,
    figure_groups,
    identifier_columns,
    round_half_up,
    suppress,
    suppress_crosstab,
    suppression_mask,
)

PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------
# An independent reader: protection intervals from the published numbers
# --------------------------------------------------------------------------

def protection_intervals(display: pd.DataFrame, policy: DisclosurePolicy,
                         lower: float = 0.0, known_totals: dict | None = None) -> dict:
    """(min, max) of every hidden cell of a published cross-tab, by linear programming.

    ``display`` is an R x C table of cells, plus a last row and column of totals
    unless ``known_totals`` gives them (``{"rows": [...], "cols": [...], "grand": g}``,
    None for a total the reader does not know). Constraints: cells of each row add
    up to the row total, of each column to the column total, and the row totals
    and column totals to the grand total; unknowns >= ``lower``; cells shown with
    the policy's ``low_symbol`` lie in 1..threshold-1.
    """
    symbols = {policy.symbol, policy.low_symbol} - {None}
    grid = display.to_numpy(dtype=object)
    if known_totals is None:
        r, c = grid.shape[0] - 1, grid.shape[1] - 1
        full = grid
    else:
        r, c = grid.shape
        full = np.empty((r + 1, c + 1), dtype=object)
        full[:r, :c] = grid
        for i, v in enumerate(known_totals["rows"]):
            full[i, c] = "?" if v is None else v
        for j, v in enumerate(known_totals["cols"]):
            full[r, j] = "?" if v is None else v
        g = known_totals["grand"]
        full[r, c] = "?" if g is None else g
    unknown = {}
    bounds = []
    for i in range(r + 1):
        for j in range(c + 1):
            x = full[i, j]
            if isinstance(x, str):
                unknown[(i, j)] = len(bounds)
                if policy.low_symbol is not None and x == policy.low_symbol:
                    bounds.append((1, policy.threshold - 1))
                elif x in symbols:
                    bounds.append((lower, None))
                else:  # a total the reader does not know
                    bounds.append((0, None))
    if not unknown:
        return {}

    def equation(cells_plus, cells_minus):
        row = np.zeros(len(bounds))
        const = 0.0
        for cells, sign in ((cells_plus, 1.0), (cells_minus, -1.0)):
            for cell in cells:
                if cell in unknown:
                    row[unknown[cell]] += sign
                else:
                    const += sign * float(full[cell])
        return row, -const

    eqs = [equation([(i, j) for j in range(c)], [(i, c)]) for i in range(r)]
    eqs += [equation([(i, j) for i in range(r)], [(r, j)]) for j in range(c)]
    eqs.append(equation([(r, j) for j in range(c)], [(r, c)]))
    eqs.append(equation([(i, c) for i in range(r)], [(r, c)]))
    a = np.array([e[0] for e in eqs])
    b = np.array([e[1] for e in eqs])
    out = {}
    for cell, k in unknown.items():
        if not isinstance(full[cell], str) or full[cell] not in symbols:
            continue  # unknown totals need no protection themselves
        obj = np.zeros(len(bounds))
        obj[k] = 1
        lo = linprog(obj, A_eq=a, b_eq=b, bounds=bounds, method="highs")
        hi = linprog(-obj, A_eq=a, b_eq=b, bounds=bounds, method="highs")
        assert lo.status == 0, "the published table must be consistent"
        out[cell] = (lo.fun, np.inf if hi.status == 3 else -hi.fun)
    return out


def recoverable(intervals: dict) -> dict:
    """Hidden cells whose protection interval has zero width."""
    return {cell: iv for cell, iv in intervals.items() if not iv[1] - iv[0] > 1e-6}


def assert_protected(intervals: dict) -> None:
    narrow = recoverable(intervals)
    assert not narrow, f"hidden cells recoverable: {narrow}"


# --------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------

def test_policy_defaults_and_config_round_trip():
    p = DisclosurePolicy()
    assert (p.threshold, p.suppress_zeros, p.rounding_base, p.symbol, p.low_symbol) == (
        10, False, None, "c", None)
    q = DisclosurePolicy.from_config({"threshold": 7, "rounding_base": 5, "symbol": "*"})
    assert q == DisclosurePolicy(threshold=7, rounding_base=5, symbol="*")
    assert DisclosurePolicy.from_config(q.to_dict()) == q
    assert DisclosurePolicy.from_config(None) == p
    assert DisclosurePolicy.from_config({}) == p
    # TOML has no null: 0 and "" mean "none".
    assert DisclosurePolicy.from_config({"rounding_base": 0, "low_symbol": ""}) == p


def test_policy_refuses_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="'treshold'.*'colour'"):
        DisclosurePolicy.from_config({"treshold": 5, "colour": "red"})
    for bad in ({"threshold": -1}, {"threshold": 2.5}, {"threshold": True},
                {"rounding_base": 2.5}, {"symbol": ""}, {"suppress_zeros": "no"},
                {"low_symbol": "c"}):
        with pytest.raises(ValueError):
            DisclosurePolicy.from_config(bad)
    with pytest.raises(Exception):  # frozen
        DisclosurePolicy().threshold = 5  # type: ignore[misc]


def test_policy_is_sensitive():
    counts = [0, 1, 9, 10, 40, np.nan]
    assert DisclosurePolicy().is_sensitive(counts).tolist() == [False, True, True, False, False,
                                                                False]
    assert DisclosurePolicy(suppress_zeros=True).is_sensitive(counts).tolist() == [
        True, True, True, False, False, False]
    assert DisclosurePolicy(threshold=8).is_sensitive([7, 8]).tolist() == [True, False]


def test_describe_states_the_rules():
    text = DisclosurePolicy().describe()
    assert "below 10" in text and '"c"' in text and "Zeros are shown" in text
    assert "percentages" in text and "totals" in text
    text = DisclosurePolicy(threshold=5, rounding_base=5, suppress_zeros=True,
                            symbol="*").describe(people="pupils")
    assert "below 5 (including zeros)" in text and '"*"' in text and "pupils" in text
    assert "nearest 5" in text and "Zeros are shown" not in text
    assert '"<10"' in DisclosurePolicy(low_symbol="<10").describe()
    assert "No numbers" in DisclosurePolicy(threshold=0).describe()


# --------------------------------------------------------------------------
# Rounding
# --------------------------------------------------------------------------

@pytest.mark.parametrize("value, base, expected", [
    (2.5, 1, 3), (3.5, 1, 4), (2.4, 1, 2), (7.5, 5, 10), (12.5, 5, 15), (2, 5, 0),
    (2.5, 5, 5), (13, 5, 15), (12, 5, 10), (0, 5, 0), (13, 2, 14), (-2.5, 1, -3),
])
def test_round_half_up(value, base, expected):
    assert round_half_up(value, base) == expected


def test_round_half_up_is_not_pythons_round():
    assert round(2.5) == 2 and round_half_up(2.5) == 3  # half to even vs half up
    assert round_half_up(0.15, 0.1) == pytest.approx(0.2)  # binary 0.15 is 0.1499999...
    arr = round_half_up(np.array([0.5, 1.5, np.nan]))
    np.testing.assert_array_equal(arr, [1.0, 2.0, np.nan])
    s = round_half_up(pd.Series([2.5, None, 7.5], index=[3, 4, 5]), 5)
    assert s.dtype == "Int64" and s.index.tolist() == [3, 4, 5]
    assert s.tolist()[0] == 5 and s.isna().tolist() == [False, True, False] and s[5] == 10
    with pytest.raises(ValueError):
        round_half_up(3, 0)


# --------------------------------------------------------------------------
# Cross-tabs: hand-worked examples
# --------------------------------------------------------------------------

def test_crosstab_hand_worked():
    # 3 (x, b) is below 10. Row x then has one hidden cell, so its next smallest
    # cell (12) is hidden; columns a and b then need a second hidden cell each
    # (15 and 14), after which every row and column has two.
    wide = pd.DataFrame({"a": [12, 15], "b": [3, 14], "c": [20, 11]}, index=["x", "y"])
    before = wide.copy()
    out = suppress_crosstab(wide)
    pd.testing.assert_frame_equal(wide, before)
    assert out.values.tolist() == [["c", "c", 20, 35], ["c", "c", 11, 40], [27, 17, 31, 75]]
    assert out.index.tolist() == ["x", "y", "Total"]
    assert out.columns.tolist() == ["a", "b", "c", "Total"]
    assert out.attrs["footnote"] == DisclosurePolicy().describe()
    info = out.attrs["disclosure"]
    assert (info["primary_counts"], info["secondary_counts"]) == (1, 3)
    # By hand: x_b = t gives x_a = 15 - t, y_b = 17 - t, y_a = 12 + t, all >= 0
    # -> t in [0, 15]; a reader who knows hidden counts are >= 1 gets [1, 14].
    iv = protection_intervals(out, DisclosurePolicy())
    assert iv[(0, 1)] == pytest.approx((0, 15))
    assert protection_intervals(out, DisclosurePolicy(), lower=1)[(0, 1)] == pytest.approx((1, 14))
    mask = suppression_mask(out)
    assert mask.values.tolist() == [[True, True, False, False], [True, True, False, False],
                                    [False] * 4]


def test_crosstab_counts_shown_zeros_bound_hidden_cells():
    # Row x = [1, 1, 15 | 17]. The usual rule (two hidden cells per row and column)
    # stops at hiding 1, 1, 20, 30; but zeros are shown, so a reader knows each
    # hidden count is >= 1 and 1 + 1 = 17 - 15 pins both at 1. The exact check
    # hides 15 too (and then 25 for column c).
    wide = pd.DataFrame({"a": [1, 20], "b": [1, 30], "c": [15, 25]}, index=["x", "y"])
    out = suppress_crosstab(wide)
    assert out.values.tolist() == [["c", "c", "c", 17], ["c", "c", "c", 75], [21, 31, 40, 92]]
    assert_protected(protection_intervals(out, DisclosurePolicy(), lower=1))


def test_crosstab_accepts_existing_margins_and_checks_them():
    wide = pd.DataFrame({"a": [12, 15], "b": [3, 14], "c": [20, 11]}, index=["x", "y"])
    with_margins = wide.copy()
    with_margins["Total"] = wide.sum(axis=1)
    with_margins.loc["Total"] = with_margins.sum()
    out = suppress_crosstab(with_margins)
    assert out.values.tolist() == suppress_crosstab(wide).values.tolist()
    broken = with_margins.copy()
    broken.loc["x", "Total"] = 36
    with pytest.raises(ValueError, match="do not equal"):
        suppress_crosstab(broken)
    with pytest.raises(ValueError, match="margins=False"):
        suppress_crosstab(with_margins, margins=False)
    with pytest.raises(ValueError, match="whole numbers"):
        suppress_crosstab(wide.assign(a=[-1, 2]))
    with pytest.raises(ValueError, match="missing"):
        suppress_crosstab(wide.astype(float).assign(a=[np.nan, 2.0]))


def test_crosstab_rounding_and_low_symbol():
    wide = pd.DataFrame({"a": [12, 15], "b": [3, 14], "c": [22, 11]}, index=["x", "y"])
    out = suppress_crosstab(wide, {"rounding_base": 5, "low_symbol": "<10"})
    # Hidden cells as before, 3 shows the range; visible counts rounded half up
    # (22 -> 20, 11 -> 10, 37 -> 35, 27 -> 25, 17 -> 15, 33 -> 35, 77 -> 75).
    assert out.values.tolist() == [["c", "<10", 20, 35], ["c", "c", 10, 40], [25, 15, 35, 75]]
    assert "nearest 5" in out.attrs["footnote"]


def test_crosstab_without_margins_assumes_large_totals_known():
    wide = pd.DataFrame({"a": [12, 15], "b": [3, 14], "c": [20, 11]}, index=["x", "y"])
    out = suppress_crosstab(wide, margins=False)
    assert out.shape == (2, 3)
    assert out.values.tolist() == [["c", "c", 20], ["c", "c", 11]]


# --------------------------------------------------------------------------
# Cross-tabs: properties on random tables
# --------------------------------------------------------------------------

POLICIES = [DisclosurePolicy(), DisclosurePolicy(suppress_zeros=True),
            DisclosurePolicy(threshold=5), DisclosurePolicy(low_symbol="<10")]


@st.composite
def crosstabs(draw):
    r = draw(st.integers(2, 5))
    c = draw(st.integers(2, 5))
    cell = st.one_of(st.integers(0, 9), st.integers(0, 40))  # many small counts
    values = draw(st.lists(cell, min_size=r * c, max_size=r * c))
    return pd.DataFrame(np.array(values, dtype=np.int64).reshape(r, c),
                        index=[f"r{i}" for i in range(r)], columns=[f"c{j}" for j in range(c)])


def _lower(policy: DisclosurePolicy) -> float:
    """What a reader knows about a hidden count: >= 1 when zeros are shown."""
    return 0.0 if policy.suppress_zeros else 1.0


def _check_visible(out: pd.DataFrame, full: np.ndarray, policy: DisclosurePolicy) -> None:
    grid = out.to_numpy(dtype=object)
    for (i, j), x in np.ndenumerate(grid):
        if isinstance(x, str):
            assert x in {policy.symbol, policy.low_symbol}
            if x == policy.low_symbol:
                assert 1 <= full[i, j] < policy.threshold
            if not policy.suppress_zeros:
                assert full[i, j] > 0, "shown zeros are never hidden"
        else:
            assert x == full[i, j], "visible counts are published unchanged"
            assert x >= policy.threshold or (x == 0 and not policy.suppress_zeros), (
                f"visible count {x} is below the threshold")


@PROPERTY
@given(wide=crosstabs(), policy=st.sampled_from(POLICIES))
def test_crosstab_property_no_small_counts_and_no_recoverable_cells(wide, policy):
    before = wide.copy()
    out = suppress_crosstab(wide, policy)
    pd.testing.assert_frame_equal(wide, before)
    x = wide.to_numpy()
    full = np.zeros((x.shape[0] + 1, x.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = x
    full[:-1, -1] = x.sum(axis=1)
    full[-1, :-1] = x.sum(axis=0)
    full[-1, -1] = x.sum()
    _check_visible(out, full, policy)
    # When zeros are shown a reader knows hidden cells are >= 1; protection against
    # that reader implies protection with cells >= 0 (a larger feasible set).
    assert_protected(protection_intervals(out, policy, lower=_lower(policy)))
    assert suppression_mask(out).to_numpy().sum() == out.attrs["disclosure"]["hidden_cells"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide=crosstabs(), policy=st.sampled_from(POLICIES))
def test_crosstab_property_without_margins(wide, policy):
    # Documented assumption: a total not shown here is known to the reader unless
    # it is small itself (then it is hidden wherever it is published). Such
    # outside totals can give a cell away whatever this table hides (e.g. a
    # column [0, 5] whose total 5 is published elsewhere): the function must then
    # say so.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = suppress_crosstab(wide, policy, margins=False)
    unprotected = out.attrs["disclosure"]["unprotected_counts"]
    assert (unprotected > 0) == any("could still be worked out" in str(w.message)
                                    for w in caught)
    x = wide.to_numpy()

    def known(v):
        return None if policy.is_sensitive([v])[0] else int(v)

    totals = {"rows": [known(v) for v in x.sum(axis=1)],
              "cols": [known(v) for v in x.sum(axis=0)], "grand": known(x.sum())}
    _check_visible(out, x, policy)
    narrow = recoverable(protection_intervals(out, policy, lower=_lower(policy),
                                              known_totals=totals))
    assert len(narrow) <= unprotected, f"recoverable and not reported: {narrow}"


def test_crosstab_without_margins_warns_when_outside_totals_give_a_cell_away():
    wide = pd.DataFrame({"c0": [0, 1], "c1": [0, 5]}, index=["r0", "r1"])
    with pytest.warns(UserWarning, match="could still be worked out"):
        out = suppress_crosstab(wide, DisclosurePolicy(threshold=5), margins=False)
    assert out.values.tolist() == [[0, 0], ["c", "c"]]
    assert out.attrs["disclosure"]["unprotected_counts"] >= 1


def _tidy(wide: pd.DataFrame) -> pd.DataFrame:
    """Long form of a cross-tab with 'all' rows for the totals both ways."""
    full = wide.copy()
    full["all"] = wide.sum(axis=1)
    full.loc["all"] = full.sum()
    long = full.rename_axis(index="service", columns="group").stack().rename("n").reset_index()
    long["pct"] = 100 * long["n"] / long.groupby("service")["n"].transform("max")
    return long.sample(frac=1, random_state=1).reset_index(drop=True)  # order must not matter


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide=crosstabs(), policy=st.sampled_from(POLICIES))
def test_tidy_property_two_way_groups(wide, policy):
    long = _tidy(wide)
    before = long.copy()
    out = suppress(long, policy, derived={"pct": "n"}, groups=[["service"], ["group"]],
                   total={"service": "all", "group": "all"})
    pd.testing.assert_frame_equal(long, before)
    assert list(out.columns) == list(long.columns) and out.index.equals(long.index)
    # Percentages are hidden exactly where their count is.
    hidden_n = out["n"].isin([policy.symbol, policy.low_symbol])
    assert ((out["pct"] == policy.symbol) == hidden_n).all()
    display = out.pivot(index="service", columns="group", values="n")
    rows = [*wide.index, "all"]
    cols = [*wide.columns, "all"]
    display = display.loc[rows, cols]
    full = long.pivot(index="service", columns="group", values="n").loc[rows, cols].to_numpy()
    _check_visible(display, full, policy)
    assert_protected(protection_intervals(display, policy, lower=_lower(policy)))


# --------------------------------------------------------------------------
# Tidy tables: hand-worked examples
# --------------------------------------------------------------------------

def test_derived_statistics_hidden_with_their_counts():
    t = pd.DataFrame({
        "service": ["herts", "essex", "hull"],
        "n": pd.array([25, 6, 12], dtype="Int64"),
        "mean": [51.2, 47.0, 49.5],
        "sd": [6.1, 8.0, 7.2],
        "ci_low": [48.7, 38.6, 44.9],
        "ci_high": [53.7, 55.4, 54.1],
    })
    before = t.copy()
    out = suppress(t, derived={s: "n" for s in ("mean", "sd", "ci_low", "ci_high")})
    pd.testing.assert_frame_equal(t, before)
    assert out.loc[1, ["n", "mean", "sd", "ci_low", "ci_high"]].tolist() == ["c"] * 5
    assert out.loc[0, ["n", "mean", "sd"]].tolist() == [25, 51.2, 6.1]
    assert out.loc[2, "n"] == 12 and out.loc[2, "ci_high"] == 54.1
    assert out["service"].tolist() == ["herts", "essex", "hull"]
    assert out["n"].dtype == object
    assert out.attrs["footnote"] == DisclosurePolicy().describe()
    # Default: float columns rest on every count column -> same result here.
    assert suppress(t).equals(out)


def test_percentage_hidden_with_its_numerator_and_complement():
    t = pd.DataFrame({"characteristic": ["fsm", "sen_support", "looked_after"],
                      "n": [40, 40, 40], "n_with": [36, 12, 3],
                      "pct": [90.0, 30.0, 7.5], "population_share": [0.246, 0.136, 0.01]})
    out = suppress(t, derived={"pct": ["n", "n_with"]}, keep=["population_share"])
    assert out["n_with"].tolist() == [36, 12, "c"]
    assert out["pct"].tolist() == [90.0, 30.0, "c"]
    assert out["population_share"].tolist() == [0.246, 0.136, 0.01]
    # 36 of 40 reveals that 4 do not have the characteristic: declare the complement.
    out = suppress(t, derived={"pct": ["n", "n_with"]}, keep=["population_share"],
                   complements={"n_with": "n"})
    assert out["n_with"].tolist() == ["c", 12, "c"]
    assert out["pct"].tolist() == ["c", 30.0, "c"]
    assert out["n"].tolist() == [40, 40, 40]


def test_within_row_parts_of_a_whole():
    t = pd.DataFrame({"service": ["a", "b"], "n_paired": [30, 24],
                      "n_improved": [18, 12], "n_same": [4, 0], "n_declined": [8, 12]})
    out = suppress(t, sums={"n_paired": ["n_improved", "n_same", "n_declined"]}, derived={})
    # Row a: 4 hidden, then the next smallest part (8); row b: nothing small, zero shown.
    assert out.loc[0].tolist() == ["a", 30, 18, "c", "c"]
    assert out.loc[1].tolist() == ["b", 24, 12, 0, 12]
    # Zeros hidden too: row b's 0 and then the next smallest part (12, the first).
    out = suppress(t, {"suppress_zeros": True},
                   sums={"n_paired": ["n_improved", "n_same", "n_declined"]}, derived={})
    assert out.loc[1].tolist() == ["b", 24, "c", "c", 12]


def test_complement_zero_hidden_when_zeros_are():
    # 12 of 12 with the characteristic says no one is without it.
    t = pd.DataFrame({"n": [12, 30], "n_with": [12, 14], "pct": [100.0, 46.7]})
    out = suppress(t, {"suppress_zeros": True}, complements={"n_with": "n"})
    assert out["n_with"].tolist() == ["c", 14] and out["pct"].tolist() == ["c", 46.7]
    assert suppress(t, complements={"n_with": "n"})["n_with"].tolist() == [12, 14]


def test_groups_with_total_rows_and_unshown_category():
    # Ethnic groups of one service; 'unknown' is not a row: the total (50) is more
    # than the sum of the categories (46), and the 4 unknowns are protected too.
    t = pd.DataFrame({"service": ["a"] * 4, "ethnicity": ["asian", "black", "white", "all"],
                      "n": [12, 14, 20, 50]})
    out = suppress(t, groups=["service"], total={"ethnicity": "all"})
    assert out["n"].tolist() == ["c", 14, 20, 50]  # 12 hidden with the unshown 4
    # Without the unknowns nothing is small.
    t2 = t.assign(n=[12, 14, 20, 46])
    assert suppress(t2, groups=["service"], total={"ethnicity": "all"})["n"].tolist() == [
        12, 14, 20, 46]


def test_groups_without_total_row_use_the_total_published_elsewhere():
    t = pd.DataFrame({"service": ["a", "a", "a", "b", "b"],
                      "sex": ["female", "male", "not recorded", "female", "male"],
                      "n": [20, 3, 15, 4, 5]})
    out = suppress(t, groups=["service"])
    # Service a: 3 hidden, next smallest 15 too; service b's total (9) is itself
    # small, so hiding 4 and 5 is enough.
    assert out["n"].tolist() == [20, "c", "c", "c", "c"]


def test_groups_errors():
    t = pd.DataFrame({"service": ["a"] * 6,
                      "wave": ["baseline"] * 3 + ["follow-up"] * 3,
                      "ethnicity": ["asian", "white", "all"] * 2,
                      "n": [12, 15, 27, 11, 20, 31]})
    with pytest.raises(ValueError, match="total rows.*wave"):
        suppress(t, groups=["service"], total={"ethnicity": "all"})
    ok = suppress(t, groups=["service", "wave"], total={"ethnicity": "all"})
    assert ok["n"].tolist() == [12, 15, 27, 11, 20, 31]
    with pytest.raises(ValueError, match="names each category once"):
        suppress(t[t["ethnicity"] != "all"], groups=["service"])
    with pytest.raises(ValueError, match="smaller than the sum"):
        suppress(t.assign(n=[12, 15, 20, 11, 20, 31]), groups=["service", "wave"],
                 total={"ethnicity": "all"})
    with pytest.raises(ValueError, match="'nope'"):
        suppress(t, groups=["nope"])


def test_suppress_validates_inputs():
    t = pd.DataFrame({"service": ["a"], "n": [12], "mean": [3.0]})
    with pytest.raises(ValueError, match="no count columns"):
        suppress(t.drop(columns="n"))
    with pytest.raises(ValueError, match="whole numbers"):
        suppress(t.assign(n=[-2]))
    with pytest.raises(ValueError, match="whole numbers"):
        suppress(t.assign(n=[2.5]))
    with pytest.raises(ValueError, match="whole numbers"):
        suppress(t, counts=["service"])
    with pytest.raises(ValueError, match="derived"):
        suppress(t, derived={"mean": "n_missing"})
    with pytest.raises(ValueError, match="add up to 12"):
        suppress(pd.DataFrame({"n": [10], "n_a": [12]}), sums={"n": ["n_a"]})
    with pytest.raises(ValueError, match="complements"):
        suppress(pd.DataFrame({"n": [10], "n_a": [12]}), complements={"n_a": "n"})
    with pytest.raises(ValueError, match="DataFrame"):
        suppress([1, 2, 3])  # type: ignore[arg-type]


def test_suppress_rounding_missing_and_policy_mapping():
    t = pd.DataFrame({"service": list("abcde"),
                      "n": pd.array([11, 13, 27, None, 4], dtype="Int64"),
                      "mean": [1.0, 2.0, 3.0, np.nan, 5.0]})
    out = suppress(t, {"rounding_base": 2}, derived={"mean": "n"})
    # 13 -> 14 half up (Python's round would give 12), 27 -> 28, 11 -> 12.
    assert out["n"].tolist()[:3] == [12, 14, 28]
    assert out["n"].isna().tolist() == [False, False, False, True, False]
    assert out["n"].tolist()[4] == "c"
    assert out["mean"].tolist()[:3] == [1.0, 2.0, 3.0]
    assert out["mean"].tolist()[3:] == ["c", "c"]  # missing base: not published
    zeros = suppress(pd.DataFrame({"n": [0, 15]}), {"suppress_zeros": True})
    assert zeros["n"].tolist() == ["c", 15]


def test_suppress_empty_table_and_mask():
    empty = pd.DataFrame({"service": pd.Series([], dtype="str"), "n": pd.Series([], dtype=int)})
    out = suppress(empty)
    assert out.empty and list(out.columns) == ["service", "n"]
    assert "footnote" in out.attrs
    t = pd.DataFrame({"service": ["c", "b"], "n": [3, 30], "mean": [1.5, 2.5]})
    out = suppress(t)
    mask = suppression_mask(out)
    # The label "c" in the service column is not a hidden cell.
    assert mask.values.tolist() == [[False, True, True], [False, False, False]]


def test_attrs_are_copied_not_shared():
    t = pd.DataFrame({"n": [3, 30]})
    t.attrs["source"] = "wellbeing"
    original_attrs = copy.deepcopy(t.attrs)
    out = suppress(t)
    assert t.attrs == original_attrs
    assert out.attrs["source"] == "wellbeing" and "footnote" in out.attrs


# --------------------------------------------------------------------------
# Property: derived statistics on random tidy tables
# --------------------------------------------------------------------------

@PROPERTY
@given(ns=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=8),
       policy=st.sampled_from(POLICIES))
def test_property_visible_statistics_rest_on_visible_large_counts(ns, policy):
    n = [a + b for a, b in ns]
    n_with = [a for a, _ in ns]
    t = pd.DataFrame({"group": [f"g{i}" for i in range(len(ns))], "n": n, "n_with": n_with,
                      "pct": [100 * a / m if m else np.nan for a, m in zip(n_with, n)]})
    out = suppress(t, policy, derived={"pct": ["n", "n_with"]}, complements={"n_with": "n"})
    for i in range(len(t)):
        if out.loc[i, "pct"] != policy.symbol:
            for col in ("n", "n_with"):
                x = out.loc[i, col]
                assert not isinstance(x, str)
                assert x >= policy.threshold or (x == 0 and not policy.suppress_zeros)
            rest = n[i] - n_with[i]  # the complement is protected too
            assert not policy.is_sensitive([rest])[0]


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

def test_figure_groups():
    t = pd.DataFrame({"service": ["herts", "hull", "essex", "norfolk"],
                      "n": [25, 6, 12, 3], "mean": [1.0, 2.0, 3.0, 4.0]})
    res = figure_groups(t, by="service")
    assert res.shown["service"].tolist() == ["herts", "essex"]
    assert res.omitted == ["hull", "norfolk"]
    assert res.note == "2 services with fewer than 10 young people are not shown (hull, norfolk)."
    shown, omitted, note = figure_groups(t.iloc[[0, 2]])
    assert len(shown) == 2 and omitted == [] and note == ""
    one = figure_groups(t, DisclosurePolicy(threshold=5), by="service",
                        noun=("music service", "music services"))
    assert one.note == "1 music service with fewer than 5 young people is not shown (norfolk)."
    # A service is left out entirely if any of its rows is small.
    waves = pd.DataFrame({"service": ["a", "a", "b", "b"], "wave": ["baseline", "follow-up"] * 2,
                          "n": [20, 8, 15, 12]})
    assert figure_groups(waves, by="service").shown["service"].tolist() == ["b", "b"]
    assert figure_groups(waves).note == "1 group with fewer than 10 young people is not shown."


# --------------------------------------------------------------------------
# Privacy of inputs
# --------------------------------------------------------------------------

@pytest.mark.parametrize("header, reason", [
    ("Full name", "name"), ("Name", "name"), ("First name", "name"), ("Surname", "name"),
    ("Forename", "name"), ("Pupil name", "name"), ("FirstName", "name"),
    ("DOB", "birth"), ("D.O.B.", "birth"), ("Date of birth", "birth"), ("Birth date", "birth"),
    ("Post code", "postcode"), ("Postcode", "postcode"), ("E-mail", "email"),
    ("Email address", "email"), ("Parent email", "email"), ("Phone", "phone"),
    ("Mobile number", "phone"), ("Telephone", "phone"), ("Home address", "address"),
    ("Address line 1", "address"), ("UPN", "UPN"), ("Unique pupil number", "UPN"),
    ("NHS number", "NHS"),
])
def test_identifier_columns_found(header, reason):
    found = identifier_columns([header])
    assert len(found) == 1 and found[0][0] == header and reason in found[0][1]


@pytest.mark.parametrize("header", [
    "participant", "Participant ID", "service", "Service name", "School name", "date",
    "Session date", "Instrument name", "Saxophone", "Headphones", "Microphone", "year group",
    "ethnicity", "age", "rater", "comment", "WEMWBS 1", "status", "Number of pupils",
])
def test_identifier_columns_not_flagged(header):
    assert identifier_columns([header]) == []


def test_identifier_columns_allowed_and_order():
    headers = ["service", "name", "Full name", "DOB", "date"]
    assert identifier_columns(headers) == [
        ("name", "a person's name"), ("Full name", "a person's name"), ("DOB", "a date of birth")]
    # services.name is the service's name: the loader says so with `allowed`.
    assert [h for h, _ in identifier_columns(headers, allowed=["name"])] == ["Full name", "DOB"]
    assert identifier_columns(headers, allowed=["Name", "full-name", "d.o.b"]) == []


def test_check_no_identifiers_tables():
    ids = ["P001", "P002", "17"]
    clean = pd.DataFrame({"service": ["a", "b"], "n": [17, 30], "note": ["", "17 young people"]})
    check_no_identifiers(clean, ids)  # numbers equal to numeric ids are counts, not ids
    leaky = clean.assign(note=["", "excluding P002 (moved)"])
    with pytest.raises(DisclosureError, match="P002.*note"):
        check_no_identifiers(leaky, ids)
    with pytest.raises(DisclosureError, match="'17'"):
        check_no_identifiers(clean.assign(note=["", "17"]), ids)
    with pytest.raises(DisclosureError, match="participant id column"):
        check_no_identifiers(pd.DataFrame({"participant": ["X9"], "n": [12]}), ids)
    indexed = pd.DataFrame({"n": [12]}, index=pd.Index(["P001"], name="who"))
    with pytest.raises(DisclosureError, match="index"):
        check_no_identifiers(indexed, ids)
    attrs = clean.copy()
    attrs.attrs["note"] = "outlier P001 removed"
    with pytest.raises(DisclosureError):
        check_no_identifiers(attrs, ids)
    # Ids inside longer tokens are not matches ("P0012" is not "P001").
    check_no_identifiers(clean.assign(note=["", "code P0012"]), ids)
    assert isinstance(DisclosureError("x"), ValueError)


def test_check_no_identifiers_figures():
    fig, ax = plt.subplots()
    ax.bar(["herts", "essex"], [3, 4])
    ax.set_title("Mean change")
    check_no_identifiers(fig, ["P001"])
    ax.annotate("P001", (0, 3))
    with pytest.raises(DisclosureError, match="P001"):
        check_no_identifiers(fig, ["P001"], what="wellbeing figure")
    with pytest.raises(ValueError, match="DataFrame or a matplotlib Figure"):
        check_no_identifiers("text", ["P001"])


def test_check_no_identifiers_finds_tick_labels_written_only_when_drawn():
    # categories of a bar chart become tick labels only when the figure is drawn
    fig, ax = plt.subplots()
    ax.bar(["P001", "P002"], [3, 4])
    with pytest.raises(DisclosureError, match="P001"):
        check_no_identifiers(fig, ["P001"])
    plt.close(fig)


def test_missing_count_is_not_applicable_but_all_missing_hides():
    table = pd.DataFrame({"measure": ["attendance", "retention", "unknown"],
                          "n": [25.0, 25.0, float("nan")],
                          "n_outcome": [float("nan"), 4.0, float("nan")],
                          "estimate": [0.8, 0.16, 0.5]})
    out = suppress(table, counts=["n", "n_outcome"],
                   derived={"estimate": ["n", "n_outcome"]})
    assert out.loc[0, "estimate"] == 0.8  # outcome count not applicable: rests on n = 25
    assert out.loc[1, "estimate"] == "c"  # rests on a hidden count of 4
    assert out.loc[2, "estimate"] == "c"  # nothing it rests on is known
