"""TreeSHAP throughput, xai against shap's TreeExplainer and the libraries' own TreeSHAP, on
the same saved models and rows, in one run (this machine's speed drifts: compare ratios).

    cargo build -p xai-glassbox --example tree_shap_speed
    python scripts/tree_shap_bench.py ../shared/fixtures/glassbox

Rows: all X_test rows (path-dependent, interventional against X_train[:100]) and the first 50
(interaction values). Each measurement repeats for at least one second. Prints one JSON line per
model with rows/s and the ratios xai / shap.
"""
import json
import os
import subprocess
import sys
import time

import lightgbm as lgb
import numpy as np
import shap
import xgboost as xgb

root = sys.argv[1]
exe = os.environ.get("XAI_TREE_SHAP_SPEED",
                     "/var/tmp/xai-target/debug/examples/tree_shap_speed")
data = json.load(open(f"{root}/tabular_data.json"))
X = np.array(data["X_test"], dtype=float)
bg = np.array(data["X_train"][:100], dtype=float)


def rate(n, f):
    f()
    t0, reps = time.perf_counter(), 0
    while reps == 0 or time.perf_counter() - t0 < 1.0:
        f()
        reps += 1
    return n * reps / (time.perf_counter() - t0)


for name, load, own in [
    ("xgb_model.json", lambda p: (lambda b: (b.load_model(p), b)[1])(xgb.Booster()),
     lambda b, x: b.predict(xgb.DMatrix(x), pred_contribs=True)),
    ("lgbm_model.txt", lambda p: lgb.Booster(model_file=p),
     lambda b, x: b.predict(x, pred_contrib=True)),
]:
    path = f"{root}/{name}"
    booster = load(path)
    pd = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")
    iv = shap.TreeExplainer(booster, data=bg, feature_perturbation="interventional")
    theirs = {
        "path_dependent": rate(len(X), lambda: pd.shap_values(X)),
        "interactions": rate(50, lambda: pd.shap_interaction_values(X[:50])),
        "interventional": rate(len(X), lambda: iv.shap_values(X, check_additivity=False)),
    }
    library = rate(len(X), lambda: own(booster, X))
    ours = json.loads(subprocess.run([exe, path, f"{root}/tabular_data.json"],
                                     check=True, capture_output=True, text=True).stdout)
    print(json.dumps({
        "model": name, "rows": len(X), "xai": ours["rows_per_s"], "xai_threads": ours["threads"],
        "shap": theirs, "library_pred_contribs": library,
        "ratio_xai_over_shap": {k: ours["rows_per_s"][k] / theirs[k] for k in theirs},
        "ratio_xai_over_library_path_dependent": ours["rows_per_s"]["path_dependent"] / library,
    }))
