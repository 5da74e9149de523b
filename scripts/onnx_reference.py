"""Regenerates the ONNX fixtures (onnx_resnet, onnx_mlp, onnx_text) at any seed, in the format of
../shared/fixtures/onnx (see its README): the same three architectures, randomly initialised
from the seed (BatchNorm statistics too), exported with torch.onnx (dynamo exporter, opset 20,
or TorchScript with --torchscript), and Captum 0.9 references on a float64 copy.

The checks in crates/xai/tests/onnx_fixtures.rs run on these too: xai implements the operators,
not the fixtures' numbers.

    python scripts/onnx_reference.py OUT_DIR --seed 7 [--torchscript]
"""

import argparse
import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerIntegratedGradients, Saliency, InputXGradient


class Resnet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c3, self.b3 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c4 = nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        a = F.relu(self.b1(self.c1(x)))
        h = F.relu(self.b2(self.c2(a)))
        r = F.relu(a + self.b3(self.c3(h)))
        c = F.relu(self.c4(F.max_pool2d(r, 2)))
        return self.fc(c.mean(dim=(2, 3)))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.ln = nn.Linear(10, 24), nn.LayerNorm(24)
        self.l2, self.l3 = nn.Linear(24, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.l3(F.silu(self.l2(F.gelu(self.ln(self.l1(x))))))


class Block(nn.Module):
    def __init__(self, d=16, heads=2, hidden=32):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.f1, self.f2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x, mask):
        n, t, d = x.shape
        h = self.ln1(x)
        split = lambda z: z.view(n, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        s = q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5
        s = s + (1.0 - mask[:, None, None, :].to(s.dtype)) * -10000.0
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.o(a)
        return x + self.f2(F.gelu(self.f1(self.ln2(x))))


class Text(nn.Module):
    def __init__(self, vocab=40, t=12, d=16, classes=3):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(t, d) * 0.1)
        self.blocks = nn.ModuleList([Block(d), Block(d)])
        self.ln, self.fc = nn.LayerNorm(d), nn.Linear(d, classes)

    def embed(self, ids):
        return self.tok(ids)

    def forward(self, ids, mask):
        x = self.tok(ids) + self.pos[None]
        for b in self.blocks:
            x = b(x, mask)
        m = mask.to(x.dtype)[..., None]
        return self.fc((self.ln(x) * m).sum(1) / m.sum(1))


def randomise(model, g):
    """Non-trivial affine and BatchNorm parameters, so folding and normalisation matter."""
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm2d, nn.LayerNorm)):
            with torch.no_grad():
                mod.weight.copy_(1 + 0.3 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.2 * torch.randn(mod.bias.shape, generator=g))
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.copy_(0.2 * torch.randn(mod.running_mean.shape, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape, generator=g))


def export(model, args, names, dynamic, path, torchscript):
    model.eval()
    if torchscript:
        torch.onnx.export(model, args, path, input_names=names, output_names=["logits"],
                          dynamic_axes={n: {0: "batch"} for n in names}, opset_version=17,
                          dynamo=False)
    else:
        batch = torch.export.Dim("batch", min=1, max=1024)
        shapes = tuple({0: batch} for _ in names) if dynamic else None
        torch.onnx.export(model, args, path, input_names=names, output_names=["logits"],
                          dynamic_shapes=shapes, opset_version=20, dynamo=True)


def ig_keys(f64, x, base, targets, fx):
    for method, key in [("gausslegendre", "gausslegendre"), ("riemann_trapezoid", "riemann_trapezoid")]:
        ig = IntegratedGradients(f64)
        a, delta = ig.attribute(x, base, target=targets, n_steps=32, method=method,
                                return_convergence_delta=True)
        fx["expected"][f"integrated_gradients/{key}"] = {
            "values": a.tolist(), "n_steps": 32, "method": method,
            "convergence_delta": delta.tolist()}


