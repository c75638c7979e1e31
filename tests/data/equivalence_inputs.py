"""Seeded synthetic inputs for the equivalence tests of the vectorised wellbeing and audit code.

The reference outputs in ``tests/data/*_reference.pkl.gz`` were written by the loop-based
implementations (before vectorisation) from exactly these inputs; the tests assert that
the current implementation gives identical frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from changing_tracks.contracts import SWEMWBS_ITEMS, WEMWBS_ITEMS


def wellbeing_input(seed: int, n_people: int = 300) -> pd.DataFrame:
    """Questionnaires with repeats, missing and tied dates, undated follow-ups, follow-ups
    before the baseline, both instruments, missing items, missing ids and waves."""
    rng = np.random.default_rng(seed)
    rows = []
    services = ["alpha", "beta", "gamma", "delta", None]
    years = ["2019-20", "2020-21", None]
    k = 0
    for p in range(n_people):
        service = services[rng.choice(5, p=[0.3, 0.3, 0.2, 0.15, 0.05])]
        year = years[rng.choice(3, p=[0.5, 0.45, 0.05])]
        pid = f"p{p:04d}" if rng.random() > 0.02 else None
        inst_person = "WEMWBS" if rng.random() < 0.4 else "SWEMWBS"
        for wave, count_p in (("baseline", [0.15, 0.65, 0.15, 0.05]),
                              ("follow-up", [0.35, 0.5, 0.1, 0.05])):
            for _ in range(rng.choice(4, p=count_p)):
                inst = inst_person if rng.random() < 0.9 else (
                    "SWEMWBS" if inst_person == "WEMWBS" else "WEMWBS")
                day = int(rng.integers(0, 20)) + (0 if wave == "baseline" else 12)
                date = (pd.NaT if rng.random() < 0.2
                        else pd.Timestamp("2019-09-01") + pd.Timedelta(days=day))
                row = {"response": f"r{k:05d}", "participant": pid, "service": service,
                       "year": year,
                       "wave": wave if rng.random() > 0.02 else None,
                       "date": date, "instrument": inst,
                       "age": int(rng.integers(9, 18)) if rng.random() > 0.1 else None}
                keys = WEMWBS_ITEMS if inst == "WEMWBS" else SWEMWBS_ITEMS
                for key in WEMWBS_ITEMS:
                    row[key] = None
                for key in keys:
                    row[key] = None if rng.random() < 0.03 else int(rng.integers(1, 6))
                if inst == "SWEMWBS" and rng.random() < 0.05:  # stray answer to a WEMWBS item
                    row[WEMWBS_ITEMS[1]] = 4
                rows.append(row)
                k += 1
    order = rng.permutation(len(rows))  # table order is not date order
    df = pd.DataFrame([rows[i] for i in order])
    for col in ("response", "participant", "service", "year", "wave", "instrument"):
        df[col] = df[col].astype("str")
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for key in [*WEMWBS_ITEMS, "age"]:
        df[key] = df[key].astype("Int64")
    return df.reset_index(drop=True)


def audit_input(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Audit ratings (several raters, blanks, N/A, a lost follow-up) and statements."""
    rng = np.random.default_rng(seed)
    refs = [f"{s}.{i:02d}" for s, k in ((1, 12), (2, 10), (3, 9)) for i in range(1, k + 1)]
    statements = pd.DataFrame({"statement": refs,
                               "section": [int(r[0]) for r in refs],
                               "text": [f"text {r}" for r in refs]})
    rows = []
    for s in range(12):
        service = f"service{s:02d}"
        for wave in ("baseline", "follow-up"):
            if wave == "follow-up" and s % 5 == 4:
                continue
            for r in range(int(rng.integers(1, 4))):
                date = pd.Timestamp("2019-07-01" if wave == "baseline" else "2020-07-01") \
                    + pd.Timedelta(days=int(rng.integers(0, 60)))
                for ref in refs:
                    u = rng.random()
                    if u < 0.05:
                        rating, status = None, "not rated"
                    elif u < 0.12:
                        rating, status = None, "not applicable"
                    else:
                        rating, status = int(rng.integers(1, 4)), "rated"
                    rows.append({"service": service, "wave": wave, "rater": f"rater{r}",
                                 "statement": ref, "rating": rating, "status": status,
                                 "date": date if rng.random() > 0.1 else pd.NaT})
    ratings = pd.DataFrame(rows)
    for col in ("service", "wave", "rater", "statement", "status"):
        ratings[col] = ratings[col].astype("str")
    ratings["rating"] = ratings["rating"].astype("Int64")
    ratings["date"] = pd.to_datetime(ratings["date"]).astype("datetime64[ns]")
    return ratings, statements
