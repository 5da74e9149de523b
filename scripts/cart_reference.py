"""Reference trees for xai-glassbox's CART tests: scikit-learn's DecisionTreeClassifier (Gini)
on the shared glass-box split, for several depth / leaf-size / pruning settings.

    python scripts/cart_reference.py assets/fixtures/glassbox/tabular_data.json \
        crates/xai-glassbox/tests/data/cart_reference.json

Checked with scikit-learn 1.9.1.
"""
import json
import sys

import numpy as np
from sklearn.tree import DecisionTreeClassifier

data = json.load(open(sys.argv[1]))
X, y = np.array(data["X_train"]), np.array(data["y_train"], dtype=int)
Xt = np.array(data["X_test"])
cases = []
for max_depth, min_leaf, alpha in [(4, 5, 0.0), (None, 1, 0.005), (6, 3, 0.002), (None, 1, 0.0)]:
    t = DecisionTreeClassifier(criterion="gini", max_depth=max_depth, min_samples_leaf=min_leaf,
                               ccp_alpha=alpha, random_state=0).fit(X, y)
    path = DecisionTreeClassifier(criterion="gini", max_depth=max_depth,
                                  min_samples_leaf=min_leaf, random_state=0
                                  ).cost_complexity_pruning_path(X, y)
    cases.append({
        "max_depth": max_depth, "min_leaf": min_leaf, "ccp_alpha": alpha,
        "leaves": int(t.get_n_leaves()), "depth": int(t.get_depth()),
        "predict": t.predict(Xt).tolist(),
        "proba": t.predict_proba(Xt)[:, 1].tolist(),
        # the alphas at which the unpruned tree's weakest links collapse (first entry is 0)
        "ccp_alphas": path.ccp_alphas.tolist(),
    })
json.dump({"generator": "scikit-learn DecisionTreeClassifier", "cases": cases},
          open(sys.argv[2], "w"))