def single_input(name, model, shape, n, seed, out, torchscript, hessian=False):
    g = torch.Generator().manual_seed(seed)
    x32 = torch.rand((n, *shape), generator=g)
    base32 = torch.zeros_like(x32)
    path = out / f"{name}.onnx"
    export(model, (x32,), [("image" if len(shape) == 3 else "features")], True, path, torchscript)
    f64 = model.double().eval()
    x, base = x32.double().requires_grad_(), base32.double()
    logits = f64(x).detach()
    targets = torch.randint(0, logits.shape[1], (n,), generator=g)
    fx = {"name": name, "seed": seed, "generator": "scripts/onnx_reference.py",
          "onnx": path.name, "exporter": "torchscript" if torchscript else "dynamo",
          "inputs": [{"name": "image" if len(shape) == 3 else "features", "dtype": "float32",
                      "shape": list(shape), "values": x32.tolist(), "baseline": base32.tolist(),
                      "attribute": True}],
          "targets": targets.tolist(), "logits": logits.tolist(), "expected": {}}
    fx["expected"]["saliency"] = {"values": Saliency(f64).attribute(x, target=targets, abs=False).tolist()}
    fx["expected"]["input_x_gradient"] = {"values": InputXGradient(f64).attribute(x, target=targets).tolist()}
    ig_keys(f64, x, base, targets, fx)
    if hessian:
        hs = [torch.autograd.functional.hessian(lambda v: f64(v[None])[0, t], x[i].detach()).tolist()
              for i, t in enumerate(targets.tolist())]
        fx["expected"]["input_hessian"] = {"values": hs}
    (out / f"{name}.json").write_text(json.dumps(fx))


def text(seed, out, torchscript, n=4, t=12, vocab=40):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Text(vocab, t)
    randomise(model, g)
    ids = torch.randint(1, vocab, (n, t), generator=g)
    lengths = torch.randint(t // 2, t + 1, (n,), generator=g)
    mask = (torch.arange(t)[None] < lengths[:, None]).long()
    ids = ids * mask
    path = out / "onnx_text.onnx"
    export(model, (ids, mask), ["input_ids", "attention_mask"], True, path, torchscript)
    f64 = model.double().eval()
    logits = f64(ids, mask).detach()
    targets = torch.randint(0, logits.shape[1], (n,), generator=g)
    emb = f64.tok(ids).detach().requires_grad_()

    def from_embedding(e, m):
        x = e + f64.pos[None]
        for b in f64.blocks:
            x = b(x, m)
        mm = m.to(x.dtype)[..., None]
        return f64.fc((f64.ln(x) * mm).sum(1) / mm.sum(1))

    out_e = from_embedding(emb, mask)
    grad = torch.autograd.grad(out_e.gather(1, targets[:, None]).sum(), emb)[0]
    gxi = (grad * emb).sum(-1)
    lig = LayerIntegratedGradients(f64, f64.tok)
    base_ids = torch.zeros_like(ids)
    a, delta = lig.attribute(ids, base_ids, additional_forward_args=(mask,), target=targets,
                             n_steps=64, method="gausslegendre", return_convergence_delta=True)
    fx = {"name": "onnx_text", "seed": seed, "generator": "scripts/onnx_reference.py",
          "onnx": path.name, "exporter": "torchscript" if torchscript else "dynamo",
          "inputs": [
              {"name": "input_ids", "dtype": "int64", "shape": [t], "values": ids.tolist(), "attribute": False},
              {"name": "attention_mask", "dtype": "int64", "shape": [t], "values": mask.tolist(), "attribute": False}],
          "targets": targets.tolist(), "logits": logits.tolist(),
          "expected": {
              "embedding_gradient_x_input": {"values": gxi.tolist(), "layer": "tok.weight"},
              "layer_integrated_gradients/gausslegendre": {
                  "values": a.sum(-1).tolist(), "layer": "tok.weight", "n_steps": 64,
                  "method": "gausslegendre", "baseline_ids": base_ids.tolist(),
                  "convergence_delta": delta.tolist()}}}
    (out / "onnx_text.json").write_text(json.dumps(fx))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--torchscript", action="store_true")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    resnet = Resnet()
    randomise(resnet, g)
    single_input("onnx_resnet", resnet.eval(), (3, 16, 16), 4, a.seed, out, a.torchscript)
    torch.manual_seed(a.seed + 1)
    mlp = Mlp()
    randomise(mlp, g)
    single_input("onnx_mlp", mlp.eval(), (10,), 6, a.seed, out, a.torchscript, hessian=True)
    text(a.seed, out, a.torchscript)
