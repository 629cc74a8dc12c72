"""Repeat the main job and send alerts only when their state changes.

Changes go to the terminal, to a JSON-lines file (one object per change), and to
a webhook (one JSON POST per run with changes). The store is closed between runs
so the dashboard and other readers can open it.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rsimeter.assess.observe import Observation, observe
from rsimeter.errors import InputError, RsimeterError
from rsimeter.render import to_jsonable
from rsimeter.store import Store

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in '90', '30s', '5m', '1h30m', '2d' (at least one second)."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        seconds = float(t)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise RsimeterError(f"cannot read duration '{text}' (use e.g. 30s, 5m, 1h, 1d)")
        seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if seconds < 1:
        raise RsimeterError(f"duration '{text}' is under one second")
    return seconds


def check_webhook(url: str) -> str:
    """The URL, if it is http(s) with a host; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RsimeterError(f"webhook must be an http(s) URL with a host, not '{url}'")
    return url


def change_payload(obs: Observation) -> dict[str, Any]:
    """The JSON a webhook receives: the run, its state and verdict, and the changes."""
    return {
        "source": "rsimeter",
        "run_at": obs.run_at.isoformat(),
        "state": obs.assessment.state,
        "exit_code": obs.exit_code,
        "verdict": obs.assessment.verdict.verdict,
        "scenario": obs.assessment.scenario.key,
        "report": str(obs.report) if obs.report else None,
        "changes": [to_jsonable(c) for c in obs.changes],
    }


def post_json(url: str, payload: dict[str, Any], timeout: float = 10.0) -> str | None:
    """POST payload as JSON; returns an error message, or None when it was accepted."""
    body = json.dumps(payload).encode()
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if not 200 <= resp.status < 300:
                return f"webhook answered HTTP {resp.status}"
    except urllib.error.HTTPError as e:
        return f"webhook answered HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return f"webhook unreachable: {getattr(e, 'reason', e)}"
    return None


@dataclass
class Delivery:
    """Where changes go; records delivery failures instead of stopping the watch."""

    jsonl: Path | None = None
    webhook: str | None = None
    say: Callable[[str], None] = print
    progress: Callable[[str], None] | None = None  # each step of each run, if wanted
    failures: list[str] = field(default_factory=list)

    def send(self, obs: Observation) -> None:
        """Deliver this run's changes (nothing when no alert changed state)."""
        if not obs.changes:
            return
        for c in obs.changes:
            self.say(f"{obs.run_at:%Y-%m-%d %H:%M:%S} {c.line()}")
        payload = change_payload(obs)
        if self.jsonl is not None:
            self.jsonl.parent.mkdir(parents=True, exist_ok=True)
            with self.jsonl.open("a", encoding="utf-8") as fh:
                for c in payload["changes"]:
                    record = {k: v for k, v in payload.items() if k != "changes"}
                    fh.write(json.dumps({**record, "change": c}) + "\n")
        if self.webhook is not None:
            error = post_json(self.webhook, payload)
            if error:
                self.failures.append(error)
                self.say(f"warning: {error}")


def watch(
    store_path: Path,
    *,
    every: float,
    max_runs: int | None = None,
    delivery: Delivery | None = None,
    config_path: Path | None = None,
    report_dir: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Observation]:
    """Run the main job every ``every`` seconds, delivering changes; yields each run.

    A run that fails with a user-level error (the store held by another writer, an
    unwritable report folder) is reported through the delivery and the watch goes
    on; a bad config fails the first run and stops the watch.
    """
    delivery = delivery or Delivery()
    run = 0
    while max_runs is None or run < max_runs:
        started = time.monotonic()
        try:
            with Store.open(store_path) as store:
                obs = observe(
                    store, config_path=config_path, report_dir=report_dir, say=delivery.progress
                )
        except InputError:
            raise
        except RsimeterError as e:
            delivery.failures.append(str(e))
            delivery.say(f"warning: run failed: {e}")
        else:
            delivery.send(obs)
            yield obs
        run += 1
        if max_runs is not None and run >= max_runs:
            break
        sleep(max(0.0, every - (time.monotonic() - started)))
