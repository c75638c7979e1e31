"""Small statistical building blocks shared by the analysis modules.

Each follows ``../shared/reference/methods.md``: Wilson intervals for
proportions (not Wald), exact binomial sign tests, and Holm / Benjamini-Hochberg
adjustment named explicitly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["wilson_ci", "clopper_pearson_ci", "sign_test", "adjust_p", "proportion_table"]


def wilson_ci(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion; vectorised. NaN where n is 0.

    Matches ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = _st.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    # Exact bounds at the edges (floating error otherwise leaves 1e-17).
    low = np.where((n > 0) & (k == 0), 0.0, low)
    high = np.where((n > 0) & (k == n), 1.0, high)
    return low, high


def clopper_pearson_ci(successes, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson (exact) interval, for when guaranteed coverage is wanted."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1 - confidence
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, _st.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, _st.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    low = np.where(n > 0, low, np.nan)
    high = np.where(n > 0, high, np.nan)
    return low, high


def sign_test(improved: int, declined: int) -> float:
    """Two-sided exact sign test p-value (ties excluded); NaN when nothing changed."""
    improved, declined = int(improved), int(declined)
    n = improved + declined
    if n == 0:
        return float("nan")
    return float(_st.binomtest(improved, n, 0.5, alternative="two-sided").pvalue)


def adjust_p(p_values, method: str = "holm") -> np.ndarray:
    """Adjusted p-values by ``holm`` or ``fdr_bh`` (named explicitly; no silent default)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q)
    ranked = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "fdr_bh":
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    else:
        raise ValueError(f"adjustment method must be 'holm' or 'fdr_bh', not {method!r}")
    adj = np.minimum(adj, 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def proportion_table(counts: pd.DataFrame, count: str = "n", total: str = "total",
                     confidence: float = 0.95) -> pd.DataFrame:
    """Add ``pct``, ``ci_low`` and ``ci_high`` (Wilson, as percentages) to a table of counts."""
    out = counts.copy()
    low, high = wilson_ci(out[count], out[total], confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pct"] = np.where(out[total] > 0, 100 * out[count] / out[total], np.nan)
    out["ci_low"] = 100 * low
    out["ci_high"] = 100 * high
    return out
