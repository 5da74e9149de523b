"""Time shap.KernelExplainer on any shared fixture, flattening image inputs to rows.

    python shap_kernel_flat.py FIXTURE.json NSAMPLES [N_INPUTS]

Same workload as `xai bench --fixture FIXTURE.json --method kernelshap --samples NSAMPLES`:
one background row (the first baseline), one explained logit per input (the fixture's targets),
`l1_reg=False` (plain efficiency-constrained regression, which is what xai computes).
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.environ.get("XAI_SHARED_TOOLS", os.path.join(os.path.dirname(__file__), "../../../shared/tools")))
from peer_bench import build  # noqa: E402

fx = json.load(open(sys.argv[1]))
nsamples = int(sys.argv[2])
limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
model = build(fx["model"]).eval()
shape = fx["input_shape"]
x = np.asarray(fx["inputs"], dtype=np.float32).reshape(len(fx["inputs"]), -1)
b = np.asarray(fx.get("baselines") or np.zeros_like(x), dtype=np.float32).reshape(len(x), -1)
targets = fx.get("targets")
if limit:
    x, b = x[:limit], b[:limit]


def f(rows):
    with torch.no_grad():
        return model(torch.tensor(rows, dtype=torch.float32).reshape(-1, *shape)).numpy()


import shap  # noqa: E402

ex = shap.KernelExplainer(f, b[:1])
t0 = time.perf_counter()
ex.shap_values(x, nsamples=nsamples, silent=True, l1_reg=False)
dt = time.perf_counter() - t0
print(f"shap.KernelExplainer {len(x)} inputs x {x.shape[1]} features, nsamples={nsamples}: "
      f"{dt:.3f} s = {len(x) / dt:.3f} inputs/s (torch threads={torch.get_num_threads()})")
