"""Time lime's LimeTabularExplainer on a tabular shared fixture.

    python lime_tabular.py FIXTURE.json NSAMPLES

Same workload as `xai bench --fixture FIXTURE.json --method lime --samples NSAMPLES`: training
statistics from the fixture's inputs and baselines, continuous features sampled around the
instance (`discretize_continuous=False, sample_around_instance=True`), one explained label per
input, all features in the explanation.
"""
import json
import warnings
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.environ.get("XAI_SHARED_TOOLS", os.path.join(os.path.dirname(__file__), "../../../shared/tools")))
from peer_bench import build  # noqa: E402
from lime.lime_tabular import LimeTabularExplainer  # noqa: E402

warnings.filterwarnings("ignore")  # lime warns that logits are not probabilities
fx = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
model = build(fx["model"]).eval()
x = np.asarray(fx["inputs"], dtype=np.float64)
b = np.asarray(fx.get("baselines") or np.zeros_like(x), dtype=np.float64)
train = np.concatenate([x, b])


def f(rows):
    with torch.no_grad():
        return model(torch.tensor(rows, dtype=torch.float32)).numpy().astype(np.float64)


ex = LimeTabularExplainer(train, mode="classification",
                          discretize_continuous=False, sample_around_instance=True, random_state=0)
t0 = time.perf_counter()
for i, row in enumerate(x):
    ex.explain_instance(row, f, labels=(fx["targets"][i],), top_labels=None,
                        num_features=x.shape[1], num_samples=n)
dt = time.perf_counter() - t0
print(f"lime.LimeTabularExplainer {len(x)} inputs x {x.shape[1]} features, num_samples={n}: "
      f"{dt:.3f} s = {len(x) / dt:.2f} inputs/s")
