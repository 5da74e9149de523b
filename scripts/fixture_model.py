"""A fixture-format model (xai_core::fixture: a list of layers with PyTorch-layout weights)
rebuilt as a torch.nn.Sequential, for the reference scripts."""
import torch


def build(layers, dtype=torch.float64):
    mods = []
    for l in layers:
        t = l["type"]
        if t == "linear":
            w = torch.tensor(l["weight"], dtype=dtype)
            m = torch.nn.Linear(w.shape[1], w.shape[0]).to(dtype)
            m.weight.data, m.bias.data = w, torch.tensor(l["bias"], dtype=dtype)
        elif t == "conv2d":
            w = torch.tensor(l["weight"], dtype=dtype)
            m = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=l["stride"], padding=l["padding"]).to(dtype)
            m.weight.data, m.bias.data = w, torch.tensor(l["bias"], dtype=dtype)
        elif t == "relu":
            m = torch.nn.ReLU()
        elif t == "tanh":
            m = torch.nn.Tanh()
        elif t == "sigmoid":
            m = torch.nn.Sigmoid()
        elif t == "maxpool2d":
            m = torch.nn.MaxPool2d(l["kernel"], l["stride"])
        elif t == "avgpool2d":
            m = torch.nn.AvgPool2d(l["kernel"], l["stride"])
        elif t == "flatten":
            m = torch.nn.Flatten()
        else:
            raise ValueError(t)
        mods.append(m)
    return torch.nn.Sequential(*mods).eval()
