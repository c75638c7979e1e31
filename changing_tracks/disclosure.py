"""Disclosure control: what may be published about small groups of young people.

The programme's data describe children, many with special educational needs, in
care or young carers, in groups of 8-60. Everything a report publishes passes
through this module first (``../shared/reference/domain.md`` §6):

* :class:`DisclosurePolicy` holds the rules (threshold, zeros, rounding, symbols),
  is read once from the build configuration's ``[disclosure]`` table and states
  itself in plain English for every report's footnote (:meth:`~DisclosurePolicy.describe`).
* :func:`suppress` protects a tidy table: *primary* suppression of counts below the
  threshold (and of zeros if the policy says so) and of every statistic that rests
  on a hidden count; *secondary* suppression so that no hidden number can be
  recovered from totals, from the other categories of the same group or from a
  complementary count; optional rounding of the counts still shown, halves up.
  :func:`suppress_crosstab` does the same for a two-way table with its margins.
  Both return a **new** display table (the input is never modified) whose count and
  statistic columns hold numbers or the policy's symbol; :func:`suppression_mask`
  says which cells are hidden.
* :func:`identifier_columns` finds input columns that look like direct identifiers
  (names, email addresses, dates of birth, postcodes, phone numbers, addresses, UPNs,
  NHS numbers) so the loaders can refuse them; :func:`check_no_identifiers` fails
  when a participant id appears in a table or figure meant for publication.
* :func:`figure_groups` leaves groups of fewer than ``threshold`` people out of a
  figure and writes the note that says so.

How hidden numbers are protected
--------------------------------
A table's counts are linked by *additive relations*: the categories of a group add
up to its total (declared with ``groups``/``total`` for tidy tables, implied by the
rows and columns of a cross-tab) and parts add up to a whole within a row
(``sums``). A reader knows every number shown, the policy, and - conservatively -
every total that is not itself small, even when this table does not show it (it is
usually published elsewhere). Protection is then checked exactly: for every hidden
count, linear programming over all the relations gives the smallest and largest
value the hidden count could take given everything shown (its *protection
interval*); the count is protected when that interval has positive width. Counts
are first hidden by the usual rule (no relation may have exactly one unknown
number: hide the next smallest count in it, iterate to a fixed point across all
relations), then any count the exact check still finds recoverable gets the cheapest
extra suppression that frees it. Because zeros are shown unless ``suppress_zeros``,
a reader knows a hidden count is at least 1; the check uses that bound too. The
protection is against arithmetic on the published numbers (as in tau-Argus), not
against someone who already knows some of the children's data.

Declaring a table
-----------------
Analysis functions return tidy tables whose integer ``n`` / ``n_<something>``
columns count people, so a report only has to say what rests on what::

    suppress(change_table, policy,
             derived={"mean_change": "n_paired", "ci_low": "n_paired",
                      "pct_improved": ["n_paired", "n_improved"]},
             sums={"n_paired": ["n_improved", "n_same", "n_declined"]})
    suppress(ethnicity_table, policy, derived={"pct": ["n", "n_total"]},
             groups=["service", "year"], additive=["n"])
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .contracts import normalise_header

__all__ = [
    "DisclosurePolicy",
    "DisclosureError",
    "FigureGroups",
    "suppress",
    "suppress_crosstab",
    "suppression_mask",
    "round_half_up",
    "identifier_columns",
    "check_no_identifiers",
    "IdentifierSet",
    "figure_groups",
]


class DisclosureError(ValueError):
    """Something meant for publication would disclose personal data."""


# --------------------------------------------------------------------------
# The policy
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class DisclosurePolicy:
    """The rules for publishing small numbers, applied identically by every report.

    Parameters
    ----------
    threshold : int, default 10
        Counts from 1 to ``threshold - 1`` are hidden, and so is every statistic
        (percentage, mean, SD, CI, ratio) resting on such a count. 10 follows ONS
        census practice and UK LLC for sensitive data about children (domain.md §6);
        ``0`` hides nothing (internal use only).
    suppress_zeros : bool, default False
        Hide zero counts too. By default zeros are shown (DfE practice), so a
        reader knows that a hidden count is at least 1 - the protection check
        accounts for that.
    rounding_base : int or None, default None
        Round the counts that remain visible to a multiple of this (e.g. 5, as
        Ofqual and ONS do), halves up (12.5 → 15), never half-to-even as Python's
        ``round`` does. ``None`` publishes exact counts.
    symbol : str, default "c"
        What a hidden cell shows: DfE's ``c`` ("confidential").
    low_symbol : str or None, default None
        If given (e.g. ``"<10"`` or DfE's ``"low"``), counts hidden because they
        are between 1 and ``threshold - 1`` show this instead of ``symbol``,
        telling the reader the range (as Ofqual's "fewer than 5"). Other hidden
        cells still show ``symbol``.

    Examples
    --------
    >>> policy = DisclosurePolicy.from_config({"threshold": 10, "rounding_base": 5})
    >>> policy.is_sensitive([0, 3, 10]).tolist()
    [False, True, False]
    """

    threshold: int = 10
    suppress_zeros: bool = False
    rounding_base: int | None = None
    symbol: str = "c"
    low_symbol: str | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.threshold) or self.threshold < 0:
            raise ValueError(f"threshold: expected a whole number >= 0, found {self.threshold!r}")
        if not isinstance(self.suppress_zeros, (bool, np.bool_)):
            raise ValueError(
                f"suppress_zeros: expected True or False, found {self.suppress_zeros!r}")
        if self.rounding_base is not None and (not _is_int(self.rounding_base)
                                               or self.rounding_base < 1):
            raise ValueError(
                "rounding_base: expected a whole number >= 1 or None, found "
                f"{self.rounding_base!r}")
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise ValueError(f"symbol: expected non-empty text, found {self.symbol!r}")
        if self.low_symbol is not None:
            if not isinstance(self.low_symbol, str) or not self.low_symbol.strip():
                raise ValueError(
                    f"low_symbol: expected non-empty text or None, found {self.low_symbol!r}")
            if self.low_symbol == self.symbol:
                raise ValueError(
                    f"low_symbol: expected text different from symbol {self.symbol!r} (or leave "
                    "it out), found the same")

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any] | None = None) -> DisclosurePolicy:
        """Policy from the build configuration's ``[disclosure]`` table.

        Keys are the field names (``threshold``, ``suppress_zeros``, ``rounding_base``,
        ``symbol``, ``low_symbol``); missing keys keep their defaults. TOML has no
        null, so ``rounding_base = 0`` and ``low_symbol = ""`` mean "none".

        Raises
        ------
        ValueError
            For an unknown key (naming it) or a value of the wrong type or range.
        """
        if mapping is None:
            return cls()
        if isinstance(mapping, cls):
            return mapping
        if not isinstance(mapping, Mapping):
            raise ValueError(f"disclosure settings: expected a table of settings, found "
                             f"{type(mapping).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = [k for k in mapping if k not in known]
        if unknown:
            raise ValueError(
                f"unknown disclosure setting(s) {', '.join(repr(k) for k in unknown)}; "
                f"expected only {', '.join(known)}")
        values = dict(mapping)
        if values.get("rounding_base") == 0 and not isinstance(values.get("rounding_base"), bool):
            values["rounding_base"] = None
        if values.get("low_symbol") == "":
            values["low_symbol"] = None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (``from_config(policy.to_dict()) == policy``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def is_sensitive(self, counts: Any) -> np.ndarray:
        """True where a count must be hidden by primary suppression (NaN → False)."""
        v = _as_float(counts)
        with np.errstate(invalid="ignore"):
            small = (v >= 1) & (v < self.threshold)
            if self.suppress_zeros:
                small |= v == 0
        return np.asarray(small, dtype=bool)

    def describe(self, people: str = "young people") -> str:
        """Plain-English footnote stating the rules, for every published table and report.

        Parameters
        ----------
        people : str, default "young people"
            What the counts count, as the reader would say it.
        """
        t = self.threshold
        sym = f'"{self.symbol}"'
        sentences = []
        hides_small = t >= 2
        if not hides_small and not self.suppress_zeros:
            sentences.append(f"No numbers of {people} are hidden.")
        else:
            if hides_small and self.low_symbol is not None:
                first = (f'To protect the privacy of the {people}, numbers from 1 to {t - 1} are '
                         f'shown as "{self.low_symbol}"')
                first += f" and zeros as {sym}." if self.suppress_zeros else "."
                sentences.append(first)
                sentences.append(
                    f"Percentages, averages and other figures based on fewer than {t} {people} "
                    f"are shown as {sym}.")
            elif hides_small:
                zeros = " (including zeros)" if self.suppress_zeros else ""
                sentences.append(
                    f"To protect the privacy of the {people}, numbers below {t}{zeros} are "
                    f"shown as {sym}, as are percentages, averages and other figures based on "
                    f"fewer than {t} {people}.")
            else:
                sentences.append(
                    f"To protect the privacy of the {people}, zero counts are shown as {sym}, "
                    f"as are figures based on no one.")
            sentences.append(
                f"Where needed, further numbers are shown as {sym} so that no hidden number "
                "can be worked out from totals or percentages.")
            if hides_small and not self.suppress_zeros:
                sentences.append("Zeros are shown.")
        if self.rounding_base is not None and self.rounding_base > 1:
            sentences.append(
                f"Numbers shown are rounded to the nearest {self.rounding_base} (halves "
                "rounded up), so they may not add up to the totals shown.")
        return " ".join(sentences)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _as_policy(policy: DisclosurePolicy | Mapping[str, Any] | None) -> DisclosurePolicy:
    if isinstance(policy, DisclosurePolicy):
        return policy
    return DisclosurePolicy.from_config(policy)


def _as_float(values: Any) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        return pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(values, dtype=object)
    flat = [math.nan if _is_missing(x) else float(x) for x in arr.ravel()]
    return np.array(flat, dtype=float).reshape(arr.shape)


# --------------------------------------------------------------------------
# Rounding
# --------------------------------------------------------------------------

def _round_one(x: float, base: Decimal) -> float:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return math.nan
    q = (Decimal(repr(float(x))) / base).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return float(q * base)


def round_half_up(values: Any, base: float = 1) -> Any:
    """Round to the nearest multiple of ``base``, halves away from zero ("half up").

    Python's :func:`round` and NumPy round halves to even (``round(2.5) == 2``);
    published statistics round halves up. Decimal arithmetic avoids binary
    floating-point surprises (0.15 at base 0.1 → 0.2).

    Parameters
    ----------
    values : number, array-like or Series
        Values to round; NaN / NA stay missing.
    base : number, default 1
        Round to a multiple of this (5 for counts published to the nearest 5).

    Returns
    -------
    Same shape as ``values``: a scalar (an ``int`` when ``base`` is a whole
    number), a float ndarray, or a Series (``Int64`` when ``base`` is a whole
    number, else float) with the same index.

    Examples
    --------
    >>> round_half_up(2.5), round_half_up(7.5, 5), round_half_up(12.5, 5), round_half_up(2, 5)
    (3, 10, 15, 0)
    """
    if isinstance(base, bool) or not isinstance(base, (int, float, np.integer, np.floating)) \
            or not base > 0 or not math.isfinite(base):
        raise ValueError(f"base: expected a number > 0, found {base!r}")
    whole = float(base).is_integer()
    b = Decimal(repr(float(base))) if not whole else Decimal(int(base))
    if isinstance(values, pd.Series):
        arr = _as_float(values)
        out = np.array([_round_one(x, b) for x in arr], dtype=float)
        res = pd.Series(out, index=values.index, name=values.name)
        return res.astype("Int64") if whole else res
    if np.ndim(values) == 0:
        r = _round_one(values, b)
        return int(r) if whole and not math.isnan(r) else r
    arr = _as_float(values)
    return np.array([_round_one(x, b) for x in arr.ravel()], dtype=float).reshape(arr.shape)


# --------------------------------------------------------------------------
# The protection engine: cells, additive relations, hidden cells
# --------------------------------------------------------------------------

class _Cells:
    """Counts (published or implicit) and the additive relations between them."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.in_table: list[bool] = []
        self.is_total: list[bool] = []
        self.implicit_known: list[bool] = []  # implicit cells only: would the reader know it?
        self.relations: list[tuple[list[int], int]] = []

    def add(self, value: float, *, in_table: bool, is_total: bool = False,
            known: bool = False) -> int:
        self.values.append(float(value))
        self.in_table.append(in_table)
        self.is_total.append(is_total)
        self.implicit_known.append(known)
        return len(self.values) - 1

    def relate(self, members: list[int], total: int) -> None:
        """``sum(members) == total``."""
        if members:
            self.relations.append((list(members), total))


class _Plan(NamedTuple):
    hidden: np.ndarray      # bool per cell
    primary: np.ndarray     # bool per cell
    unprotected: list[int]  # cells that could not be protected


def _protect(cells: _Cells, policy: DisclosurePolicy) -> _Plan:
    """Primary and secondary suppression of the cells; see the module docstring."""
    v = np.asarray(cells.values, dtype=float)
    m = v.size
    in_table = np.asarray(cells.in_table, dtype=bool)
    sensitive = policy.is_sensitive(v) if m else np.zeros(0, dtype=bool)
    implicit_total = np.asarray(cells.implicit_known, dtype=bool)
    # An implied total (not in this table) is known to the reader unless it is small
    # itself, in which case it would be suppressed wherever it is published.
    known_implicit = ~in_table & implicit_total & ~sensitive
    hidden = sensitive & in_table
    primary = hidden.copy()
    unprotectable: set[int] = set()
    is_total = np.asarray(cells.is_total, dtype=bool)

    # Bounds a reader can put on an unknown cell.
    lower_hidden = 0.0 if policy.suppress_zeros else 1.0
    low_range = policy.low_symbol is not None and policy.threshold >= 2
    component = _components(m, cells.relations)

    def unknown() -> np.ndarray:
        return hidden | (~in_table & ~known_implicit)

    def needs() -> np.ndarray:
        return hidden | (~in_table & ~known_implicit & sensitive)

    def eligible() -> np.ndarray:
        return in_table & ~hidden & (v > 0)

    def bounds() -> tuple[np.ndarray, np.ndarray]:
        lb = np.where(hidden, lower_hidden, 0.0)
        ub = np.full(m, np.inf)
        if low_range:
            low = primary & (v >= 1)
            lb = np.where(low, 1.0, lb)
            ub = np.where(low, policy.threshold - 1.0, ub)
        return lb, ub

    for _ in range(2 * m + 2):
        _line_rule(cells.relations, v, hidden, unknown, needs, eligible)
        lb, ub = bounds()
        det, linear = _recoverable(v, unknown(), needs(), cells.relations, lb, ub)
        det &= ~np.isin(np.arange(m), list(unprotectable))
        if not det.any():
            break
        target = int(np.flatnonzero(det)[0])
        choice = _repair_choice(target, v, hidden, unknown, eligible, is_total, component,
                                cells.relations, linear[target])
        if choice is None:
            unprotectable.add(target)
        else:
            hidden[choice] = True
    else:  # pragma: no cover - every pass hides a cell or gives one up, so this is not reached
        unprotectable.update(np.flatnonzero(det).tolist())
    return _Plan(hidden=hidden, primary=primary, unprotected=sorted(unprotectable))


def _components(m: int, relations: list[tuple[list[int], int]]) -> np.ndarray:
    parent = list(range(m))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for members, total in relations:
        for c in members:
            ra, rb = find(c), find(total)
            if ra != rb:
                parent[ra] = rb
    return np.array([find(i) for i in range(m)], dtype=int)


def _line_rule(relations, v, hidden, unknown, needs, eligible) -> None:
    """No relation may have exactly one unknown cell that needs protection."""
    changed = True
    while changed:
        changed = False
        for members, total in relations:
            unk = unknown()
            group = [*members, total]
            unknown_cells = [c for c in group if unk[c]]
            if len(unknown_cells) != 1 or not needs()[unknown_cells[0]]:
                continue
            ok = eligible()
            candidates = [c for c in members if ok[c]] or ([total] if ok[total] else [])
            if candidates:
                hidden[min(candidates, key=lambda c: (v[c], c))] = True
                changed = True


def _linear_system(v, unk, relations):
    index = np.flatnonzero(unk)
    pos = {c: i for i, c in enumerate(index)}
    rows, rhs = [], []
    for members, total in relations:
        coef = np.zeros(index.size)
        const = 0.0
        touched = False
        for c, sign in [*((c, 1.0) for c in members), (total, -1.0)]:
            if unk[c]:
                coef[pos[c]] += sign
                touched = True
            else:
                const += sign * v[c]
        if touched:
            rows.append(coef)
            rhs.append(-const)
    a = np.array(rows) if rows else np.zeros((0, index.size))
    return index, a, np.array(rhs, dtype=float)


def _free_directions(a: np.ndarray, size: int) -> np.ndarray:
    """Per unknown: can it move while all relations hold (linear algebra only)?"""
    if a.shape[0] == 0:
        return np.ones(size, dtype=bool)
    from scipy.linalg import null_space

    ns = null_space(a)
    if ns.size == 0:
        return np.zeros(size, dtype=bool)
    return np.linalg.norm(ns, axis=1) > 1e-9


def _recoverable(v, unk, need, relations, lb, ub) -> tuple[np.ndarray, np.ndarray]:
    """Cells needing protection whose protection interval has zero width.

    The true values are a feasible point of the reader's system (relations,
    bounds). A cell's interval has positive width exactly when some feasible
    direction from that point moves it: a direction in the null space of the
    relations that does not push a cell already at its bound past it. One linear
    programme finds the cells held at their bound in every feasible direction
    (the implicit equalities); with those fixed, the feasible directions span a
    subspace and a cell is free when that subspace moves it.

    Returns the mask of such cells and a mask of cells that are free in the linear
    sense alone (a zero width then comes from the bounds, not from the relations).
    """
    m = v.size
    det = np.zeros(m, dtype=bool)
    linear_free = np.zeros(m, dtype=bool)
    index, a, _ = _linear_system(v, unk, relations)
    n = index.size
    if n == 0:
        return det, linear_free
    free_lin = _free_directions(a, n)
    linear_free[index] = free_lin
    x = v[index]
    at_low = np.isclose(x, lb[index])
    at_high = np.isfinite(ub[index]) & np.isclose(x, ub[index])
    fixed = at_low & at_high
    one_sided = np.flatnonzero((at_low | at_high) & ~fixed & free_lin)
    if one_sided.size and a.shape[0]:
        sign = np.where(at_low[one_sided], 1.0, -1.0)
        fixed[one_sided[_held_at_bound(a, one_sided, sign)]] = True
    free = free_lin
    if fixed.any():
        pins = np.eye(n)[fixed]
        free = _free_directions(np.vstack([a, pins]) if a.shape[0] else pins, n)
    det[index] = ~free & need[index]
    return det, linear_free


def _held_at_bound(a: np.ndarray, active: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Which active cells no feasible direction can move off their bound.

    Maximise the sum of s_j subject to A d = 0, sign_j * d_j >= s_j, 0 <= s_j <= 1:
    a cone, so every cell that some feasible direction moves reaches s_j = 1.
    """
    from scipy.optimize import linprog

    n, k = a.shape[1], active.size
    a_eq = np.hstack([a, np.zeros((a.shape[0], k))])
    a_ub = np.zeros((k, n + k))
    a_ub[np.arange(k), active] = -sign
    a_ub[np.arange(k), n + np.arange(k)] = 1.0
    cost = np.concatenate([np.zeros(n), -np.ones(k)])
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(k), A_eq=a_eq, b_eq=np.zeros(a.shape[0]),
                  bounds=[(None, None)] * n + [(0.0, 1.0)] * k, method="highs")
    if res.status != 0:  # cannot tell: treat every bound as binding (more suppression)
        return np.ones(k, dtype=bool)
    return res.x[n:] < 0.5


def _repair_choice(target, v, hidden, unknown, eligible, is_total, component, relations,
                   linear_free_target: bool) -> int | None:
    """The cheapest extra cell to hide so that ``target`` is no longer recoverable."""
    ok = eligible()
    same = np.flatnonzero(ok & (component == component[target]))
    if same.size == 0:
        return None
    order = sorted(same, key=lambda c: (is_total[c], v[c], c))
    if not linear_free_target:
        # Try single cells, smallest first, for one that frees the target.
        unk = unknown()
        for c in order[:40]:
            trial = unk.copy()
            trial[c] = True
            index, a, _ = _linear_system(v, trial, relations)
            free = _free_directions(a, index.size)
            if free[np.searchsorted(index, target)]:
                return int(c)
    sharing = [c for c in order if any(target in (*mem, tot) and c in (*mem, tot)
                                       for mem, tot in relations)]
    return int(sharing[0]) if sharing else int(order[0])


# --------------------------------------------------------------------------
# Tidy tables
# --------------------------------------------------------------------------

def _groupings(groups: Any) -> list[list[str]]:
    if groups is None:
        return []
    if isinstance(groups, str):
        return [[groups]]
    groups = list(groups)
    if all(isinstance(g, str) for g in groups):
        return [groups]
    out = []
    for g in groups:
        if isinstance(g, str):
            out.append([g])
        elif isinstance(g, Iterable):
            out.append(list(g))
        else:
            raise ValueError(f"groups: expected column names or lists of column names, found {g!r}")
    return out


def _check_columns(table: pd.DataFrame, cols: Iterable[Any], what: str) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"{what}: column(s) {', '.join(repr(c) for c in missing)} not in the "
                         f"table; its columns are {', '.join(repr(c) for c in table.columns)}")


def _count_values(table: pd.DataFrame, col: Any) -> np.ndarray:
    s = table[col]
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        raise ValueError(
            f"count column {col!r}: expected whole numbers >= 0, found dtype {s.dtype}")
    x = s.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isnan(x) & ((x < 0) | (np.floor(x) != x))
    if bad.any():
        raise ValueError(f"count column {col!r}: expected whole numbers >= 0, found "
                         f"{float(x[bad][0]):g}")
    return x


def _resolve_columns(table, counts, derived, keep) -> tuple[list, dict[Any, list]]:
    keep = list(keep or ())
    _check_columns(table, keep, "keep")
    if counts is None:
        counts = [c for c in table.columns
                  if isinstance(c, str) and (c == "n" or c.startswith("n_")) and c not in keep
                  and pd.api.types.is_numeric_dtype(table[c].dtype)
                  and not pd.api.types.is_bool_dtype(table[c].dtype)]
        if not counts and len(table.columns):
            raise ValueError("no count columns: expected a column 'n' or 'n_<something>' holding "
                             "numbers of people, or pass counts=[...]")
    elif isinstance(counts, str):
        counts = [counts]
    counts = list(counts)
    _check_columns(table, counts, "counts")
    if derived is None:
        derived = {c: list(counts) for c in table.columns
                   if c not in counts and c not in keep
                   and pd.api.types.is_float_dtype(table[c].dtype)}
    else:
        if not isinstance(derived, Mapping):
            raise ValueError("derived: expected a mapping {statistic column: count column(s) it "
                             f"rests on}}, found {type(derived).__name__}")
        derived = {k: ([b] if isinstance(b, str) else list(b)) for k, b in derived.items()}
        _check_columns(table, derived, "derived")
        for stat, bases in derived.items():
            not_counts = [b for b in bases if b not in counts]
            if not_counts or not bases:
                raise ValueError(f"derived[{stat!r}]: expected count column(s) among {counts}, "
                                 f"found {bases!r}")
            if stat in counts:
                raise ValueError(f"derived: {stat!r} is a count column, not a statistic")
    return counts, derived


def _label_codes(column: pd.Series) -> np.ndarray:
    """Integer codes of a label column, equal exactly where the labels are (NA one code).

    Text columns are factorised as they are (the codes only tell labels apart,
    so their order does not matter); other columns as Python objects.
    """
    if isinstance(column.dtype, pd.StringDtype):
        return pd.factorize(column, use_na_sentinel=False)[0]
    return pd.factorize(column.astype(object), use_na_sentinel=False)[0]


def _tidy_plan(table, policy, counts, derived, keep, groups, total, sums, complements,
               additive):
    counts, derived = _resolve_columns(table, counts, derived, keep)
    values = {c: _count_values(table, c) for c in counts}
    nrow = len(table)
    cells = _Cells()
    cell_id: dict[tuple[int, Any], int] = {}
    for col in counts:
        for i, x in enumerate(values[col]):
            if not np.isnan(x):
                cell_id[(i, col)] = cells.add(x, in_table=True)

    def row_label(i: int) -> str:
        return f"row {table.index[i]!r}"

    # Parts that add up to a whole within a row.
    for whole, parts in dict(sums or {}).items():
        parts = [parts] if isinstance(parts, str) else list(parts)
        for col in (whole, *parts):
            if col not in counts:
                raise ValueError(f"sums: {col!r} is not a count column; counts are {counts}")
        for i in range(nrow):
            ids = [cell_id.get((i, p)) for p in parts]
            t = cell_id.get((i, whole))
            if t is None or any(x is None for x in ids):
                continue
            s = sum(cells.values[x] for x in ids)
            if s != cells.values[t]:
                raise ValueError(
                    f"sums: {row_label(i)}: {whole!r} is {cells.values[t]:g} but {parts} add up "
                    f"to {s:g}; expected parts that add up to the whole (declare a part whose "
                    "complement is not shown with complements={part: whole})")
            cells.is_total[t] = True
            cells.relate(ids, t)
    # A part whose complement (whole - part) is not shown but can be worked out.
    for part, whole in dict(complements or {}).items():
        for col in (part, whole):
            if col not in counts:
                raise ValueError(f"complements: {col!r} is not a count column; counts are "
                                 f"{counts}")
        for i in range(nrow):
            p, t = cell_id.get((i, part)), cell_id.get((i, whole))
            if p is None or t is None:
                continue
            rest = cells.values[t] - cells.values[p]
            if rest < 0:
                raise ValueError(f"complements: {row_label(i)}: {whole!r} "
                                 f"({cells.values[t]:g}) is smaller than {part!r} "
                                 f"({cells.values[p]:g})")
            cells.is_total[t] = True
            cells.relate([p, cells.add(rest, in_table=False)], t)

    # Categories that add up to a total across rows.
    groupings = _groupings(groups)
    total = dict(total or {})
    _check_columns(table, total, "total")
    additive = list(counts if additive is None else ([additive] if isinstance(additive, str)
                                                     else additive))
    for col in additive:
        if col not in counts:
            raise ValueError(f"additive: {col!r} is not a count column; counts are {counts}")
    label_cols = [c for c in table.columns if c not in counts and c not in derived
                  and c not in set(keep or ())]
    # Integer codes per label column (NA is its own code), for fast set checks.
    label_codes = {c: _label_codes(table[c]) for c in label_cols}
    is_label = {col: (table[col] == label).fillna(False).to_numpy(dtype=bool)
                if len(table) else np.zeros(0, dtype=bool)
                for col, label in total.items()}
    for grouping in groupings:
        _check_columns(table, grouping, "groups")
        for col in grouping:
            if col not in label_codes:
                label_codes[col] = _label_codes(table[col])
        if grouping:
            keys = np.unique(np.column_stack([label_codes[c] for c in grouping]), axis=0,
                             return_inverse=True)[1].ravel() if nrow else np.zeros(0, dtype=int)
        else:
            keys = np.zeros(nrow, dtype=int)
        free_labels = [c for c in label_cols if c not in grouping]
        free_codes = np.column_stack([label_codes[c] for c in free_labels]) if free_labels \
            else None
        tot_mask = np.zeros(nrow, dtype=bool)
        for col in total:
            if col not in grouping:
                tot_mask |= is_label[col]
        for key in np.unique(keys):
            rows = np.flatnonzero(keys == key)
            is_tot = tot_mask[rows]
            if is_tot.sum() > 1:
                raise ValueError(
                    f"groups {grouping}: {is_tot.sum()} total rows in one group "
                    f"({', '.join(row_label(i) for i in rows[is_tot])}); add the column that "
                    "separates them (e.g. wave or year) to groups")
            member_rows = rows[~is_tot]
            if free_codes is not None and member_rows.size > 1:
                sub = free_codes[member_rows]
                distinct = [len(np.unique(sub[:, k])) == member_rows.size
                            for k in range(sub.shape[1])]
                if not any(distinct):
                    raise ValueError(
                        f"groups {grouping}: in the group of {row_label(member_rows[0])} no "
                        f"column ({', '.join(repr(c) for c in free_labels)}) names each "
                        "category once; add the column that separates the sets (e.g. wave or "
                        "year) to groups, or combine the columns that make up a category "
                        "into one")
            total_row = rows[is_tot][0] if is_tot.any() else None
            if total_row is None and member_rows.size < 2:
                continue
            for col in additive:
                ids = [cell_id.get((i, col)) for i in member_rows]
                if not ids or any(x is None for x in ids):
                    continue
                s = sum(cells.values[x] for x in ids)
                if total_row is None:
                    t = cells.add(s, in_table=False, is_total=True, known=True)
                else:
                    t = cell_id.get((total_row, col))
                    if t is None:
                        continue
                    rest = cells.values[t] - s
                    if rest < 0:
                        raise ValueError(
                            f"groups {grouping}: {col!r} in total {row_label(total_row)} "
                            f"({cells.values[t]:g}) is smaller than the sum of its categories "
                            f"({s:g}); are the categories overlapping?")
                    if rest > 0:  # categories not shown (e.g. unknown ethnicity)
                        ids = [*ids, cells.add(rest, in_table=False)]
                    cells.is_total[t] = True
                cells.relate(ids, t)

    plan = _protect(cells, policy)
    return counts, derived, values, cell_id, plan


def _display_count(x: float, hidden: bool, primary: bool, policy: DisclosurePolicy) -> Any:
    if np.isnan(x):
        return pd.NA
    if hidden:
        if primary and policy.low_symbol is not None and 1 <= x < policy.threshold:
            return policy.low_symbol
        return policy.symbol
    if policy.rounding_base is not None:
        return int(round_half_up(x, policy.rounding_base))
    return int(x)


def _warn_unprotected(plan: _Plan) -> None:
    if plan.unprotected:
        warnings.warn(
            f"{len(plan.unprotected)} hidden number(s) could still be worked out from totals "
            "published elsewhere (a group with one category?); check the table's groups",
            UserWarning, stacklevel=3)


def _stamp(out: pd.DataFrame, policy: DisclosurePolicy, columns: list, plan: _Plan,
           n_hidden_cells: int, people: str) -> pd.DataFrame:
    out.attrs["footnote"] = policy.describe(people)
    out.attrs["disclosure"] = {
        **policy.to_dict(),
        "columns": list(columns),
        "hidden_counts": int(plan.hidden.sum()),
        "primary_counts": int(plan.primary.sum()),
        "secondary_counts": int(plan.hidden.sum() - plan.primary.sum()),
        "hidden_cells": int(n_hidden_cells),
        "unprotected_counts": len(plan.unprotected),
    }
    return out


def suppress(table: pd.DataFrame,
             policy: DisclosurePolicy | Mapping[str, Any] | None = None,
             *,
             counts: Sequence[str] | None = None,
             derived: Mapping[str, str | Sequence[str]] | None = None,
             keep: Sequence[str] = (),
             groups: Sequence[str] | Sequence[Sequence[str]] | None = None,
             total: Mapping[str, Any] | None = None,
             sums: Mapping[str, Sequence[str]] | None = None,
             complements: Mapping[str, str] | None = None,
             additive: Sequence[str] | None = None,
             people: str = "young people") -> pd.DataFrame:
    """Display copy of a tidy table with small numbers hidden, safe to publish.

    Primary suppression hides counts from 1 to ``threshold - 1`` (and zeros if the
    policy says so) and every statistic resting on a hidden count; secondary
    suppression hides further counts so that no hidden count can be worked out
    from totals, from the other categories of its group or from the rest of a
    whole (see the module docstring for the exact check); counts still shown are
    rounded if the policy has a ``rounding_base``.

    Parameters
    ----------
    table : DataFrame
        Tidy table of counts and statistics; not modified.
    policy : DisclosurePolicy or mapping, optional
        The rules (a ``[disclosure]`` mapping is read with
        :meth:`DisclosurePolicy.from_config`); default ``DisclosurePolicy()``.
    counts : list of str, optional
        Columns holding numbers of people (whole numbers >= 0, NA allowed). Default:
        ``n`` and every numeric ``n_<something>`` column.
    derived : mapping, optional
        ``{statistic column: count column(s) it rests on}``; a statistic is hidden
        in every row where one of its count columns is hidden, or where all of them
        are missing (a missing count is "not applicable" to that row, e.g. an outcome
        count on an attendance row), so it is hidden when based on fewer than
        ``threshold`` people and whenever it could reveal a hidden count (a
        percentage next to a hidden numerator).
        Default: every float column not in ``counts``/``keep`` rests on **all**
        count columns of its row (safe, may over-suppress: declare it to avoid
        that).
    keep : list of str, optional
        Columns never hidden although numeric (public figures such as a population
        benchmark share). Integer and text columns not named in ``counts`` or
        ``derived`` are labels and are never hidden anyway.
    groups : list of str, or list of lists of str, optional
        Additive structure across rows. Rows that share the values of a grouping's
        columns form one set of mutually exclusive categories whose counts add up
        to a total (e.g. ``["service", "wave"]`` when the remaining label column is
        the ethnic group). Give several groupings for several dimensions, e.g.
        ``[["service"], ["ethnicity"]]`` for a service x ethnicity table with
        totals both ways. ``[]`` makes the whole table one set. A grouping must
        contain every column that splits the table except the category column
        (rows repeating a category raise ValueError).
    total : mapping, optional
        ``{column: label}`` marking total rows, e.g. ``{"ethnicity": "all",
        "service": "all"}``: in a set, the row whose (non-grouping) column holds
        the label is the set's total. A total larger than the sum of its
        categories is allowed (unshown categories, e.g. unknown ethnicity: their
        number is protected too). A set without a total row is assumed to have
        its total published elsewhere, unless that total is itself small.
    sums : mapping, optional
        ``{whole count column: [part count columns]}``: parts that add up to the
        whole within each row, e.g. ``{"n_paired": ["n_improved", "n_same",
        "n_declined"]}`` (ValueError if a row does not add up).
    complements : mapping, optional
        ``{part count column: whole count column}``: the rest ``whole - part`` is
        not shown but can be worked out, and is protected like a count: 36 of 40
        with a characteristic reveals the 4 without it (and with
        ``suppress_zeros``, 40 of 40 reveals a zero), e.g. ``{"n_with": "n"}``.
    additive : list of str, optional
        Count columns that add up across the rows of a group (default: all;
        leave out a column that repeats the group's total on every row).
    people : str, default "young people"
        What the counts count, for the footnote.

    Returns
    -------
    DataFrame
        Same index, columns and order as ``table``. Count and statistic columns
        have object dtype and hold numbers (counts as ``int``, rounded if the
        policy says so; statistics unchanged) or the policy's ``symbol`` /
        ``low_symbol``; other columns are unchanged. ``attrs["footnote"]`` is
        :meth:`DisclosurePolicy.describe`; ``attrs["disclosure"]`` records the
        policy, the columns checked and how many counts were hidden (primary and
        secondary). Statistics are not recomputed from rounded counts.

    Warns
    -----
    UserWarning
        If a hidden count stays recoverable whatever else is hidden (e.g. the
        only category of a group whose total is published elsewhere).

    Examples
    --------
    >>> t = pd.DataFrame({"service": ["a", "b"], "n": [25, 6], "mean": [51.2, 47.0]})
    >>> suppress(t, derived={"mean": "n"})[["n", "mean"]].values.tolist()
    [[25, 51.2], ['c', 'c']]
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table: expected a DataFrame, found {type(table).__name__}")
    policy = _as_policy(policy)
    counts, derived, values, cell_id, plan = _tidy_plan(
        table, policy, counts, derived, keep, groups, total, sums, complements, additive)
    _warn_unprotected(plan)
    out = table.copy()
    nrow = len(table)
    hidden_cells = 0
    hidden_at: dict[tuple[int, Any], bool] = {}
    for col in counts:
        shown = []
        for i in range(nrow):
            cid = cell_id.get((i, col))
            is_hidden = cid is not None and bool(plan.hidden[cid])
            hidden_at[(i, col)] = is_hidden
            hidden_cells += is_hidden
            shown.append(_display_count(values[col][i], is_hidden,
                                        cid is not None and bool(plan.primary[cid]), policy))
        out[col] = pd.Series(shown, index=table.index, dtype=object)
    for stat, bases in derived.items():
        original = table[stat].astype(object).tolist()
        shown = []
        for i in range(nrow):
            present = [b for b in bases if not np.isnan(values[b][i])]
            hide = not present or any(hidden_at[(i, b)] for b in present)
            hidden_cells += hide
            x = original[i]
            shown.append(policy.symbol if hide else (pd.NA if x is None else x))
        out[stat] = pd.Series(shown, index=table.index, dtype=object)
    return _stamp(out, policy, [*counts, *derived], plan, hidden_cells, people)



def suppress_crosstab(wide: pd.DataFrame,
                      policy: DisclosurePolicy | Mapping[str, Any] | None = None,
                      *,
                      margins: bool = True,
                      margins_name: str = "Total",
                      people: str = "young people") -> pd.DataFrame:
    """Display copy of a two-way table of counts with small numbers hidden.

    Parameters
    ----------
    wide : DataFrame
        Counts (whole numbers >= 0, no missing values), one row per category of
        one variable and one column per category of the other (as from
        :func:`pandas.crosstab`). If it already has a row and a column called
        ``margins_name`` they are taken as the totals and must equal the sums.
        Not modified.
    policy : DisclosurePolicy or mapping, optional
        The rules; default ``DisclosurePolicy()``.
    margins : bool, default True
        Publish row and column totals and the grand total (added as the last row
        and column, called ``margins_name``). With ``False`` only the cells are
        returned, but totals are still assumed known to the reader (they are
        usually published elsewhere) unless they are small themselves.
    margins_name : str, default "Total"
        Label of the totals row and column.
    people : str, default "young people"
        What the counts count, for the footnote.

    Returns
    -------
    DataFrame
        Object dtype: ``int`` counts (rounded if the policy says so) or the
        policy's symbols; same row and column labels (plus the totals).
        Secondary suppression works across rows, columns and the totals so that
        every hidden cell has a protection interval of positive width.
        ``attrs["footnote"]`` and ``attrs["disclosure"]`` as in :func:`suppress`.

    Examples
    --------
    >>> wide = pd.DataFrame({"a": [12, 15], "b": [3, 14], "c": [20, 11]}, index=["x", "y"])
    >>> suppress_crosstab(wide).values.tolist()
    [['c', 'c', 20, 35], ['c', 'c', 11, 40], [27, 17, 31, 75]]
    """
    if not isinstance(wide, pd.DataFrame):
        raise ValueError(f"wide: expected a DataFrame, found {type(wide).__name__}")
    policy = _as_policy(policy)
    has_row = margins_name in wide.index
    has_col = margins_name in wide.columns
    if has_row != has_col:
        raise ValueError(f"wide: expected a {margins_name!r} row and column together or neither; "
                         f"found only the {'row' if has_row else 'column'}")
    if has_row and not margins:
        raise ValueError(f"wide has {margins_name!r} totals but margins=False; drop them or pass "
                         "margins=True")
    inner = wide.drop(index=margins_name, columns=margins_name) if has_row else wide
    if inner.shape[0] == 0 or inner.shape[1] == 0:
        raise ValueError(f"wide: expected at least one row and one column of counts, found shape "
                         f"{inner.shape}")
    x = np.column_stack([_count_values(inner, c) for c in inner.columns])
    if np.isnan(x).any():
        raise ValueError("wide: expected counts in every cell, found missing values")
    r, c = x.shape
    row_tot, col_tot, grand = x.sum(axis=1), x.sum(axis=0), x.sum()
    if has_row:
        given = np.column_stack([_count_values(wide, col) for col in wide.columns])
        ri = [wide.index.get_loc(i) for i in inner.index]
        ci = [wide.columns.get_loc(j) for j in inner.columns]
        rt = given[ri, wide.columns.get_loc(margins_name)]
        ct = given[wide.index.get_loc(margins_name), ci]
        gt = given[wide.index.get_loc(margins_name), wide.columns.get_loc(margins_name)]
        if not (np.allclose(rt, row_tot) and np.allclose(ct, col_tot) and np.isclose(gt, grand)):
            raise ValueError(f"wide: the {margins_name!r} row and column do not equal the sums of "
                             "the cells")
    cells = _Cells()
    ids = np.array([[cells.add(x[i, j], in_table=True) for j in range(c)] for i in range(r)])
    rid = [cells.add(row_tot[i], in_table=margins, is_total=True, known=True) for i in range(r)]
    cid = [cells.add(col_tot[j], in_table=margins, is_total=True, known=True) for j in range(c)]
    gid = cells.add(grand, in_table=margins, is_total=True, known=True)
    for i in range(r):
        cells.relate(list(ids[i]), rid[i])
    for j in range(c):
        cells.relate(list(ids[:, j]), cid[j])
    cells.relate(cid, gid)
    cells.relate(rid, gid)
    plan = _protect(cells, policy)
    _warn_unprotected(plan)

    def show(k: int) -> Any:
        return _display_count(cells.values[k], bool(plan.hidden[k]), bool(plan.primary[k]), policy)

    grid = [[show(ids[i, j]) for j in range(c)] for i in range(r)]
    index, columns = list(inner.index), list(inner.columns)
    if margins:
        grid = [row + [show(rid[i])] for i, row in enumerate(grid)]
        grid.append([show(k) for k in cid] + [show(gid)])
        index.append(margins_name)
        columns.append(margins_name)
    out = pd.DataFrame(grid, index=pd.Index(index, name=inner.index.name),
                       columns=pd.Index(columns, name=inner.columns.name), dtype=object)
    out.attrs = dict(wide.attrs)
    hidden_cells = int(sum(plan.hidden[k] for k in range(len(cells.values)) if cells.in_table[k]))
    return _stamp(out, policy, columns, plan, hidden_cells, people)


def suppression_mask(display: pd.DataFrame,
                     policy: DisclosurePolicy | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Which cells of a table returned by :func:`suppress` / :func:`suppress_crosstab` are hidden.

    Parameters
    ----------
    display : DataFrame
        Output of :func:`suppress` or :func:`suppress_crosstab`.
    policy : DisclosurePolicy or mapping, optional
        The policy used; default: the one recorded in ``display.attrs["disclosure"]``,
        else ``DisclosurePolicy()``.

    Returns
    -------
    DataFrame of bool
        Same shape and labels; True where the cell shows the policy's ``symbol`` or
        ``low_symbol`` (only in the count and statistic columns when the table
        records them), for example to shade hidden cells with a Styler.
    """
    info = display.attrs.get("disclosure", {})
    if policy is None and info:
        policy = {k: info[k] for k in ("threshold", "suppress_zeros", "rounding_base", "symbol",
                                       "low_symbol") if k in info}
    policy = _as_policy(policy)
    symbols = {policy.symbol} | ({policy.low_symbol} if policy.low_symbol else set())
    cols = set(info.get("columns", display.columns))
    flags = np.zeros((len(display), len(display.columns)), dtype=bool)
    for k, col in enumerate(display.columns):
        if col in cols:
            flags[:, k] = [isinstance(x, str) and x in symbols
                           for x in display.iloc[:, k].tolist()]
    return pd.DataFrame(flags, index=display.index, columns=display.columns)


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

class FigureGroups(NamedTuple):
    """Result of :func:`figure_groups`: what to plot, what was left out, and the note."""

    shown: pd.DataFrame
    omitted: list
    note: str


def figure_groups(table: pd.DataFrame,
                  policy: DisclosurePolicy | Mapping[str, Any] | None = None,
                  n: str = "n",
                  *,
                  by: str | None = None,
                  noun: str | tuple[str, str] | None = None,
                  people: str = "young people") -> FigureGroups:
    """Split a table into the groups a figure may show and a note on those left out.

    A figure drawn from a group of fewer than ``threshold`` people discloses as
    much as a table would; such groups are left out and the figure's caption says
    so (issue 6, point 4).

    Parameters
    ----------
    table : DataFrame
        Result table with a column of group sizes; not modified.
    policy : DisclosurePolicy or mapping, optional
        The rules; default ``DisclosurePolicy()``.
    n : str, default "n"
        Column with the number of people each row rests on.
    by : str, optional
        Column naming the groups (e.g. ``"service"``). A group is left out
        entirely if any of its rows is too small (e.g. its follow-up wave).
        Without it each row is a group.
    noun : str or (str, str), optional
        What a group is, singular or (singular, plural); default ``by`` or "group".
    people : str, default "young people"
        What ``n`` counts.

    Returns
    -------
    FigureGroups
        ``shown``: the rows to plot (a copy); ``omitted``: labels of the groups
        left out (``by`` values, else row index labels); ``note``: e.g. "2 services
        with fewer than 10 young people are not shown (hull, norfolk)." or ``""``.

    Examples
    --------
    >>> t = pd.DataFrame({"service": ["a", "b", "c"], "n": [25, 6, 3]})
    >>> figure_groups(t, by="service").note
    '2 services with fewer than 10 young people are not shown (b, c).'
    """
    policy = _as_policy(policy)
    _check_columns(table, [n] + ([by] if by is not None else []), "figure_groups")
    size = _count_values(table, n)
    small = policy.is_sensitive(size) | np.isnan(size)
    if by is None:
        drop = small
        omitted = list(table.index[small])
        named = False
    else:
        labels = table[by]
        bad = pd.unique(labels[small])
        drop = labels.isin(bad).to_numpy(dtype=bool)
        omitted = list(bad)
        named = True
    shown = table.loc[~drop].copy()
    if noun is None:
        noun = by if by is not None else "group"
    singular, plural = (noun, noun + "s") if isinstance(noun, str) else noun
    k = len(omitted)
    if k == 0:
        note = ""
    else:
        what = (f"fewer than {policy.threshold} {people}" if policy.threshold >= 2
                else f"no {people}")
        verb = "is" if k == 1 else "are"
        names = f" ({', '.join(str(o) for o in omitted)})" if named else ""
        note = f"{k} {singular if k == 1 else plural} with {what} {verb} not shown{names}."
    shown.attrs["note"] = note
    return FigureGroups(shown=shown, omitted=omitted, note=note)


# --------------------------------------------------------------------------
# Privacy of inputs
# --------------------------------------------------------------------------

_NAME_WORDS = frozenset({
    "name", "names", "surname", "surnames", "forename", "forenames", "firstname", "lastname",
    "fullname", "givenname", "familyname", "middlename", "nickname", "knownas",
})
# Words that make a "name" column the name of a thing rather than of a person.
_THING_WORDS = frozenset({
    "service", "services", "school", "schools", "organisation", "organization", "org", "hub",
    "project", "activity", "setting", "instrument", "authority", "la", "ensemble", "group",
    "indicator", "statement", "file", "sheet", "venue", "course", "programme", "program",
    "centre", "center", "partner", "band", "choir", "piece", "song", "event", "session",
    "region", "area", "town", "city", "county", "domain", "class", "team", "provider",
    "academy", "trust", "company", "benchmark", "source", "publication", "variable", "column",
    "field", "scale", "item", "characteristic", "wave", "site",
})
_PHONE_WORDS = frozenset({
    "phone", "phones", "telephone", "tel", "mobile", "landline", "phonenumber", "phoneno",
    "telno", "mobileno", "mobilenumber", "telephonenumber", "cellphone",
})


def _words(header: Any) -> list[str]:
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(header))
    return re.findall(r"[a-z]+|[0-9]+", text.lower())


def _identifier_reason(header: Any) -> str | None:
    words = _words(header)
    compact = "".join(words)
    wset = set(words)
    if "email" in compact:
        return "an email address"
    if "dob" in wset or compact == "dob" or any(k in compact for k in ("dateofbirth", "birthdate",
                                                                      "birthday")):
        return "a date of birth"
    if any(k in compact for k in ("postcode", "postalcode", "zipcode")) or "zip" in wset:
        return "a postcode"
    if wset & _PHONE_WORDS or any(k in compact for k in ("phonenumber", "contactnumber",
                                                         "mobilenumber")):
        return "a phone number"
    if "address" in wset or "street" in wset or "addressline" in compact:
        return "a postal address"
    if "upn" in wset or "uniquepupilnumber" in compact:
        return "a unique pupil number (UPN), a direct identifier in England"
    if "uln" in wset or "uniquelearnernumber" in compact:
        return "a unique learner number (ULN), a direct identifier"
    if "nhs" in wset:
        return "an NHS number"
    if "nationalinsurance" in compact or "nino" in wset:
        return "a National Insurance number"
    if (wset & _NAME_WORDS or compact in _NAME_WORDS) and not wset & _THING_WORDS:
        return "a person's name"
    return None


def identifier_columns(headers: Iterable[Any], *,
                       allowed: Iterable[Any] = ()) -> list[tuple[str, str]]:
    """Headers that look like direct identifiers of a person, with the reason.

    The loaders refuse a file with such columns unless the user allows them, in
    which case they are dropped before analysis; participant ids must be
    pseudonymous. Detection is by header only (names, email addresses, dates of
    birth, postcodes, phone numbers, addresses, UPN / ULN, NHS and National
    Insurance numbers), so a column of names under an innocent header is not found.

    Parameters
    ----------
    headers : iterable
        Column headers as written in the file.
    allowed : iterable, optional
        Headers that are legitimate for this table (e.g. ``services.name``, the
        name of a music service) or that the user explicitly allows; compared
        after :func:`~changing_tracks.contracts.normalise_header`.

    Returns
    -------
    list of (header, reason)
        In the order given, e.g. ``[("DOB", "a date of birth")]``.

    Examples
    --------
    >>> identifier_columns(["Participant", "Full name", "Post code", "Service name"])
    [('Full name', "a person's name"), ('Post code', 'a postcode')]
    """
    if isinstance(headers, (str, bytes)):
        headers = [headers]
    if isinstance(allowed, (str, bytes)):
        allowed = [allowed]
    ok = {normalise_header(a) for a in allowed}
    found = []
    for header in headers:
        if normalise_header(header) in ok:
            continue
        reason = _identifier_reason(header)
        if reason is not None:
            found.append((str(header), reason))
    return found


_PARTICIPANT_HEADERS = frozenset({
    "participant", "participantid", "pupilid", "youngpersonid", "studentid", "pseudonym",
    "upn", "upnid", "responseid",
})


def _text_items(obj: Any, where: str) -> Iterable[tuple[str, Any]]:
    """(text, location) pairs of every string inside a table, figure or attrs.

    A table cell's location is ``(table, column, row position)``, spelled out by
    :func:`_location` only where an id is found: tables are checked on every
    publication, and naming every cell's row would cost more than the search.
    """
    if isinstance(obj, pd.DataFrame):
        for name in obj.index.names:
            if name is not None:
                yield str(name), "index name"
        dtypes = obj.dtypes.tolist()
        for k, col in enumerate(obj.columns):
            yield str(col), "column names"
            if _holds_no_text(dtypes[k]):
                continue
            for i, x in enumerate(obj.iloc[:, k].tolist()):
                if isinstance(x, str):
                    yield x, (obj, col, i)
        for level in range(obj.index.nlevels):
            for x in obj.index.get_level_values(level):
                if isinstance(x, str):
                    yield x, "index"
        yield from _text_items(obj.attrs, "attrs")
    elif isinstance(obj, Mapping):
        for k, x in obj.items():
            yield from _text_items(x, f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _text_items(x, where)
    elif isinstance(obj, str):
        yield obj, where


def _holds_no_text(dtype: Any) -> bool:
    """Whether a column of this dtype cannot hold a string (numbers, booleans, dates)."""
    return (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype)) and not isinstance(
        dtype, pd.CategoricalDtype)


def _location(where: Any) -> str:
    """A location from :func:`_text_items` as the error message names it."""
    if isinstance(where, tuple):
        table, col, i = where
        return f"column {col!r}, row {table.index[i]!r}"
    return where


class IdentifierSet:
    """Participant ids prepared for :func:`check_no_identifiers`.

    Checking a table means comparing its texts with every id; a report checks
    each of its tables and figures against the same ids, so it prepares them
    once (the texts to match and the search pattern) and passes this instead
    of the ids. Gives exactly the matches the ids themselves give.

    Parameters
    ----------
    ids : iterable
        Participant ids (missing values and blanks are ignored).
    """

    __slots__ = ("wanted", "pattern")

    def __init__(self, ids: Iterable[Any]):
        wanted = {str(i).strip() for i in ids if i is not None and not _is_missing(i)}
        wanted.discard("")
        tokens = sorted((i for i in wanted if len(i) >= 2 and re.search(r"[A-Za-z]", i)),
                        key=len, reverse=True)
        self.wanted = frozenset(wanted)
        self.pattern = re.compile(r"(?<![0-9A-Za-z])(" + "|".join(re.escape(t) for t in tokens)
                                  + r")(?![0-9A-Za-z])") if tokens else None

    def find(self, text: str) -> str | None:
        """The id a text shows (equal to it, or containing it as a separate token), or None."""
        s = text.strip()
        if s in self.wanted:
            return s
        if self.pattern is not None:
            m = self.pattern.search(text)
            return m.group(1) if m else None
        return None


def check_no_identifiers(table: Any, ids: Iterable[Any], *, what: str = "table",
                         draw: bool = True) -> None:
    """Refuse a table or figure meant for publication that shows a participant id.

    Participant ids are pseudonymous but can be linked back to a child by the
    service, so they never appear in reports. Used by the report tests.

    Parameters
    ----------
    table : DataFrame or matplotlib Figure
        What would be published. For a table, every text cell, the index, the
        column names and string ``attrs`` are searched; for a figure, every text
        (titles, labels, tick labels, legends, annotations).
    ids : iterable or IdentifierSet
        The participant ids of the data (e.g. ``data.participants["participant"]``),
        or an :class:`IdentifierSet` of them (prepared once for many checks).
    what : str, default "table"
        How to call the object in the error message.
    draw : bool, default True
        Draw a figure (without rendering it) before searching it: matplotlib writes
        tick labels, such as the categories of a bar chart, only when a figure is
        drawn. Pass False when the figure has just been drawn (e.g. saved).

    Raises
    ------
    DisclosureError
        (a ValueError) naming the ids found and where, or when a table has a
        participant id column. An id is found when a text equals it or contains
        it as a separate token (ids of two or more characters containing a
        letter, so that numeric ids are not confused with counts in sentences).
        Numeric cells are not compared: counts could equal numeric ids.
    """
    found = ids if isinstance(ids, IdentifierSet) else IdentifierSet(ids)
    problems: list[str] = []
    if isinstance(table, pd.DataFrame):
        for col in table.columns:
            if normalise_header(col) in _PARTICIPANT_HEADERS:
                problems.append(f"it has a participant id column {col!r}")
        items = _text_items(table, what)
    else:
        try:
            from matplotlib.figure import Figure
            from matplotlib.text import Text
        except ImportError:  # pragma: no cover
            Figure = Text = None  # type: ignore[assignment]
        if Figure is None or not isinstance(table, Figure):
            raise ValueError(f"{what}: expected a DataFrame or a matplotlib Figure, found "
                             f"{type(table).__name__}")
        if draw:
            table.draw_without_rendering()
        items = ((t.get_text(), "figure text") for t in table.findobj(Text) if t.get_text())
    for text, where in items:
        hit = found.find(text)
        if hit is not None:
            problems.append(f"participant id {hit!r} appears in {_location(where)}")
        if len(problems) >= 10:
            break
    if problems:
        raise DisclosureError(f"{what} must not show participant ids: " + "; ".join(problems))


def _is_missing(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False
