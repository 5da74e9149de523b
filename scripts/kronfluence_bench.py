"""Kronfluence's EK-FAC on xai's digits MLP, side by side with xai's own timings and scores.

    xai influence kronfluence-export --out DIR        # trains the MLP, times xai, writes the JSON
    python scripts/kronfluence_bench.py DIR/digits_mlp_kronfluence.json

Needs torch and kronfluence (pip). Builds the same 64-32-10 tanh MLP with xai's trained weights,
runs Kronfluence's EK-FAC (true Fisher with sampled labels, its default) on the same 1,000
training and 200 test digits on the CPU, and prints one JSON line: both sides' seconds per phase,
the speed ratio, and the Spearman correlation of the two score matrices (per test point, mean).
"""
import json
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.stats import spearmanr
from kronfluence.analyzer import Analyzer, prepare_model
from kronfluence.arguments import FactorArguments, ScoreArguments
from kronfluence.task import Task


class Classification(Task):
    def compute_train_loss(self, batch, model, sample=False):
        x, y = batch
        logits = model(x)
        if not sample:
            return F.cross_entropy(logits, y, reduction="sum")
        with torch.no_grad():
            probs = torch.softmax(logits.detach(), dim=-1)
            sampled = torch.multinomial(probs, num_samples=1).flatten()
        return F.cross_entropy(logits, sampled, reduction="sum")

    def compute_measurement(self, batch, model):
        x, y = batch
        return F.cross_entropy(model(x), y, reduction="sum")


def main():
    fx = json.load(open(sys.argv[1]))
    torch.manual_seed(fx["seed"])
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    p = fx["params"]  # burn layout: weight [in, out]
    with torch.no_grad():
        for layer, (w, b) in zip([model[0], model[2]], [(p[0], p[1]), (p[2], p[3])]):
            layer.weight.copy_(torch.tensor(w["values"], dtype=torch.float32).reshape(w["shape"]).T)
            layer.bias.copy_(torch.tensor(b["values"], dtype=torch.float32))
    model.eval()
    tx = torch.tensor(fx["train_x"], dtype=torch.float32).reshape(-1, 64)
    ty = torch.tensor(fx["train_y"])
    qx = torch.tensor(fx["test_x"], dtype=torch.float32).reshape(-1, 64)
    qy = torch.tensor(fx["test_y"])
    train = torch.utils.data.TensorDataset(tx, ty)
    query = torch.utils.data.TensorDataset(qx, qy)
    task = Classification()
    model = prepare_model(model, task)
    # xai's curvature is the Fisher of the mean loss plus the L2 term plus its damping.
    damping = fx["l2"] + fx["damping"]
    with tempfile.TemporaryDirectory() as out:
        analyzer = Analyzer(analysis_name="digits", model=model, task=task, cpu=True, output_dir=out,
                            disable_tqdm=True)
        t0 = time.perf_counter()
        analyzer.fit_all_factors(factors_name="ekfac", dataset=train, per_device_batch_size=1000,
                                 factor_args=FactorArguments(strategy="ekfac"), overwrite_output_dir=True)
        factors = time.perf_counter() - t0
        t0 = time.perf_counter()
        analyzer.compute_pairwise_scores(scores_name="pairs", factors_name="ekfac", query_dataset=query,
                                         train_dataset=train, per_device_query_batch_size=200,
                                         per_device_train_batch_size=1000,
                                         score_args=ScoreArguments(damping_factor=damping),
                                         overwrite_output_dir=True)
        pairs = time.perf_counter() - t0
        scores = analyzer.load_pairwise_scores("pairs")["all_modules"].numpy()
    ours = np.array(fx["xai_scores"])
    exact = np.array(fx["exact_scores"])

    def rho(a, b):
        return float(np.mean([spearmanr(u, v).statistic for u, v in zip(a, b)]))

    xs = fx["xai_seconds"]
    xai_scores_s = xs["train_gradients"] + xs["s_test"] + xs["pairwise_scores"]
    print(json.dumps({
        "kronfluence_seconds": {"factors": factors, "pairwise_scores": pairs, "total": factors + pairs},
        "xai_seconds": {"factors": xs["factors"], "pairwise_scores": xai_scores_s, "total": xs["total"]},
        "speedup_total": (factors + pairs) / xs["total"],
        "speedup_factors": factors / xs["factors"],
        "speedup_scores": pairs / xai_scores_s,
        "mean_spearman_xai_vs_kronfluence": rho(ours, scores),
        "mean_spearman_xai_ekfac_vs_exact": rho(ours, exact),
        "mean_spearman_kronfluence_vs_exact": rho(scores, exact),
        "torch_threads": torch.get_num_threads(),
        "pairs": list(scores.shape),
    }))


if __name__ == "__main__":
    main()
