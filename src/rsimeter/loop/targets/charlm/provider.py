"""Data for the charlm target: text that ships with Python, and a pool with scraped junk.

Harness-side, trusted code: it runs outside the sandbox and is never copied into a
candidate's work folder.

The corpus is the running interpreter's documentation topics (``pydoc_data.topics``)
and the source of a fixed list of standard-library modules that the driver, torch and
numpy do not import (so a sandbox can hide them: see ``protected_paths``). Paragraphs
that repeat earlier ones (the topics share whole sections) are dropped. Text is mapped
to a 96-symbol vocabulary (newline and printable ASCII; tab becomes a space, anything
else ``?``) and cut into 1024-character chunks. For each seed the chunks are shuffled and
split 80/10/10 into the training pool, the proxy split and the hidden split.

The pool is then corrupted, seeded, as a careless scrape would be:

1. junk: 400 chunks of random symbols and 200 chunks of base64-looking blobs are added;
2. duplicates: 10 pool chunks are each repeated 30 more times.

Proxy and hidden examples are (context, next character) pairs: a 128-character context
window taken inside a clean chunk, and the symbol that follows it. The label is never
inside the context, so a model that looks ahead gains nothing.
"""

from __future__ import annotations

import json
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

import numpy as np

SOURCES = (
    "turtle", "mailbox", "imaplib", "ftplib", "smtplib", "poplib", "pydoc", "configparser",
    "optparse", "plistlib", "cmd", "sched", "wave", "netrc", "getopt", "graphlib", "filecmp",
    "fileinput", "zipapp", "tabnanny",
)  # fmt: skip
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))  # 96 symbols
CHUNK = 1024
CONTEXT = 128
HIDDEN_EXAMPLES, PROXY_EXAMPLES = 2000, 1000
JUNK_RANDOM, JUNK_BASE64 = 400, 200
DUPLICATED, COPIES = 10, 30
DOCS, CODE = 0, 1


def _source_files() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib / f"{name}.py" for name in SOURCES if (stdlib / f"{name}.py").is_file()]


def _encode(text: str) -> np.ndarray:
    table = np.full(128, VOCAB.index("?"), dtype=np.uint8)
    for i, ch in enumerate(VOCAB):
        table[ord(ch)] = i
    table[ord("\t")] = VOCAB.index(" ")
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    out = np.full(len(codes), VOCAB.index("?"), dtype=np.uint8)
    ascii_ = codes < 128
    out[ascii_] = table[codes[ascii_]]
    return out


@lru_cache(maxsize=1)
def _chunks() -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    from pydoc_data.topics import topics

    texts = [(topics[key], DOCS) for key in sorted(topics)]
    texts += [(path.read_text(encoding="utf-8"), CODE) for path in _source_files()]
    chunks, sources = [], []
    seen: set[str] = set()
    for text, source in texts:
        codes = _encode(_drop_repeated_paragraphs(text, seen))
        for start in range(0, len(codes) - CHUNK // 4, CHUNK):  # drop short tails
            chunks.append(codes[start : start + CHUNK])
            sources.append(source)
    return tuple(chunks), np.array(sources, dtype=np.int8)


def _drop_repeated_paragraphs(text: str, seen: set[str]) -> str:
    """Drop paragraphs (of 20+ characters) seen earlier in the corpus.

    The documentation topics repeat whole sections under several keys; without this a
    held-out window could appear word for word in the training pool.
    """
    kept = []
    for paragraph in text.split("\n\n"):
        key = paragraph.strip()
        if len(key) >= 20:
            if key in seen:
                continue
            seen.add(key)
        kept.append(paragraph)
    return "\n\n".join(kept)


def _split(seed: int) -> dict[str, list[int]]:
    chunks, _ = _chunks()
    order = np.random.default_rng([seed, 1717]).permutation(len(chunks))
    n = len(order) // 10
    return {
        "hidden": list(order[:n]),
        "proxy": list(order[n : 2 * n]),
        "pool": list(order[2 * n :]),
    }


def _examples(seed: int, name: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    chunks, _ = _chunks()
    ids = _split(seed)[name]
    rng = np.random.default_rng([seed, 1718, len(name)])
    usable = [i for i in ids if len(chunks[i]) > CONTEXT]
    which = rng.choice(usable, count)
    x = np.empty((count, CONTEXT), dtype=np.int64)
    y = np.empty(count, dtype=np.int64)
    for row, i in enumerate(which):
        chunk = chunks[i]
        end = int(rng.integers(CONTEXT, len(chunk)))
        x[row] = chunk[end - CONTEXT : end]
        y[row] = chunk[end]
    return x, y


def _junk(rng: np.random.Generator) -> list[np.ndarray]:
    junk = [rng.integers(0, len(VOCAB), CHUNK).astype(np.uint8) for _ in range(JUNK_RANDOM)]
    alphabet = _encode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    newline = VOCAB.index("\n")
    for _ in range(JUNK_BASE64):
        blob = alphabet[rng.integers(0, len(alphabet), CHUNK)]
        blob[76::77] = newline
        junk.append(blob)
    return junk


def _pool(seed: int) -> tuple[list[np.ndarray], list[int]]:
    chunks, sources = _chunks()
    rng = np.random.default_rng([seed, 1719])
    ids = _split(seed)["pool"]
    pool = [chunks[i] for i in ids]
    source = [int(sources[i]) for i in ids]
    for blob in _junk(rng):
        pool.append(blob)
        source.append(int(rng.integers(0, 2)))
    for i in rng.choice(len(ids), DUPLICATED, replace=False):
        pool += [pool[i]] * COPIES
        source += [source[i]] * COPIES
    order = rng.permutation(len(pool))
    return [pool[i] for i in order], [source[i] for i in order]


def write_inputs(workdir: Path, seed: int) -> None:
    """Write data/pool.npz (tokens, starts, lengths, source), data/proxy.npz (x, y), meta."""
    data = Path(workdir) / "data"
    data.mkdir(parents=True, exist_ok=True)
    chunks, source = _pool(seed)
    lengths = np.array([len(c) for c in chunks], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    np.savez(
        data / "pool.npz",
        tokens=np.concatenate(chunks),
        starts=starts,
        lengths=lengths,
        source=np.array(source, dtype=np.int8),
    )
    x, y = proxy_split(seed)
    np.savez(data / "proxy.npz", x=x, y=y)
    meta = {
        "vocab": VOCAB,
        "vocab_size": len(VOCAB),
        "context": CONTEXT,
        "sources": {"docs": DOCS, "code": CODE},
        "python": sys.version.split()[0],
    }
    (data / "meta.json").write_text(json.dumps(meta))


def hidden_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, next symbols) from chunks held out from everything the candidate sees."""
    return _examples(seed, "hidden", HIDDEN_EXAMPLES)


def proxy_split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, next symbols) of the proxy split written into the work folder."""
    return _examples(seed, "proxy", PROXY_EXAMPLES)


def protected_paths() -> list[str]:
    """The files the corpus comes from (and their bytecode); a sandbox must hide them."""
    import pydoc_data.topics

    paths = [Path(pydoc_data.topics.__file__), *_source_files()]
    cached = []
    for path in paths:
        cached += sorted((path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"))
    return [str(p) for p in paths + cached]
