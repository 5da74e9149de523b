"""TreeSHAP throughput, xai against shap's TreeExplainer and the libraries' own TreeSHAP, on
the same saved models and rows, in one run (this machine's speed drifts: compare ratios).

    cargo build -p xai-glassbox --example tree_shap_speed
    python benches/peers/tree_shap.py ../shared/fixtures/glassbox [ROWS]

Rows: the fixture's X_train then X_test rows, repeated up to ROWS (default 10,000), for
path-dependent values (xai and the libraries' own `pred_contribs` / `pred_contrib` on the same
number of threads: as many as xai uses, all cores) and interventional values against X_train[:100]
(shap's TreeExplainer, single-threaded C++); interaction values on 200 rows. Each measurement
repeats for at least one second. Prints one JSON line per model with rows/s and the ratios.
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
n_rows = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
threads = os.cpu_count()  # xai's TreeSHAP uses every core; the libraries get as many
exe = os.environ.get("XAI_TREE_SHAP_SPEED",
                     "/var/tmp/xai-target/debug/examples/tree_shap_speed")
data = json.load(open(f"{root}/tabular_data.json"))
pool = np.array(data["X_train"] + data["X_test"], dtype=float)
X = np.resize(pool, (n_rows, pool.shape[1]))
bg = np.array(data["X_train"][:100], dtype=float)
n_inter = 200


def rate(n, f):
    f()
    t0, reps = time.perf_counter(), 0
    while reps == 0 or time.perf_counter() - t0 < 1.0:
        f()
        reps += 1
    return n * reps / (time.perf_counter() - t0)


def load_xgb(p):
    b = xgb.Booster()
    b.load_model(p)
    b.set_param({"nthread": threads})
    return b


for name, load, own in [
    ("xgb_model.json", load_xgb,
     lambda b, x: b.predict(xgb.DMatrix(x, nthread=threads), pred_contribs=True)),
    ("lgbm_model.txt", lambda p: lgb.Booster(model_file=p),
     lambda b, x: b.predict(x, pred_contrib=True, num_threads=threads)),
]:
    path = f"{root}/{name}"
    booster = load(path)
    pd = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")
    iv = shap.TreeExplainer(booster, data=bg, feature_perturbation="interventional")
    theirs = {
        "path_dependent": rate(len(X), lambda: pd.shap_values(X)),
        "interactions": rate(n_inter, lambda: pd.shap_interaction_values(X[:n_inter])),
        "interventional": rate(len(X), lambda: iv.shap_values(X, check_additivity=False)),
    }
    library = rate(len(X), lambda: own(booster, X))
    ours = json.loads(subprocess.run(
        [exe, path, f"{root}/tabular_data.json", str(n_rows), str(n_inter)],
        check=True, capture_output=True, text=True).stdout)
    assert ours["threads"] == threads, (ours["threads"], threads)
    print(json.dumps({
        "model": name, "rows": len(X), "threads": threads, "xai": ours["rows_per_s"],
        "shap": theirs, "library_pred_contribs": library,
        "ratio_xai_over_shap": {k: ours["rows_per_s"][k] / theirs[k] for k in theirs},
        "ratio_xai_over_library_path_dependent": ours["rows_per_s"]["path_dependent"] / library,
    }))
