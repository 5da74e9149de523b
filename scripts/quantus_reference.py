"""Reference values and timings from Quantus (the PyPI package) for xai's metric tests.

Run:  python scripts/quantus_reference.py            # writes assets/fixtures/quantus_metrics.json
      python scripts/quantus_reference.py --bench    # times Quantus on perf_lenet (prints JSON)

Needs quantus, torch and numpy (pip install quantus torch). The model is the shared
`image_cnn.json` fixture (a PyTorch-generated 1x8x8 CNN) rebuilt in torch float64; the
attributions are the fixture's own saliency and integrated-gradient values, so both sides see
exactly the same inputs.
"""
import json, os, sys, time, platform
import numpy as np
import torch
import quantus
from quantus.helpers import utils as qutils

if not hasattr(np, "trapz"):  # Quantus 0.6 calls np.trapz, which numpy 2.4 renamed trapezoid
    np.trapz = np.trapezoid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_model import build  # noqa: E402


def reference():
    fx = json.load(open(os.path.join(ROOT, "assets/fixtures/image_cnn.json")))
    model = build(fx["model"], torch.float32)  # Quantus feeds float32 tensors
    x = np.array(fx["inputs"], dtype=np.float64)
    y = np.array(fx["targets"])
    out = {
        "generator": "scripts/quantus_reference.py",
        "versions": {"quantus": quantus.__version__, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "model": "assets/fixtures/image_cnn.json",
        "note": "attributions = the fixture's expected saliency and integrated_gradients/gausslegendre values",
        "metrics": {},
    }
    for name in ["saliency", "integrated_gradients/gausslegendre"]:
        a = np.array(fx["expected"][name]["values"], dtype=np.float64)
        entry = {}
        for softmax in [False, True]:
            pf = quantus.PixelFlipping(features_in_step=4, perturb_baseline="black", normalise=False, abs=False, disable_warnings=True)
            curves = pf(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), softmax=softmax, device="cpu", channel_first=True)
            entry["pixel_flipping_softmax" if softmax else "pixel_flipping_logit"] = np.array(curves).tolist()
        entry["sparseness"] = list(map(float, quantus.Sparseness(disable_warnings=True)(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), device="cpu")))
        entry["complexity"] = list(map(float, quantus.Complexity(disable_warnings=True)(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), device="cpu")))
        ns = quantus.NonSensitivity(eps=1e-5, features_in_step=1, perturb_baseline="black", disable_warnings=True)
        entry["non_sensitivity_logit"] = [float(ns(model=model, x_batch=x[i:i + 1].copy(), y_batch=y[i:i + 1], a_batch=a[i:i + 1].copy(), device="cpu", softmax=False)[0]) for i in range(len(x))]
        # One explanation per call: Quantus 0.6 max-normalises over the whole batch it is given,
        # so a row's count would depend on the rows beside it.
        for eps in [1e-5, 0.1]:
            ec = quantus.EffectiveComplexity(eps=eps, disable_warnings=True)
            entry[f"effective_complexity_eps{eps:g}"] = [float(ec(model=model, x_batch=x[i:i + 1].copy(), y_batch=y[i:i + 1], a_batch=a[i:i + 1].copy(), device="cpu")[0]) for i in range(len(x))]
        out["metrics"][name] = entry
    s = np.array(fx["expected"]["saliency"]["values"], dtype=np.float64)[:, 0]
    g = np.array(fx["expected"]["integrated_gradients/gausslegendre"]["values"], dtype=np.float64)[:, 0]
    out["ssim_saliency_vs_ig"] = [float(quantus.similarity_func.ssim(s[i], g[i])) for i in range(len(s))]
    # Localisation against ground-truth masks: per input a rectangle of the 8x8 grid (the place
    # evidence would sit), on the raw attributions (no abs, no normalisation).
    masks = np.zeros((len(x), 1, 8, 8), dtype=bool)
    for i in range(len(x)):
        r, c = (i * 3) % 5, (i * 2 + 1) % 4
        masks[i, 0, r:r + 3, c:c + 4] = True
    loc = {"masks": masks.astype(int).tolist(), "settings": {"abs": False, "normalise": False, "top_k": 8}}
    for name in ["saliency", "integrated_gradients/gausslegendre"]:
        a = np.array(fx["expected"][name]["values"], dtype=np.float64)
        kw = dict(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), s_batch=masks.copy(), device="cpu")
        common = dict(abs=False, normalise=False, disable_warnings=True)
        loc[name] = {
            "pointing_game": list(map(float, quantus.PointingGame(**common)(**kw))),
            "top_k_intersection": list(map(float, quantus.TopKIntersection(k=8, **common)(**kw))),
            "top_k_concept_influence": list(map(float, quantus.TopKIntersection(k=8, concept_influence=True, **common)(**kw))),
            "relevance_rank_accuracy": list(map(float, quantus.RelevanceRankAccuracy(**common)(**kw))),
            "relevance_mass_accuracy": list(map(float, quantus.RelevanceMassAccuracy(**common)(**kw))),
            "auc": list(map(float, quantus.AUC(**common)(**kw))),
        }
        # Attribution localisation on positive attributions (Quantus: abs=True by default).
        pos = np.abs(a)
        kw["a_batch"] = pos
        loc[name]["attribution_localisation_abs"] = list(map(float, quantus.AttributionLocalisation(abs=True, normalise=False, disable_warnings=True)(**kw)))
    out["localisation"] = loc
    # Selectivity (Montavon et al.): delete 2x2 patches by decreasing attribution sum, logits.
    sel = {"settings": {"patch_size": 2, "perturb_baseline": "black (each input's minimum)", "output": "logit"}}
    for name in ["saliency", "integrated_gradients/gausslegendre"]:
        a = np.array(fx["expected"][name]["values"], dtype=np.float64)
        s_metric = quantus.Selectivity(patch_size=2, perturb_baseline="black", abs=False, normalise=False, disable_warnings=True)
        curves = s_metric(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), device="cpu", softmax=False)
        sel[name] = np.array(curves).tolist()
    out["selectivity"] = sel
    out["pixel_flipping_settings"] = {"features_in_step": 4, "perturb_baseline": "black (Quantus: each input's minimum)", "order": "signed, descending", "normalise": False, "abs": False}
    # Consistency and sufficiency (Dasgupta et al.) compare explanations across inputs: 24
    # seeded inputs, their predicted classes, and seeded attributions (the metrics take any).
    rng = np.random.default_rng(2022)
    xs = rng.normal(size=(24, 1, 8, 8))
    with torch.no_grad():
        pred = model(torch.tensor(xs, dtype=torch.float32)).argmax(1).numpy()
    a_sparse = rng.normal(size=xs.shape) * (rng.uniform(size=xs.shape) < 0.35)
    # Clustered: four centres plus noise, so that near explanations exist.
    a_dense = rng.normal(size=(4, 1, 8, 8))[rng.integers(0, 4, size=24)] + 0.3 * rng.normal(size=xs.shape)
    kw = dict(model=model, y_batch=pred, device="cpu")
    out["dasgupta"] = {
        "x": xs.tolist(), "predicted": pred.tolist(),
        "a_sparse": a_sparse.tolist(), "a_dense": a_dense.tolist(),
        "settings": {"consistency": "top_n_sign (n = 5), abs, normalise", "sufficiency": "threshold 0.6, seuclidean, abs, normalise"},
        "consistency": list(map(float, quantus.Consistency(disable_warnings=True)(x_batch=xs.copy(), a_batch=a_sparse.copy(), **kw))),
        "sufficiency": list(map(float, quantus.Sufficiency(disable_warnings=True)(x_batch=xs.copy(), a_batch=a_dense.copy(), **kw))),
    }
    # ROAD without noise (deterministic): the imputation of one input and the accuracy curves.
    from quantus.functions.perturb_func import noisy_linear_imputation
    ig = np.array(fx["expected"]["integrated_gradients/gausslegendre"]["values"], dtype=np.float64)
    order = np.argsort(-ig[0].reshape(-1))
    road = {
        "settings": {"noise": 0.0, "percentages": list(range(1, 100, 2)), "attributions": "integrated_gradients/gausslegendre", "abs": False, "normalise": False},
        "imputation": {"input": 0, "removed": order[:20].tolist(),
                       "values": noisy_linear_imputation(arr=x[0].copy(), indices=order[:20], noise=0.0).tolist()},
    }
    with torch.no_grad():
        y_pred = model(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()
    road["targets"] = y_pred.tolist()  # the predicted classes: every curve starts at 1
    curve = quantus.ROAD(noise=0.0, abs=False, normalise=False, disable_warnings=True)(
        model=model, x_batch=x.copy(), y_batch=y_pred, a_batch=ig.copy(), device="cpu")
    road["accuracy"] = [float(curve[p]) for p in range(1, 100, 2)]
    # The same on the 24 seeded inputs of the Dasgupta block, with their dense attributions.
    d = out["dasgupta"]
    curve = quantus.ROAD(noise=0.0, abs=False, normalise=False, disable_warnings=True)(
        model=model, x_batch=np.array(d["x"]), y_batch=np.array(d["predicted"]), a_batch=np.array(d["a_dense"]), device="cpu")
    road["accuracy_seeded_inputs"] = [float(curve[p]) for p in range(1, 100, 2)]
    out["road"] = road
    # Random logit (Sixt et al.): the plain input gradient as the explainer, on the 24 seeded
    # inputs; the classes Quantus draws are logged so the test can replay them.
    drawn = []
    def gradient(model, inputs, targets, **kwargs):
        xt = torch.tensor(np.asarray(inputs), dtype=torch.float64, requires_grad=True)
        model64 = build(fx["model"], torch.float64)
        out = model64(xt)
        out[torch.arange(len(targets)), torch.tensor(np.asarray(targets))].sum().backward()
        drawn.append(np.asarray(targets).tolist())
        return xt.grad.detach().numpy()
    xs24, pred24 = np.array(d["x"]), np.array(d["predicted"])
    a24 = gradient(model, xs24, pred24)
    drawn.clear()
    k = int(model(torch.tensor(xs24[:1], dtype=torch.float32)).shape[1])
    rl = quantus.RandomLogit(num_classes=k, seed=42, normalise=False, abs=False, disable_warnings=True)
    scores = rl(model=model, x_batch=xs24.copy(), y_batch=pred24, a_batch=a24.copy(), explain_func=gradient, device="cpu")
    out["random_logit"] = {"settings": {"explainer": "input gradient (f64)", "similarity": "ssim (1-D, win 7)", "normalise": False},
                           "classes": k, "off_classes": drawn[0], "scores": list(map(float, scores))}
    # Relative input and output stability (Agarwal et al.) with the gradient explainer and given
    # perturbations: call k of the perturbation adds seeded U(0, 0.002) noise; the perturbed
    # inputs are stored so the test replays them.
    stab = {"settings": {"explainer": "input gradient (f64)", "nr_samples": 5, "eps_min": 1e-6, "normalise": False, "abs": False}}
    for name, metric in [("input", quantus.RelativeInputStability), ("output", quantus.RelativeOutputStability)]:
        made = []
        def perturb(arr, indices, **kwargs):
            noise = np.random.default_rng(100 + len(made)).uniform(0.0, 0.002, size=arr.shape)
            made.append((arr + noise).tolist())
            return arr + noise
        m = metric(nr_samples=5, perturb_func=perturb, normalise=False, abs=False, disable_warnings=True)
        scores = m(model=model, x_batch=xs24.copy(), y_batch=pred24, a_batch=a24.copy(), explain_func=gradient, device="cpu")
        stab[name] = {"scores": [None if np.isnan(v) else float(v) for v in scores]}
        # Both metrics draw the same perturbations (seeds 100, 101, …): stored once.
        assert stab.setdefault("perturbed", made) == made
    out["relative_stability"] = stab
    # Sensitivity-n (Quantus's cumulative MoRF variant): per step, the correlation across the 24
    # inputs; 4 features per step, black baseline, logits.
    sn = quantus.SensitivityN(features_in_step=4, n_max_percentage=0.8, perturb_baseline="black", abs=False,
                              normalise=False, return_aggregate=False, disable_warnings=True)
    scores = sn(model=model, x_batch=xs24.copy(), y_batch=pred24, a_batch=np.array(d["a_dense"]), device="cpu", softmax=False)
    out["sensitivity_n"] = {"settings": {"features_in_step": 4, "n_max_percentage": 0.8, "perturb_baseline": "black", "attributions": "dasgupta a_dense", "output": "logit"},
                            "scores": list(map(float, scores))}
    # Monotonicity correlation (Nguyen & Martínez) with a replayable perturbation: call c of the
    # perturbation sets feature j of input b to 0.5 + 0.4·sin(1.3·c + 0.7·j + 0.1·b).
    calls = [0]
    def wave(arr, indices, **kwargs):
        c = calls[0]; calls[0] += 1
        out_arr = arr.copy()
        for b in range(arr.shape[0]):
            for j in indices[b]:
                out_arr[b, j] = 0.5 + 0.4 * np.sin(1.3 * c + 0.7 * j + 0.1 * b)
        return out_arr
    mc = quantus.MonotonicityCorrelation(features_in_step=4, nr_samples=3, eps=1e-5, perturb_func=wave, abs=True,
                                         normalise=False, disable_warnings=True)
    scores = mc(model=model, x_batch=xs24.copy(), y_batch=pred24, a_batch=np.array(d["a_dense"]), device="cpu", softmax=False)
    out["monotonicity_correlation"] = {"settings": {"features_in_step": 4, "nr_samples": 3, "eps": 1e-5, "abs": True,
                                                    "perturbation": "0.5 + 0.4 sin(1.3 c + 0.7 j + 0.1 b), c = step * 3 + sample"},
                                       "scores": list(map(float, scores))}
    # Continuity (Montavon et al.) with the gradient explainer: 8 shifts of the 8-pixel-wide
    # images (-6, -4, ..., 8), "black" fill (each image's minimum), absolute attributions.
    co = quantus.Continuity(nr_steps=8, abs=True, normalise=False, disable_warnings=True)
    scores = co(model=model, x_batch=xs24.copy(), y_batch=pred24, a_batch=None, explain_func=gradient, device="cpu", softmax=False)
    out["continuity"] = {"settings": {"explainer": "input gradient (f64)", "nr_steps": 8, "abs": True, "normalise": False, "fill": "black"},
                         "scores": list(map(float, scores))}
    # IROF with replayed segments: input b's 2x2 patches of the 8x8 image, relabelled by a
    # seeded permutation per input (the same 16 segments for every input, so Quantus's zero
    # padding of shorter curves does not arise); baseline 0.0; logits and probabilities.
    perms = np.random.default_rng(7).permuted(np.tile(np.arange(16), (24, 1)), axis=1)
    patch = (np.arange(8)[:, None] // 2) * 4 + np.arange(8)[None, :] // 2
    segs = [perms[b][patch] for b in range(24)]
    original = qutils.get_superpixel_segments
    irof = {"settings": {"segments": "2x2 patches, label perms[b][patch]", "perturb_baseline": 0.0,
                         "attributions": "dasgupta a_dense", "abs": False, "normalise": False},
            "segments": [s_.tolist() for s_ in segs]}
    for softmax in [False, True]:
        seen = [0]
        def replay(img, segmentation_method):
            b = seen[0]; seen[0] += 1
            return segs[b]
        qutils.get_superpixel_segments = replay
        ir = quantus.IROF(perturb_baseline=0.0, abs=False, normalise=False, return_aggregate=False, disable_warnings=True)
        scores = ir(model=model, x_batch=xs24.copy(), y_batch=pred24, a_batch=np.array(d["a_dense"]), device="cpu", softmax=softmax)
        assert seen[0] == 24
        irof["softmax" if softmax else "logit"] = list(map(float, scores))
    qutils.get_superpixel_segments = original
    out["irof"] = irof
    path = os.path.join(ROOT, "assets/fixtures/quantus_metrics.json")
    json.dump(out, open(path, "w"), indent=1)
    print("wrote", path)


def bench():
    fx = json.load(open(os.path.join(ROOT, "../shared/fixtures/perf_lenet.json")))
    torch.set_num_threads(os.cpu_count())
    model = build(fx["model"], torch.float32)
    x = np.array(fx["inputs"], dtype=np.float32)
    y = np.array(fx["targets"])
    a = x.copy()  # the attribution is the input itself: identical on both sides
    res = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(), "inputs": len(x), "quantus": quantus.__version__, "torch": torch.__version__}
    for step in [1, 16]:
        pf = quantus.PixelFlipping(features_in_step=step, perturb_baseline="black", normalise=False, abs=False, disable_warnings=True)
        t = time.perf_counter()
        pf(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), softmax=True, device="cpu", channel_first=True, batch_size=64)
        res[f"pixel_flipping_step{step}_seconds"] = time.perf_counter() - t
    fc = quantus.FaithfulnessCorrelation(nr_runs=100, subset_size=64, perturb_baseline="black", normalise=False, disable_warnings=True)
    t = time.perf_counter()
    fc(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), softmax=True, device="cpu", channel_first=True, batch_size=64)
    res["faithfulness_correlation_seconds"] = time.perf_counter() - t
    # IROF over 4x4 patches (49 segments of the 28x28 image, the same on both sides), baseline 0.
    patches = (np.arange(28)[:, None] // 4) * 7 + np.arange(28)[None, :] // 4
    qutils.get_superpixel_segments = lambda img, segmentation_method: patches
    ir = quantus.IROF(perturb_baseline=0.0, abs=False, normalise=False, return_aggregate=False, disable_warnings=True)
    t = time.perf_counter()
    scores = ir(model=model, x_batch=x.copy(), y_batch=y, a_batch=a.copy(), softmax=True, device="cpu", channel_first=True, batch_size=64)
    res["irof_seconds"] = time.perf_counter() - t
    res["irof_mean"] = float(np.mean(scores))
    # Continuity: 28 sideways shifts, each re-explained by Captum's Saliency through Quantus.
    co = quantus.Continuity(nr_steps=28, abs=True, normalise=False, disable_warnings=True)
    t = time.perf_counter()
    scores = co(model=model, x_batch=x.copy(), y_batch=y, a_batch=None, explain_func=quantus.explain,
                explain_func_kwargs={"method": "Saliency"}, device="cpu", softmax=False, batch_size=64)
    res["continuity_seconds"] = time.perf_counter() - t
    res["continuity_mean"] = float(np.mean(scores))
    # The rest with the settings `xai sanity metrics-bench` uses (crates/xai-bench/src/metrics.rs).
    common = dict(model=model, x_batch=x.copy(), y_batch=y, device="cpu", channel_first=True, batch_size=64)
    saliency = dict(explain_func=quantus.explain, explain_func_kwargs={"method": "Saliency"})
    a_sal = quantus.explain(model, x.copy(), y, method="Saliency")
    # Localisation: the same mask for every input, the central half of the image.
    mask = np.zeros(x.shape, dtype=bool)
    h, w = x.shape[2], x.shape[3]
    mask[:, :, h // 4:h - h // 4, w // 4:w - w // 4] = True
    timed = [
        ("road", lambda: quantus.ROAD(noise=0.01, percentages=list(range(1, 100, 2)), abs=False, normalise=False, disable_warnings=True)(a_batch=a.copy(), softmax=True, **common)),
        ("sensitivity_n", lambda: quantus.SensitivityN(features_in_step=16, n_max_percentage=0.8, perturb_baseline=0.0, abs=False, normalise=False, return_aggregate=False, disable_warnings=True)(a_batch=a.copy(), softmax=False, **common)),
        ("selectivity", lambda: quantus.Selectivity(patch_size=4, perturb_baseline=0.0, abs=False, normalise=False, disable_warnings=True)(a_batch=a.copy(), softmax=True, **common)),
        ("monotonicity_correlation", lambda: quantus.MonotonicityCorrelation(features_in_step=16, nr_samples=5, eps=1e-5, abs=True, normalise=False, disable_warnings=True)(a_batch=a.copy(), softmax=True, **common)),
        ("max_sensitivity", lambda: quantus.MaxSensitivity(nr_samples=10, lower_bound=0.05, abs=False, normalise=False, disable_warnings=True)(a_batch=a_sal.copy(), **saliency, **common)),
        ("relative_input_stability", lambda: quantus.RelativeInputStability(nr_samples=10, abs=False, normalise=False, disable_warnings=True)(a_batch=a_sal.copy(), **saliency, **common)),
        ("random_logit", lambda: quantus.RandomLogit(num_classes=10, seed=0, abs=False, normalise=False, disable_warnings=True)(a_batch=a_sal.copy(), **saliency, **common)),
        ("relative_output_stability", lambda: quantus.RelativeOutputStability(nr_samples=10, abs=False, normalise=False, disable_warnings=True)(a_batch=a_sal.copy(), **saliency, **common)),
        ("local_lipschitz", lambda: quantus.LocalLipschitzEstimate(nr_samples=10, perturb_std=0.1, perturb_mean=0.0, abs=False, normalise=False, disable_warnings=True)(a_batch=a_sal.copy(), **saliency, **common)),
        ("monotonicity_arya", lambda: quantus.Monotonicity(features_in_step=16, perturb_baseline=0.0, abs=False, normalise=False, disable_warnings=True)(a_batch=a.copy(), softmax=False, **common)),
        ("non_sensitivity", lambda: quantus.NonSensitivity(eps=1e-5, features_in_step=1, perturb_baseline=0.0, abs=False, normalise=False, disable_warnings=True)(a_batch=a.copy(), softmax=False, **common)),
        ("completeness", lambda: quantus.Completeness(perturb_baseline=0.0, abs=False, normalise=False, disable_warnings=True)(a_batch=a.copy(), softmax=False, **common)),
        ("consistency", lambda: quantus.Consistency(disable_warnings=True)(a_batch=a.copy(), **common)),
        ("sufficiency", lambda: quantus.Sufficiency(threshold=0.6, disable_warnings=True)(a_batch=a.copy(), **common)),
        ("sparseness_complexity", lambda: (quantus.Sparseness(disable_warnings=True)(a_batch=a.copy(), **common),
                                           quantus.Complexity(disable_warnings=True)(a_batch=a.copy(), **common))[0]),
        ("localisation", lambda: sum((list(m(abs=False, normalise=False, disable_warnings=True)(a_batch=a.copy(), s_batch=mask.copy(), **common))
                                      for m in [quantus.PointingGame, quantus.AttributionLocalisation, lambda **kw: quantus.TopKIntersection(k=64, **kw),
                                                quantus.RelevanceRankAccuracy, quantus.RelevanceMassAccuracy, quantus.AUC]), [])),
        ("effective_complexity", lambda: quantus.EffectiveComplexity(eps=1e-5, disable_warnings=True)(a_batch=a.copy(), **common)),
    ]
    for name, run in timed:
        t = time.perf_counter()
        scores = run()
        res[f"{name}_seconds"] = time.perf_counter() - t
        flat = np.array(list(scores.values()) if isinstance(scores, dict) else scores, dtype=np.float64).ravel()
        res[f"{name}_mean"] = float(np.nanmean(flat))
    print(json.dumps(res))


if __name__ == "__main__":
    bench() if "--bench" in sys.argv else reference()
