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
