"""One way to print results: Rich for people, ``--json`` for programs."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def to_jsonable(obj: Any) -> Any:
    """Convert results (dataclasses with ``to_dict``, numpy, dates, NaN) to JSON values."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Enum):
        return obj.value
    return obj


def dumps(obj: Any) -> str:
    """The JSON text every ``--json`` prints."""
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=False)


def render(result: Any, json_: bool) -> None:
    """Print a result: its JSON shape, or its Rich renderable / ``summary()`` for people."""
    if json_:
        sys.stdout.write(dumps(result) + "\n")
        return
    if hasattr(result, "__rich__") or hasattr(result, "__rich_console__"):
        console.print(result)
    elif hasattr(result, "summary"):
        console.print(result.summary())
    else:
        console.print(result)
