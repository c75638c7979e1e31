"""Build configuration: the disclosure policy and analysis choices for a report build.

A build reads one optional TOML file. Every table and key is optional; a missing
file section means "use the documented defaults"::

    # reports.toml
    [disclosure]          # passed to every notebook as `disclosure`
    threshold = 10        # counts below this are suppressed
    rounding_base = 5     # published counts are rounded to a multiple of this (0 = exact)
    suppress_zeros = false
    symbol = "c"          # what a suppressed cell shows
    low_symbol = "<10"    # optional: what a small count shows instead

    [analysis]            # passed to every notebook as `analysis`; keys as in
    wellbeing_scale = "SWEMWBS"   # changing_tracks.reports.ANALYSIS_DEFAULTS
    wellbeing_allow_missing = 1

    [build]
    jobs = 2              # notebooks run at once (default: the machine's cores)
    timeout = 600         # seconds any one notebook cell may run

Defaults
--------
``disclosure``
    ``{}``: :class:`changing_tracks.disclosure.DisclosurePolicy` applies its own
    documented defaults. When that module is importable the table is checked by
    ``DisclosurePolicy.from_config`` while the file is read, so a bad policy is
    refused before anything runs.
``analysis``
    ``{}``: every analysis function uses its documented defaults.
``jobs``
    ``None``: as many notebooks at once as the machine has cores.
``timeout``
    ``600`` seconds per notebook cell.

Errors raise :class:`ConfigError` naming the file, the key, what was expected
and what was found.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BuildConfig", "ConfigError", "load_config", "DEFAULT_TIMEOUT"]

#: Seconds any one notebook cell may run before the report is marked failed.
DEFAULT_TIMEOUT: float = 600

#: Known keys of ``[disclosure]`` and the Python types their values must have.
_DISCLOSURE_TYPES: dict[str, tuple[type, ...]] = {
    "threshold": (int,),
    "rounding_base": (int,),
    "suppress_zeros": (bool,),
    "symbol": (str,),
    "low_symbol": (str,),
}

_TABLES = ("disclosure", "analysis", "build")
_BUILD_KEYS = ("jobs", "timeout")


def cores() -> int:
    """Cores this process may use (fewer than the machine's in a container or CI): the
    default number of notebooks run at once."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ConfigError(ValueError):
    """The build configuration file cannot be used as it stands."""


@dataclass(frozen=True)
class BuildConfig:
    """Settings for one report build.

    Attributes
    ----------
    disclosure : dict
        The ``[disclosure]`` table, given to every notebook as its ``disclosure``
        parameter (``{}`` = the disclosure module's defaults).
    analysis : dict
        The ``[analysis]`` table, given to every notebook as its ``analysis``
        parameter (``{}`` = each analysis function's defaults).
    jobs : int or None
        Notebooks run at once; ``None`` = the machine's cores.
    timeout : float
        Seconds any one notebook cell may run (default 600).
    source : str or None
        The file the settings came from (``None`` = built-in defaults).
    """

    disclosure: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)
    jobs: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    source: str | None = None


