"""Shared fixtures: headless plotting, figures closed after each test, the sample data folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The committed sample data (read-only: copy it before changing anything)."""
    return SAMPLE


@pytest.fixture(scope="session")
def sample_data(sample_dir):
    """The committed sample, loaded once per test session."""
    from changing_tracks import load_data

    return load_data(sample_dir)


@pytest.fixture
def sample_copy(tmp_path, sample_dir) -> Path:
    """A writable copy of the sample data."""
    target = tmp_path / "data"
    shutil.copytree(sample_dir, target)
    return target


# Disclosure specs (``attrs["suppress"]``) that analysis tables carry: shared checks.
SPEC_KEYS = {"counts", "derived", "sums", "complements", "groups", "total", "keep", "additive"}


def spec_columns(spec: dict) -> set:
    """Every column a disclosure spec names."""
    cols = set(spec.get("counts", []))
    for stat, bases in spec.get("derived", {}).items():
        cols |= {stat, *([bases] if isinstance(bases, str) else bases)}
    for whole, parts in spec.get("sums", {}).items():
        cols |= {whole, *parts}
    for part, whole in spec.get("complements", {}).items():
        cols |= {part, whole}
    for grouping in spec.get("groups") or []:
        cols |= {grouping} if isinstance(grouping, str) else set(grouping)
    cols |= set(spec.get("total", {})) | set(spec.get("keep", [])) | set(spec.get("additive") or [])
    return cols


def assert_spec(table, settings=frozenset(), *, spec: dict | None = None,
                people_only: bool = False) -> dict:
    """Check an analysis table's disclosure spec (``attrs["suppress"]``, or ``spec``): it
    names only existing columns, counts only n / n_* columns and declares every numeric
    column that is not a setting, so nothing is shown unchecked. ``people_only``: declare
    them only in tables that count people (some count sessions or hours)."""
    import pandas as pd

    spec = table.attrs["suppress"] if spec is None else spec
    assert set(spec) <= SPEC_KEYS and {"counts", "derived"} <= set(spec)
    assert spec_columns(spec) <= set(table.columns), spec_columns(spec) - set(table.columns)
    assert all(c == "n" or c.startswith("n_") for c in spec["counts"])
    if spec["counts"] or not people_only:
        declared = set(spec["counts"]) | set(spec["derived"]) | set(spec.get("keep", []))
        numeric = {c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])
                   and not pd.api.types.is_bool_dtype(table[c])}
        assert numeric - declared <= set(settings), numeric - declared - set(settings)
    return spec


def row_where(frame, **keys):
    """The one row of ``frame`` whose columns equal ``keys`` (fails unless exactly one)."""
    import numpy as np

    mask = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        mask &= (frame[k] == v).to_numpy()
    assert mask.sum() == 1, (keys, mask.sum())
    return frame[mask].iloc[0]


def arrow_text(values, chunks: int = 1):
    """Text as loaded (pandas' Arrow strings), split into ``chunks`` Arrow chunks."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    arr = pa.array(values, pa.large_string())
    cut = np.linspace(0, len(arr), chunks + 1).astype(int)
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(
        [arr[a:b] for a, b in zip(cut[:-1], cut[1:])], pa.large_string())))


def assert_within_canvas(fig):
    """Everything ``fig`` draws at the reports' resolution lies on its canvas, by the test
    :func:`changing_tracks.reports.render_png` makes: titles and labels wrap rather than
    run past its edges, which would make the picture lopsided (and make reports draw it
    twice). Returns the renderer it drew with."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from changing_tracks.reports import FIGURE_DPI, _overruns_canvas

    fig.dpi = FIGURE_DPI
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # inches
    width, height = canvas.get_width_height()
    assert not _overruns_canvas(drawn, width, height, FIGURE_DPI), (
        drawn.bounds, fig.get_size_inches())
    return canvas.get_renderer()
