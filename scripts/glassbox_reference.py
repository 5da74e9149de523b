"""Reference models for xai-glassbox's loader tests: the cases the shared fixtures do not
cover (multiclass, regression, missing values, categorical splits, dart, random forest), each
saved in its library's own format with the library's margins and its own TreeSHAP
(`pred_contribs` / `pred_contrib`) on rows that include missing values.

    python scripts/glassbox_reference.py crates/xai-glassbox/tests/data

Deterministic (fixed seeds, one thread). Checked with xgboost 3.2.0 and lightgbm 4.7.0.
"""
import json
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import xgboost as xgb

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)
n, f = 400, 5
X = rng.normal(size=(n, f))
X[:, 3] = rng.integers(0, 6, size=n)  # a categorical column (codes 0..5)
X[rng.random((n, f)) < 0.08] = np.nan  # missing values everywhere
X[:, 3][np.isnan(X[:, 3])] = 2.0  # categories stay valid codes
score = np.nan_to_num(X[:, 0]) * 1.5 - np.nan_to_num(X[:, 1]) + np.isin(X[:, 3], [1, 4]) * 2.0
y_bin = (score + rng.normal(scale=0.5, size=n) > 0).astype(int)
y_multi = np.digitize(score, [-1.0, 1.0])
y_reg = score + rng.normal(scale=0.3, size=n)
rows = X[:30]


def save(name, model_file, margins, contribs, probability=None):
    ref = {
        "model": model_file,
        "rows": [[None if np.isnan(v) else float(v) for v in r] for r in rows],
        "margin": np.asarray(margins, dtype=float).reshape(len(rows), -1).tolist(),
        # [rows, outputs, features + 1]: the last entry is the expected value.
        "contribs": np.asarray(contribs, dtype=float).reshape(len(rows), -1, f + 1).tolist(),
    }
    if probability is not None:
        ref["probability"] = np.asarray(probability, dtype=float).tolist()
    (out / f"{name}.json").write_text(json.dumps(ref))


def xgb_case(name, params, y, categorical):
    ft = ["q", "q", "q", "c" if categorical else "q", "q"]
    d = xgb.DMatrix(X, label=y, feature_types=ft, enable_categorical=categorical)
    params = {"max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 0, **params}
    b = xgb.train(params, d, num_boost_round=12)
    b.save_model(out / f"{name}.xgb.json")
    dr = xgb.DMatrix(rows, feature_types=ft, enable_categorical=categorical)
    save(name, f"{name}.xgb.json", b.predict(dr, output_margin=True),
         b.predict(dr, pred_contribs=True))


def lgb_case(name, params, y, categorical):
    params = {"num_leaves": 12, "learning_rate": 0.3, "num_threads": 1, "seed": 0,
              "deterministic": True, "verbose": -1, "min_data_in_leaf": 5, **params}
    ds = lgb.Dataset(X, label=y, categorical_feature=[3] if categorical else "auto")
    b = lgb.train(params, ds, num_boost_round=12)
    b.save_model(out / f"{name}.lgb.txt")
    # In random-forest mode LightGBM's raw scores and contributions are sums over the trees,
    # while its probabilities come from their average: the margin is the average.
    scale = 1.0 / b.num_trees() if params.get("boosting") == "rf" else 1.0
    probability = b.predict(rows) if params["objective"] == "binary" else None
    save(name, f"{name}.lgb.txt", scale * b.predict(rows, raw_score=True),
         scale * b.predict(rows, pred_contrib=True), probability)


xgb_case("xgb_multiclass", {"objective": "multi:softprob", "num_class": 3}, y_multi, False)
xgb_case("xgb_categorical", {"objective": "binary:logistic", "max_cat_to_onehot": 1}, y_bin, True)
xgb_case("xgb_regression", {"objective": "reg:squarederror"}, y_reg, False)
xgb_case("xgb_dart", {"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.2},
         y_bin, False)
lgb_case("lgb_multiclass", {"objective": "multiclass", "num_class": 3}, y_multi, False)
lgb_case("lgb_categorical", {"objective": "binary"}, y_bin, True)
lgb_case("lgb_regression", {"objective": "regression"}, y_reg, False)
lgb_case("lgb_forest", {"objective": "binary", "boosting": "rf", "bagging_fraction": 0.7,
                        "bagging_freq": 1, "feature_fraction": 0.8}, y_bin, False)
