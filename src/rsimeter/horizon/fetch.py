"""Download METR's public run files, verify the checksum, keep them beside the store.

Only on request (``rsimeter horizon fetch metr``): nothing else in rsimeter uses
the network. The default is METR's TH1.1 ``runs.jsonl`` at a pinned commit of
``METR/eval-analysis-public`` with the md5 METR's ``dvc.lock`` lists for it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsimeter.errors import RsimeterError

# TH1.1 release (2026-01-20): the commit and md5 are those of METR's own dvc.lock
METR_COMMIT = "52d6b564d243aeb7531f1cbdc7c33a5a2cc98aaf"
METR_URL = (
    f"https://raw.githubusercontent.com/METR/eval-analysis-public/{METR_COMMIT}/"
    "reports/time-horizon-1-1/data/raw/runs.jsonl"
)
METR_MD5 = "021241ae9b1a6a7439fde805d18d2078"
MAX_BYTES = 200 * 1024 * 1024  # METR's largest run file is about 24 MB


@dataclass(frozen=True)
class FetchResult:
    """Where the verified file is, and whether it was downloaded now."""

    url: str
    path: Path
    md5: str
    bytes: int
    downloaded: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "path": str(self.path),
            "md5": self.md5,
            "bytes": self.bytes,
            "downloaded": self.downloaded,
        }

    def summary(self) -> str:
        verb = "downloaded" if self.downloaded else "already present"
        return f"{verb}: {self.path} ({self.bytes:,} bytes, md5 {self.md5} verified)"


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_file(
    url: str,
    md5: str,
    folder: Path,
    *,
    timeout: float = 60.0,
    max_bytes: int = MAX_BYTES,
    name: str = "runs.jsonl",
) -> FetchResult:
    """Download url into folder unless a file with that md5 is already there.

    The file is written to a temporary name and moved into place only once its md5
    matches, so a failed or tampered download never replaces good data.
    """
    md5 = md5.strip().lower()
    if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise RsimeterError(f"not an md5 checksum: {md5!r}")
    if not url.startswith(("https://", "http://")):
        raise RsimeterError(f"only http(s) URLs can be fetched: {url!r}")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{Path(name).stem}-{md5}{Path(name).suffix}"
    if target.is_file() and _md5(target) == md5:
        return FetchResult(url, target, md5, target.stat().st_size, False)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".fetch-", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "rsimeter"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise RsimeterError(f"{url}: larger than {max_bytes:,} bytes; refused")
                    h.update(chunk)
                    out.write(chunk)
        got = h.hexdigest()
        if got != md5:
            raise RsimeterError(f"{url}: checksum mismatch (md5 {got}, expected {md5}); discarded")
        tmp.replace(target)
    except urllib.error.URLError as e:
        raise RsimeterError(f"{url}: download failed: {e.reason}") from e
    except OSError as e:
        raise RsimeterError(f"{url}: download failed: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    return FetchResult(url, target, md5, size, True)
