"""Provenance footer for reports: what was run, on which data, when.

Every report ends with this table so a reader can tell which version of the
package, which parameters and exactly which data files produced it (SHA-256
checksums: if a file changes by one byte, its checksum changes).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["provenance", "file_checksums"]

_CHUNK = 1 << 20


def file_checksums(data_dir: str | Path) -> pd.DataFrame:
    """SHA-256 checksum of every file under ``data_dir``.

    Hidden files and folders (names starting with ``.``, such as ``.DS_Store``
    or editors' lock files) are skipped: they are not data.

    Parameters
    ----------
    data_dir : str or Path
        Folder of data files (searched recursively).

    Returns
    -------
    DataFrame
        One row per file, sorted by ``file``: ``file`` (path relative to
        ``data_dir``, with ``/`` separators), ``bytes`` (size) and ``sha256``
        (hex digest).

    Raises
    ------
    ValueError
        ``data_dir`` is not a folder.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"data_dir: expected a folder of data files, found {str(root)!r}")
    rows = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        rows.append({"file": rel.as_posix(), "bytes": path.stat().st_size,
                     "sha256": sha256_of(path)})
    return pd.DataFrame(rows, columns=["file", "bytes", "sha256"])


def sha256_of(path: str | Path) -> str:
    """SHA-256 (hex) of one file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def provenance(data_dir: str | Path, parameters: Mapping[str, Any] | None = None, *,
               built_at: _dt.datetime | None = None) -> pd.DataFrame:
    """The provenance footer of a report, as a tidy table.

    Parameters
    ----------
    data_dir : str or Path
        Folder the report's data were read from; every file in it is checksummed
        (see :func:`file_checksums`).
    parameters : mapping, optional
        The notebook's parameters (e.g. ``service``, ``year``, ``disclosure``,
        ``analysis``). Dicts and lists are written as sorted JSON.
    built_at : datetime, optional
        Time of the build; default now. Shown in UTC.

    Returns
    -------
    DataFrame
        Columns ``section`` ("build", "parameter" or "data file"), ``item`` and
        ``value`` (all text). Build rows: package version, Python version, time of
        the build (UTC, ISO 8601). Parameter rows: one per parameter. Data-file
        rows: ``item`` is the file's path relative to ``data_dir`` and ``value``
        ``"sha256:<hex>"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.csv").write_text("x\\n1\\n")
    >>> provenance(d, {"year": "2019-20"}).query("section == 'parameter'")["value"].tolist()
    ['2019-20']
    """
    from changing_tracks import __version__

    when = built_at or _dt.datetime.now(_dt.timezone.utc)
    if when.tzinfo is None:
        when = when.astimezone()  # naive = local time
    when = when.astimezone(_dt.timezone.utc).replace(microsecond=0)
    rows: list[tuple[str, str, str]] = [
        ("build", "changing_tracks version", str(__version__)),
        ("build", "Python version", platform.python_version()),
        ("build", "built at (UTC)", when.isoformat().replace("+00:00", "Z")),
    ]
    for name, value in (parameters or {}).items():
        rows.append(("parameter", str(name), _as_text(value)))
    for rec in file_checksums(data_dir).itertuples(index=False):
        rows.append(("data file", rec.file, f"sha256:{rec.sha256}"))
    return pd.DataFrame(rows, columns=["section", "item", "value"])


def _as_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True, default=str)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), sort_keys=True, default=str)
    return str(value)
