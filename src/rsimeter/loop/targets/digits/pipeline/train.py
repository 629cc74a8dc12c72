"""digits: a small MLP on 8x8 handwritten digits, trained on a noisy, skewed, duplicated pool.

The harness-owned driver (driver.py) imports this file, calls select() once, then runs
`steps` optimizer steps of get_batch -> model -> loss_fn, and predict() on held-out
images it never shows with labels. Everything below is yours to change.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# --- knobs -------------------------------------------------------------------
# code: model, optimizer, schedule, run length (compute = counted FLOPs)
steps = 300  # optimizer steps
batch_size = 64
lr = 0.01
weight_decay = 0.0
hidden = 64  # width of each hidden layer
depth = 1  # number of hidden layers
warmup = 0  # linear warm-up steps
cosine = False  # cosine decay of the learning rate to 0


# data: which examples to train on
dedupe = False  # drop exact duplicate images from the pool
knn_filter_k = 0  # >0: drop examples whose label most of their k nearest neighbours disagree with
balance_classes = False  # sample every class equally often


# objective: what the training minimises
label_smoothing = 0.0
loss_drop_fraction = 0.0  # ignore this fraction of highest-loss examples in each batch
gce_q = 0.0  # >0: generalised cross-entropy (1 - p_y^q) / q, robust to label noise


# --- code surface (architecture): the model ----------------------------------
class MLP(nn.Module):
    def __init__(self, n_features, n_classes, pixel_max):
        super().__init__()
        layers, width = [], n_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)
        self.scale = 1.0 / pixel_max

    def forward(self, x):
        return self.net(x * self.scale)


def build_model(meta):
    return MLP(meta["n_features"], meta["n_classes"], meta["pixel_max"])


def predict(model, inputs):
    return model(inputs.float()).argmax(dim=1)


# --- code surface (update_rule): optimizer and schedule -----------------------
def build_optimizer(model):
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def lr_schedule(step, steps):
    scale = min(1.0, (step + 1) / warmup) if warmup else 1.0
    if cosine:
        scale *= 0.5 * (1 + np.cos(np.pi * step / steps))
    return scale


# --- data surface (data): which examples to train on, and how often ----------
def select(pool, rng):
    x, y = pool["x"], pool["y"]
    if dedupe:
        _, first = np.unique(x, axis=0, return_index=True)
        first.sort()
        x, y = x[first], y[first]
    if knn_filter_k > 0:
        sq = (x.astype(np.float64) ** 2).sum(1)
        d = sq[:, None] + sq[None, :] - 2 * x.astype(np.float64) @ x.T.astype(np.float64)
        np.fill_diagonal(d, np.inf)
        near = np.argsort(d, axis=1)[:, :knn_filter_k]
        agree = (y[near] == y[:, None]).mean(axis=1)
        x, y = x[agree >= 0.5], y[agree >= 0.5]
    return {"x": torch.from_numpy(x), "y": torch.from_numpy(y)}


def get_batch(data, rng):
    y = data["y"].numpy()
    if balance_classes:
        weights = 1.0 / np.bincount(y, minlength=10)[y]
        idx = rng.choice(len(y), batch_size, p=weights / weights.sum())
    else:
        idx = rng.integers(0, len(y), batch_size)
    idx = torch.from_numpy(idx)
    return data["x"][idx], data["y"][idx]


# --- objective surface (loss): what the training minimises -------------------
def loss_fn(logits, targets):
    losses = F.cross_entropy(logits, targets, label_smoothing=label_smoothing, reduction="none")
    if gce_q > 0:
        p_true = torch.exp(-F.cross_entropy(logits, targets, reduction="none"))
        losses = (1 - p_true.clamp_min(1e-6) ** gce_q) / gce_q
    if loss_drop_fraction > 0:
        keep = max(1, int(len(losses) * (1 - loss_drop_fraction)))
        losses = losses.sort().values[:keep]
    return losses.mean()
