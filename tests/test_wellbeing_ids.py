"""Wellbeing tables do not depend on how the id columns are stored: Python objects,
pandas text (``str``, ``string``) or categorical columns give the same scored table,
pairs, attrition and change (text is converted in pyarrow for speed)."""

from __future__ import annotations

import pandas as pd
import pytest

from changing_tracks import wellbeing as wb
from tests.data.equivalence_inputs import wellbeing_input

_IDS = ("response", "participant", "service", "year", "wave", "instrument")


def _tables(responses: pd.DataFrame) -> dict[str, pd.DataFrame]:
    scored = wb.score(responses)
    return {
        "score": scored,
        "pair": wb.pair(scored, keep="all"),
        "pair WEMWBS": wb.pair(scored, scale="WEMWBS"),
        "attrition": wb.attrition(scored),
        "change": wb.change_by(scored, by="service"),
        "change by year": wb.change_by(scored, by="year", scale="WEMWBS"),
    }


def _equal(left: pd.DataFrame, right: pd.DataFrame, what: str) -> None:
    try:
        pd.testing.assert_frame_equal(left, right, check_exact=True)
    except AssertionError as exc:  # pragma: no cover - names the failing case
        raise AssertionError(f"{what}: {exc}") from exc
    assert repr(left.attrs) == repr(right.attrs), what


@pytest.fixture(scope="module")
def responses() -> pd.DataFrame:
    frame = wellbeing_input(7, n_people=150)
    for col in _IDS:
        frame[col] = frame[col].astype(object)
    return frame


@pytest.mark.parametrize("dtype", ["str", "string", "category"])
def test_text_and_categorical_ids_give_the_same_tables(responses, dtype):
    expected = _tables(responses)
    variant = responses.copy()
    for col in _IDS:
        variant[col] = variant[col].astype(dtype)
    got = _tables(variant)
    for name, frame in expected.items():
        _equal(got[name], frame, f"{dtype}: {name}")


@pytest.mark.parametrize("dtype", ["str", "string", "category"])
def test_carried_columns_are_what_pandas_infers_from_their_values(responses, dtype):
    """Including a text column with no values at all (not converted to text)."""
    frame = responses.assign(response=pd.Series([None] * len(responses), dtype=dtype))
    frame["service"] = frame["service"].astype(dtype)
    scored = wb.score(frame)
    for col in ("response", "service"):
        inferred = pd.DataFrame({col: frame[col].to_numpy()})[col]
        pd.testing.assert_series_equal(scored[col], inferred, check_exact=True)


@pytest.mark.parametrize("values", [
    pd.Series(["b", None, "a", "b", float("nan")], dtype=object),
    pd.Series([1, "1", None, "not recorded", 2.5], dtype=object),
    pd.Series(["x", "y", None], dtype="str"),
    pd.Series(["x", "y", "x"], dtype="string"),
    pd.Series(pd.Categorical(["y", None, "y"], categories=["x", "y", "z"])),
])
def test_label_codes_are_numpy_unique_of_the_labels(values):
    import numpy as np

    names, codes = wb._label_codes(values)
    expected_names, expected_codes = np.unique(wb._labels(values).to_numpy(dtype=object),
                                               return_inverse=True)
    assert list(names) == list(expected_names)
    assert list(codes) == list(expected_codes)
