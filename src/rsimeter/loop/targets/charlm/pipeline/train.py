"""charlm: a small character-level transformer (nanoGPT-style) on Python's docs and source.

The harness-owned driver (driver.py) imports this file, calls select() once, then runs
`steps` optimizer steps of get_batch -> model -> loss_fn, and predict() on held-out
context windows (it returns the log-probabilities of the character that follows each
window). Compute is counted in FLOPs by the driver. Everything below is yours to change.
"""

import math
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# --- knobs -------------------------------------------------------------------
# code: model, optimizer, schedule, run length (compute = counted FLOPs)
steps = 300
batch_size = 16
block_size = 64  # context the model sees (of each 128-character held-out window)
n_layer = 2
n_head = 4
n_embd = 64
lr = 1e-3
weight_decay = 0.0
warmup = 0  # linear warm-up steps
cosine = False  # cosine decay of the learning rate to 10%


# data: which text to train on
dedupe = False  # drop repeated chunks
max_compress_ratio = 1.0  # drop chunks whose zlib size / raw size exceeds this (1.0 keeps all)
code_fraction = 0.5  # share of batches drawn from source code (the rest from documentation)


# objective: what the training minimises
label_smoothing = 0.1
z_loss = 0.0  # weight of a log-partition penalty (keeps logits calibrated)


# --- code surface (architecture): the model ----------------------------------
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)
        )

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, n_head, c // n_head).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class CharLM(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*[Block() for _ in range(n_layer)])
        self.ln = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t))
        return self.head(self.ln(self.blocks(x)))


def build_model(meta):
    return CharLM(meta["vocab_size"])


def predict(model, inputs):
    logits = model(inputs[:, -block_size:].long())[:, -1, :]
    return F.log_softmax(logits, dim=-1)


# --- code surface (update_rule): optimizer and schedule -----------------------
def build_optimizer(model):
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def lr_schedule(step, steps):
    scale = min(1.0, (step + 1) / warmup) if warmup else 1.0
    if cosine:
        scale *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps))
    return scale


# --- data surface (data): which text to train on, and in what mix ------------
def select(pool, rng):
    tokens, starts, lengths, source = (
        pool["tokens"],
        pool["starts"],
        pool["lengths"],
        pool["source"],
    )
    keep = np.ones(len(starts), dtype=bool)
    if dedupe:
        seen = set()
        for i, (s, n) in enumerate(zip(starts, lengths, strict=True)):
            key = tokens[s : s + n].tobytes()
            keep[i] = key not in seen
            seen.add(key)
    if max_compress_ratio < 1.0:
        for i, (s, n) in enumerate(zip(starts, lengths, strict=True)):
            keep[i] &= len(zlib.compress(tokens[s : s + n].tobytes())) / n <= max_compress_ratio
    streams = {}
    for kind in (0, 1):  # 0 = documentation, 1 = source code
        ids = np.flatnonzero(keep & (source == kind))
        streams[kind] = torch.from_numpy(
            np.concatenate([tokens[starts[i] : starts[i] + lengths[i]] for i in ids]).astype(
                np.int64
            )
        )
    return streams


def get_batch(data, rng):
    n_code = int(rng.binomial(batch_size, code_fraction))
    rows = []
    for kind, count in ((1, n_code), (0, batch_size - n_code)):
        stream = data[kind]
        for start in rng.integers(0, len(stream) - block_size - 1, count):
            rows.append(stream[start : start + block_size + 1])
    batch = torch.stack(rows)
    return batch[:, :-1], batch[:, 1:]


# --- objective surface (loss): what the training minimises -------------------
def loss_fn(logits, targets):
    flat = logits.reshape(-1, logits.shape[-1])
    loss = F.cross_entropy(flat, targets.reshape(-1), label_smoothing=label_smoothing)
    if z_loss > 0:
        loss = loss + z_loss * torch.logsumexp(flat, dim=-1).pow(2).mean()
    return loss
