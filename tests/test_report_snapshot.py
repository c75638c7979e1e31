"""The data snapshot the report build hands its notebooks (changing_tracks.reports.snapshot).

A snapshot must give exactly what ``load_data`` gives, and only for the very
data it was made from: any change to the data folder means loading as usual.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import changing_tracks.build as build
import changing_tracks.reports as reports
from changing_tracks import load_data
from changing_tracks.reports.snapshot import (SNAPSHOT_ENV, data_fingerprint, read_snapshot,
                                              write_snapshot)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A copy of the sample data (tests change files in it) and its snapshot."""
    root = tmp_path_factory.mktemp("snap")
    data_dir = root / "data"
    shutil.copytree(SAMPLE, data_dir)
    fingerprint = data_fingerprint(data_dir)
    data = load_data(data_dir)
    path = write_snapshot(data, data_dir, root, fingerprint)
    return data_dir, path


def same_dataset(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y)
            assert x.attrs == y.attrs
        else:
            assert x == y, f.name


def test_snapshot_gives_what_load_data_gives(folder, monkeypatch):
    data_dir, path = folder
    assert path is not None and path.exists()
    monkeypatch.setenv(SNAPSHOT_ENV, str(path))
    # as a notebook names the folder: relative to its working directory
    monkeypatch.chdir(data_dir.parent)
    snap = read_snapshot("data")
    assert snap is not None
    same_dataset(snap, load_data("data"))
    assert snap.directory == Path("data")


def test_no_snapshot_outside_the_build(folder, monkeypatch):
    data_dir, _ = folder
    monkeypatch.delenv(SNAPSHOT_ENV, raising=False)
    assert read_snapshot(data_dir) is None


def test_snapshot_of_another_folder_is_not_used(folder, monkeypatch, tmp_path):
    data_dir, path = folder
    other = tmp_path / "data"
    shutil.copytree(data_dir, other, copy_function=shutil.copy2)
    monkeypatch.setenv(SNAPSHOT_ENV, str(path))
    assert read_snapshot(other) is None


@pytest.mark.parametrize("change", ["same size and time", "new file", "removed file",
                                    "new folder"])
def test_changed_data_are_loaded_again(folder, monkeypatch, tmp_path, change):
    data_dir, path = folder
    monkeypatch.setenv(SNAPSHOT_ENV, str(path))
    assert read_snapshot(data_dir) is not None
    target = data_dir / "services.csv"
    saved = target.read_bytes()
    stat = target.stat()
    try:
        if change == "same size and time":  # only the checksum tells
            flipped = saved.replace(b"Essex", b"Esses", 1)
            assert flipped != saved and len(flipped) == len(saved)
            target.write_bytes(flipped)
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        elif change == "new file":
            (data_dir / ".notes.txt").write_text("x")
        elif change == "removed file":
            target.unlink()
        else:
            (data_dir / "wellbeing").mkdir()
        assert read_snapshot(data_dir) is None
    finally:
        target.write_bytes(saved)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        (data_dir / ".notes.txt").unlink(missing_ok=True)
        if (data_dir / "wellbeing").is_dir():
            (data_dir / "wellbeing").rmdir()
    assert read_snapshot(data_dir) is not None


def test_unreadable_snapshot_means_loading(folder, monkeypatch, tmp_path):
    data_dir, _ = folder
    bad = tmp_path / "data.pickle"
    bad.write_bytes(b"not a pickle")
    monkeypatch.setenv(SNAPSHOT_ENV, str(bad))
    assert read_snapshot(data_dir) is None
    monkeypatch.setenv(SNAPSHOT_ENV, str(tmp_path / "missing.pickle"))
    assert read_snapshot(data_dir) is None


def test_no_snapshot_of_data_that_changed_while_loading(folder, tmp_path):
    data_dir, _ = folder
    data = load_data(data_dir)
    stale = data_fingerprint(data_dir)[:-1]  # as if a file appeared during loading
    assert write_snapshot(data, data_dir, tmp_path, stale) is None
    assert not any(tmp_path.iterdir())


def test_only_datasets_are_saved(tmp_path):
    fake = type("Fake", (), {"directory": tmp_path, "files": []})()
    assert write_snapshot(fake, tmp_path, tmp_path, data_fingerprint(tmp_path)) is None
    assert build._snapshot(fake, tmp_path, data_fingerprint(tmp_path), tmp_path) == {}


def test_open_report_uses_the_snapshot(folder, monkeypatch):
    data_dir, path = folder
    monkeypatch.setenv(SNAPSHOT_ENV, str(path))

    def no_loading(*args, **kwargs):
        raise AssertionError("the data were loaded again")

    monkeypatch.setattr(reports, "load_data", no_loading)
    report = reports.open_report(data_dir, "2019-20")
    assert report.data.directory == data_dir
    monkeypatch.delenv(SNAPSHOT_ENV)
    with pytest.raises(AssertionError, match="loaded again"):
        reports.open_report(data_dir, "2019-20")


def test_build_names_the_snapshot_to_kernels_only(folder):
    data_dir, path = folder
    assert SNAPSHOT_ENV not in os.environ
    with build._kernel_environment({SNAPSHOT_ENV: str(path)}):
        assert os.environ[SNAPSHOT_ENV] == str(path)
        assert os.environ["OMP_NUM_THREADS"] == "1"
    assert SNAPSHOT_ENV not in os.environ


def test_build_saves_a_snapshot_of_real_data(folder, tmp_path):
    data_dir, _ = folder
    env = build._snapshot(load_data(data_dir), data_dir, data_fingerprint(data_dir), tmp_path)
    assert set(env) == {SNAPSHOT_ENV} and Path(env[SNAPSHOT_ENV]).parent == tmp_path
