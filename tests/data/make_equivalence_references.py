"""How tests/data/{wellbeing,audit}_reference.pkl.gz were written (issue 8).

Run once, from the repository root, against the loop-based implementations
(before wellbeing.pair/score and the audit tables were vectorised). Re-running it
now would only copy the current results, so do not, unless a deliberate change of
results is being recorded.
"""
import sys, warnings, pickle
warnings.simplefilter("ignore")
sys.path.insert(0, "tests/data")
import pandas as pd
from equivalence_inputs import wellbeing_input, audit_input
from changing_tracks import wellbeing as wb, audit

def wellbeing_outputs(seed):
    raw = wellbeing_input(seed)
    out = {}
    for am in (0, 2):
        out[f"score/allow_missing={am}"] = wb.score(raw, allow_missing=am)
    s = wb.score(raw, allow_missing=1)
    for scale in ("SWEMWBS", "WEMWBS"):
        for keep in ("all", "paired"):
            for br in ("earliest", "latest"):
                for fr in ("latest", "earliest"):
                    out[f"pair/{scale}/{keep}/{br}/{fr}"] = wb.pair(
                        s, scale=scale, keep=keep, baseline_rule=br, follow_up_rule=fr)
        for by in ("service", "year", None):
            out[f"attrition/{scale}/{by}"] = wb.attrition(s, scale=scale, by=by)
            out[f"completer/{scale}/{by}"] = wb.completer_comparison(s, scale=scale, by=by)
            out[f"change_by/{scale}/{by}"] = wb.change_by(s, by=by, scale=scale)
        out[f"change_by/{scale}/service/latest"] = wb.change_by(
            s, scale=scale, baseline_rule="latest", follow_up_rule="earliest")
    return out

def audit_outputs(seed):
    r, st = audit_input(seed)
    out = {}
    for method in ("median", "mean", "min", "mode"):
        out[f"collate/{method}"] = audit.collate(r, method=method, statements=st)
        out[f"service_scores/{method}"] = audit.service_scores(r, st, method=method)
        out[f"change/{method}"] = audit.change(r, st, method=method)
        out[f"statement_change/{method}"] = audit.statement_change(r, st, method=method)
    out["service_scores/all"] = audit.service_scores(r, st, not_applicable="all", halves="up")
    out["change/any"] = audit.change(r, st, not_applicable="any", halves="down")
    out["completion"] = audit.completion(r)
    out["completion/extended"] = audit.completion(r, extended_services=["service01", "service03"])
    out["completion/nodates"] = audit.completion(r.drop(columns="date"))
    out["shared_gaps"] = audit.shared_gaps(r, st)
    out["shared_gaps/baseline"] = audit.shared_gaps(r, st, wave="baseline", gap="not fully met")
    out["priorities"] = audit.priorities(r, st)
    return out

wb_ref = {seed: wellbeing_outputs(seed) for seed in (1, 2, 3)}
pd.to_pickle(wb_ref, "tests/data/wellbeing_reference.pkl.gz")

au_ref = {seed: audit_outputs(seed) for seed in (1, 2)}
pd.to_pickle(au_ref, "tests/data/audit_reference.pkl.gz")
print({k: len(v) for k, v in wb_ref[1].items()})
