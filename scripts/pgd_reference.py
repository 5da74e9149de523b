"""Captum's attacks on a network xai trained, side by side with xai's own.

Run:  xai proto bench cleverhans --out OUT            # writes OUT/cleverhans.json and
                                                      # OUT/cleverhans_cnn_fixture.json
      python scripts/pgd_reference.py OUT/cleverhans_cnn_fixture.json [OUT/cleverhans.json]

The fixture holds the Clever Hans CNN (weights as trained by xai) and the attacked test images
with their labels. This script repeats the robustness section's PGD (L∞, ε = 8/255, ten steps of
2/255, no random start, pixels clamped to [0, 1]) and FGSM (ε = 8/255) with captum.robust in
float32, both on the cross-entropy of the logits, and prints both flip rates (share of images whose predicted class changes) next to
xai's from cleverhans.json when given. Needs torch and captum.
"""
import json
import os
import platform
import sys

import torch
import captum
from captum.robust import FGSM, PGD

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_model import build  # noqa: E402


def main():
    fx = json.load(open(sys.argv[1]))
    model = build(fx["model"], torch.float32)
    x = torch.tensor(fx["inputs"], dtype=torch.float32)
    y = torch.tensor(fx["targets"])
    with torch.no_grad():
        clean = model(x).argmax(1)
    eps = 8 / 255
    # Captum's default loss is −log(output), which assumes probabilities; the network gives
    # logits, so both sides use the cross-entropy of the logits.
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    pgd = PGD(model, loss_func=loss, lower_bound=0.0, upper_bound=1.0)
    adv = pgd.perturb(x, radius=eps, step_size=2 / 255, step_num=10, target=y,
                      targeted=False, random_start=False, norm="Linf")
    fgsm = FGSM(model, loss_func=loss, lower_bound=0.0, upper_bound=1.0).perturb(x, epsilon=eps, target=y)
    out = {"images": len(y), "versions": {"captum": captum.__version__, "torch": torch.__version__,
                                          "python": platform.python_version()}}
    with torch.no_grad():
        for name, a in [("pgd_linf_8_255", adv), ("fgsm_8_255", fgsm)]:
            pred = model(a).argmax(1)
            out[name] = {"captum_flip_rate": (pred != clean).float().mean().item(),
                         "captum_accuracy": (pred == y).float().mean().item()}
    if len(sys.argv) > 2:
        ours = json.load(open(sys.argv[2]))["cnn_robustness"]["families"]
        by = {f["name"]: f for f in ours}
        for key, prefix in [("pgd_linf_8_255", "pgd_linf(0.031"), ("fgsm_8_255", "fgsm(0.031")]:
            f = next(v for k, v in by.items() if k.startswith(prefix))
            out[key]["xai_flip_rate"] = f["flip_rate"]
            out[key]["xai_accuracy"] = f["accuracy"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
