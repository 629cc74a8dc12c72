"""Data for the digits target: scikit-learn's 8x8 digits with a corrupted training pool.

Harness-side, trusted code: it runs outside the sandbox and is never copied into a
candidate's work folder.

For each seed the 1797 images are shuffled and split into a hidden split (600), a proxy
split (300) and the rest (897), from which the training pool is built by three seeded
corruptions, applied in this order:

1. skewed class mix: class c keeps each of its examples with probability
   1 - 0.7 * c / 9 (class 0 keeps all, class 9 about 30%);
2. label noise: 30% of the remaining examples get a label drawn uniformly from the
   nine wrong classes;
3. duplicates: 300 extra rows, copies of mislabelled examples (drawn with
   replacement), so that noise is over-represented and repeated.

The proxy and hidden splits are clean and keep the natural class mix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HIDDEN, PROXY = 600, 300
SKEW_DROP = 0.7
NOISE_RATE = 0.3
DUPLICATES = 300
N_CLASSES = 10


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def _splits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = _digits()
    rng = np.random.default_rng([seed, 4242])
    order = rng.permutation(len(y))
    hidden, proxy, rest = order[:HIDDEN], order[HIDDEN : HIDDEN + PROXY], order[HIDDEN + PROXY :]
    px, py = x[rest], y[rest].copy()
    keep = rng.random(len(py)) < 1 - SKEW_DROP * py / (N_CLASSES - 1)
    px, py = px[keep], py[keep]
    noisy = rng.random(len(py)) < NOISE_RATE
    py[noisy] = (py[noisy] + rng.integers(1, N_CLASSES, noisy.sum())) % N_CLASSES
    copies = rng.choice(np.flatnonzero(noisy), DUPLICATES, replace=True)
    px, py = np.concatenate([px, px[copies]]), np.concatenate([py, py[copies]])
    shuffle = rng.permutation(len(py))
    return {
        "pool": (px[shuffle], py[shuffle]),
        "proxy": (x[proxy], y[proxy]),
        "hidden": (x[hidden], y[hidden]),
    }


def write_inputs(workdir: Path, seed: int) -> None:
    """Write data/pool.npz, data/proxy.npz (x, y) and data/meta.json."""
    data = Path(workdir) / "data"
    data.mkdir(parents=True, exist_ok=True)
    splits = _splits(seed)
    for name in ("pool", "proxy"):
        x, y = splits[name]
        np.savez(data / f"{name}.npz", x=x, y=y)
    meta = {"n_features": 64, "n_classes": N_CLASSES, "pixel_max": 16.0}
    (data / "meta.json").write_text(json.dumps(meta))


def hidden_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) held out from everything the candidate sees."""
    return _splits(seed)["hidden"]


def proxy_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the clean proxy split written into the work folder."""
    return _splits(seed)["proxy"]


def protected_paths() -> list[str]:
    """The file the digits come from; a sandbox that shows it would leak the hidden split."""
    import sklearn.datasets

    return [str(Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz")]