def load_config(path: str | Path | None = None) -> BuildConfig:
    """Read a TOML build configuration, or return the defaults when ``path`` is None.

    Parameters
    ----------
    path : str, Path or None
        The TOML file. ``None`` gives :class:`BuildConfig` with its documented defaults.

    Returns
    -------
    BuildConfig

    Raises
    ------
    ConfigError
        The file is missing or not valid TOML, has a table other than
        ``[disclosure]``, ``[analysis]`` and ``[build]``, or a value of the wrong
        type. The message names the file, the key, what was expected and what was
        found.

    Examples
    --------
    >>> load_config(None).timeout
    600
    """
    if path is None:
        return BuildConfig()
    path = Path(path)
    where = str(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{where}: configuration file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: expected a TOML file, found a folder") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None

    unknown = [k for k in raw if k not in _TABLES]
    if unknown:
        raise ConfigError(
            f"{where}: unknown top-level key(s) {', '.join(repr(k) for k in unknown)}; "
            f"expected only the tables [disclosure], [analysis] and [build]"
        )
    for name in _TABLES:
        if name in raw and not isinstance(raw[name], dict):
            raise ConfigError(
                f"{where}: '{name}': expected a table [{name}], found {_describe(raw[name])}"
            )

    disclosure = _check_disclosure(dict(raw.get("disclosure", {})), where)
    analysis = dict(raw.get("analysis", {}))
    _check_literals(analysis, where, "analysis")
    from .reports import check_analysis

    try:
        check_analysis(analysis)
    except ValueError as exc:
        raise ConfigError(f"{where}: [analysis]: {exc}") from None
    jobs, timeout = _check_build(dict(raw.get("build", {})), where)
    return BuildConfig(disclosure=disclosure, analysis=analysis, jobs=jobs, timeout=timeout,
                       source=where)


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

def _describe(value: Any) -> str:
    """`'10' (text)` style description of a found value, for error messages."""
    kinds = {bool: "true/false", int: "an integer", float: "a number", str: "text",
             list: "a list", dict: "a table"}
    kind = next((k for t, k in kinds.items() if type(value) is t), type(value).__name__)
    return f"{value!r} ({kind})"


def _check_disclosure(table: dict[str, Any], where: str) -> dict[str, Any]:
    for key, types in _DISCLOSURE_TYPES.items():
        if key not in table:
            continue
        value = table[key]
        # bool is an int in Python; refuse `threshold = true`.
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            expected = {int: "an integer", bool: "true or false", str: "text"}[types[0]]
            raise ConfigError(
                f"{where}: [disclosure] {key}: expected {expected}, found {_describe(value)}")
        if key == "threshold" and value < 0:
            raise ConfigError(
                f"{where}: [disclosure] threshold: expected an integer >= 0, found {value!r}")
        if key == "rounding_base" and value < 0:
            raise ConfigError(f"{where}: [disclosure] rounding_base: expected an integer >= 1 "
                              f"(or 0 for exact counts), found {value!r}")
    _check_literals(table, where, "disclosure")
    policy_class = _disclosure_policy_class()
    if policy_class is not None:
        try:
            policy_class.from_config(dict(table))
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"{where}: [disclosure]: {exc}") from None
    return table


def _check_literals(value: Any, where: str, key: str) -> None:
    """Values must survive being written into a notebook as Python literals."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_literals(v, where, f"{key}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_literals(v, where, f"{key}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {_key_label(key)}: expected a finite number, found {value!r}")
    elif isinstance(value, (_dt.date, _dt.time, _dt.datetime)):
        raise ConfigError(
            f"{where}: {_key_label(key)}: expected text, a number, true/false, a list or a "
            f"table, found the date/time {value!r} (write it in quotes)")


def _key_label(dotted: str) -> str:
    table, _, rest = dotted.partition(".")
    return f"[{table}] {rest}" if rest else f"[{table}]"


def _check_build(table: dict[str, Any], where: str) -> tuple[int | None, float]:
    unknown = [k for k in table if k not in _BUILD_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: [build]: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"expected only {', '.join(_BUILD_KEYS)}")
    jobs = table.get("jobs")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise ConfigError(
            f"{where}: [build] jobs: expected an integer >= 1, found {_describe(jobs)}")
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    if (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
            or not math.isfinite(timeout) or timeout <= 0):
        raise ConfigError(
            f"{where}: [build] timeout: expected a number of seconds > 0, "
            f"found {_describe(timeout)}")
    return jobs, timeout


def _disclosure_policy_class() -> Any:
    """``DisclosurePolicy`` when the disclosure module is importable, else None."""
    try:
        from changing_tracks.disclosure import DisclosurePolicy
    except ImportError:
        return None
    return DisclosurePolicy if hasattr(DisclosurePolicy, "from_config") else None
