"""A snapshot of the validated data, made once by the report build for its notebooks.

The build loads and validates the data before it runs any notebook (to plan the
reports). Loading them again in each of its notebooks repeated that work once
per report, so the build saves what it loaded in a private temporary folder
and names the file in the kernels' environment (:data:`SNAPSHOT_ENV`).
:func:`changing_tracks.reports.open_report` uses the snapshot only when it is
of the same data folder and every file in that folder is exactly as it was
when the snapshot was made -- same names, sizes, modification times and
SHA-256 checksums; otherwise (and outside the build: JupyterLab, a papermill
command) it loads the data as usual. A snapshot never changes what a report
shows: it is the object ``load_data`` returned, with the folder named as the
notebook named it.

Beside the snapshot is a folder of finished report sections (:func:`section_folder`):
the annual learning report and the comparison across services of a year show many of
the same sections, worked out from the same data, and each is worked out once per build
(:func:`~changing_tracks.reports.shared_section`).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any

__all__ = ["SNAPSHOT_ENV", "data_fingerprint", "write_snapshot", "read_snapshot",
           "section_folder"]

#: Environment variable the build sets for its kernels: path of the snapshot file.
SNAPSHOT_ENV = "CHANGING_TRACKS_DATA_SNAPSHOT"

_FORMAT = "changing_tracks data snapshot 1"
_SECTIONS = "sections"


def data_fingerprint(data_dir: str | Path) -> tuple[tuple[Any, ...], ...]:
    """Every file and folder under ``data_dir`` with its size, modification time and SHA-256.

    Hidden files count too (a changed file of any name gives a different
    fingerprint), so a snapshot is only ever used for byte-identical data.

    Returns
    -------
    tuple
        ``(path relative to data_dir, bytes, mtime_ns, sha256)`` per file and
        ``(path + "/", None, None, None)`` per folder, sorted by path.
    """
    root = Path(data_dir)
    return _with_checksums(root, _stat_fingerprint(root))


def write_snapshot(data: Any, data_dir: str | Path, folder: str | Path,
                   fingerprint: tuple[tuple[Any, ...], ...]) -> Path | None:
    """Save ``data`` (loaded from ``data_dir``) in ``folder``; the file, or None if not saved.

    ``fingerprint`` is :func:`data_fingerprint` of ``data_dir`` taken *before*
    the data were loaded; the snapshot is saved only if the folder is still
    the same now, so it cannot hold data older than its fingerprint says.
    Data that are not a :class:`~changing_tracks.loaders.Dataset` of
    ``data_dir`` are not saved.
    """
    from ..loaders import Dataset

    root = Path(data_dir).resolve()
    if not isinstance(data, Dataset) or Path(data.directory).resolve() != root:
        return None
    try:
        files = [Path(f).resolve().relative_to(root).as_posix() for f in data.files]
    except ValueError:  # a file outside the folder: keep to loading as usual
        return None
    if data_fingerprint(root) != fingerprint:
        return None
    path = Path(folder) / "data.pickle"
    payload = {"format": _FORMAT, "root": str(root), "fingerprint": fingerprint,
               "files": files, "data": data}
    with path.open("wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    (Path(folder) / _SECTIONS).mkdir(exist_ok=True)
    return path


def section_folder() -> Path | None:
    """The folder, next to the build's snapshot, where the build's reports keep the sections
    they have worked out for one another (:func:`~changing_tracks.reports.shared_section`);
    None outside a build. Only reports whose data are the snapshot's use it."""
    name = os.environ.get(SNAPSHOT_ENV)
    if not name:
        return None
    folder = Path(name).with_name(_SECTIONS)
    return folder if folder.is_dir() else None


def read_snapshot(data_dir: str | Path) -> Any | None:
    """The data of ``data_dir`` from the build's snapshot, or None to load them as usual.

    None when no snapshot is named in the environment, it cannot be read, it
    is of another folder, or any file in ``data_dir`` differs from when it was
    made. The Dataset returned names ``data_dir`` and its files as given here,
    exactly as ``load_data(data_dir)`` would.
    """
    name = os.environ.get(SNAPSHOT_ENV)
    if not name:
        return None
    try:
        with open(name, "rb") as fh:
            payload = pickle.load(fh)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            return None
        root = Path(data_dir).resolve()
        if payload["root"] != str(root):
            return None
        fingerprint = payload["fingerprint"]
        # sizes and times first: cheap, and most changes show there
        quick = tuple((p, s, t) for p, s, t, _ in fingerprint)
        stats = _stat_fingerprint(root)
        if stats != quick or _with_checksums(root, stats) != fingerprint:
            return None
        directory = Path(data_dir)
        return dataclasses.replace(payload["data"], directory=directory,
                                   files=[directory / f for f in payload["files"]])
    except Exception:  # an unreadable or foreign snapshot: load the data as usual
        return None


def _stat_fingerprint(root: Path) -> tuple[tuple[Any, ...], ...]:
    """``(path, bytes, mtime_ns)`` per file and ``(path + "/", None, None)`` per folder."""
    entries = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            entries.append((rel + "/", None, None))
        else:
            stat = path.stat()
            entries.append((rel, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def _with_checksums(root: Path, stats: tuple[tuple[Any, ...], ...]) -> tuple[tuple[Any, ...], ...]:
    """:func:`_stat_fingerprint` entries with each file's SHA-256 added (None for folders)."""
    from ..provenance import sha256_of

    return tuple((*entry, None if entry[1] is None else sha256_of(root / entry[0]))
                 for entry in stats)
