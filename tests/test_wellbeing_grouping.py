"""The quick paths behind national-scale wellbeing scoring and pairing give exactly
pandas' answers: people grouped in sorted (service, year, participant) order, item totals
summed column by column, constant text columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .conftest import arrow_text

from changing_tracks import wellbeing as W
from changing_tracks.contracts import SWEMWBS_ITEMS, WEMWBS_ITEMS


@pytest.mark.parametrize("seed", range(30))
def test_sorted_group_ids_as_pandas(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 1500))
    cols = {}
    for name, k in (("service", 4), ("year", 3), ("participant", 1 + seed * 20)):
        v = rng.integers(0, k, n).astype(str).astype(object)
        v[rng.random(n) < 0.05] = None
        cols[name] = arrow_text(v, 1 + seed % 3)
    frame = pd.DataFrame(cols)
    expected = frame.groupby(list(frame.columns), dropna=False, sort=True).ngroup()
    np.testing.assert_array_equal(W._sorted_group_ids(frame), expected.to_numpy())


def test_sorted_group_ids_of_other_columns_go_to_pandas():
    frame = pd.DataFrame({"service": ["b", None, "a", "b"], "participant": [2, 1, 1, 2]})
    expected = frame.groupby(["service", "participant"], dropna=False, sort=True).ngroup()
    np.testing.assert_array_equal(W._sorted_group_ids(frame), expected.to_numpy())


def test_repeated_text_as_spreadarrow_text():
    a, b = W._repeated_str("x y", 4), W._as_str(np.full(4, "x y", dtype=object))
    pd.testing.assert_extension_array_equal(a, b)
    assert len(W._repeated_str("x", 0)) == 0


def test_score_totals_with_missing_items_match_a_row_by_row_count():
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame({k: pd.array(rng.integers(1, 6, n), dtype="Int64")
                          for k in WEMWBS_ITEMS})
    frame["instrument"] = np.where(rng.random(n) < 0.5, "WEMWBS", "SWEMWBS")
    for k in WEMWBS_ITEMS:
        frame.loc[rng.random(n) < 0.08, k] = pd.NA
    scored = W.score(frame, allow_missing=2)
    for i in range(n):
        items = WEMWBS_ITEMS if frame["instrument"][i] == "WEMWBS" else SWEMWBS_ITEMS
        given = [int(frame[k][i]) for k in items if pd.notna(frame[k][i])]
        assert scored["items_answered"][i] == len(given)
        if len(given) == len(items):
            assert scored["raw_total"][i] == sum(given)
        swem = [int(frame[k][i]) for k in SWEMWBS_ITEMS if pd.notna(frame[k][i])]
        assert scored["swemwbs_items_answered"][i] == len(swem)
        extra = frame["instrument"][i] == "SWEMWBS" and any(
            pd.notna(frame[k][i]) for k in WEMWBS_ITEMS if k not in SWEMWBS_ITEMS)
        assert ("answers to non-SWEMWBS items ignored" in scored["note"][i]) == extra
