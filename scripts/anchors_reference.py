"""Anchors from the reference implementation (anchor-exp, Ribeiro et al.) on the tabular fixture
model, for comparison with xai's `agnostic::anchors`.

Run:  python scripts/anchors_reference.py     # writes assets/fixtures/anchors_reference.json

Needs anchor-exp, numpy (pip install anchor-exp numpy). The model is the shared
`tabular_mlp.json` (6 -> 12 -> 10 -> 3 ReLU MLP) evaluated in numpy; the background is 2000
standard-normal rows from numpy's PCG64 with seed 7 (stored, so both sides use the same data);
the instances are the fixture's four inputs.
"""
import json, os, platform
import numpy as np
from anchor import anchor_tabular

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def forward(layers, x):
    for l in layers:
        if l["type"] == "linear":
            x = x @ np.array(l["weight"]).T + np.array(l["bias"])
        elif l["type"] == "relu":
            x = np.maximum(x, 0.0)
    return x


def main():
    fx = json.load(open(os.path.join(ROOT, "assets/fixtures/tabular_mlp.json")))
    rng = np.random.default_rng(7)
    background = rng.standard_normal((2000, 6))
    names = [f"x{j}" for j in range(6)]
    predict = lambda rows: forward(fx["model"], np.asarray(rows, dtype=np.float64)).argmax(1)
    explainer = anchor_tabular.AnchorTabularExplainer(["c0", "c1", "c2"], names, background)
    out = {"generator": "scripts/anchors_reference.py",
           "versions": {"numpy": np.__version__, "python": platform.python_version()},
           "settings": {"threshold": 0.95, "delta": 0.1, "tau": 0.15, "batch_size": 100, "beam_size": 4, "discretizer": "quartile"},
           "background": background.tolist(), "instances": []}
    for i, x in enumerate(np.array(fx["inputs"])):
        np.random.seed(i)  # anchor-exp samples with numpy's global generator
        e = explainer.explain_instance(x, predict, threshold=0.95)
        out["instances"].append({"index": i, "prediction": int(predict(x[None])[0]), "anchor": e.names(),
                                 "features": [int(f) for f in e.features()], "precision": float(e.precision()),
                                 "coverage": float(e.coverage())})
        print(i, e.names(), round(e.precision(), 3), round(e.coverage(), 3))
    path = os.path.join(ROOT, "assets/fixtures/anchors_reference.json")
    json.dump(out, open(path, "w"))
    print("wrote", path)


if __name__ == "__main__":
    main()
