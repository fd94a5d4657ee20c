"""Recent days of generated orders kept on disk between nights (the sample source's own state).

A day's returns, reviews and tickets are decided with the orders they follow (up to
``MAX_LAG`` days earlier), and the tickets of the last ``restatement_days`` days are generated
again every night to fill in their answers. A one-day night in a new process therefore derived
~70 earlier days of orders (and the stock states they depend on) to write one new day: 2.8 s
of a 5 s sample ingest at SF 10, every night, for days that never change. Each day's orders are
a pure function of (seed, scale, day) and this code, so the generator keeps the recent ones in
``<landing>/.sample_cache/`` and reads them back instead of deriving them again.

The universe (catalog, listings, lanes: 0.85 s to draw at SF 10, 14 MB) is kept the same way,
one file per seed and scale.

A file's name holds the seed, the scale, the day and a digest of the generator's source (and
NumPy's version, whose random streams it draws): a changed generator never reads an older
file, and :meth:`OrdersStore.prune` deletes those and the days no night needs any more.
Deleting the folder is always safe (the days are derived again). This is the demo source's
concern only: a marketplace connector fetches its day, it derives nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from orchestration.lib.sample.platform import OrdersDay
    from orchestration.lib.sample.universe import Universe

log = logging.getLogger(__name__)

CACHE_DIR = ".sample_cache"
_SOURCES = (Path(__file__).parent, Path(__file__).parent.parent / "schemas.py")


@lru_cache(maxsize=1)
def generator_version() -> str:
    """Digest of the generator's source files (and NumPy's version): what a cached day was made by."""
    digest = hashlib.sha256(np.__version__.encode())
    files = sorted(p for src in _SOURCES for p in ([src] if src.is_file() else src.glob("*.py")))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file and a rename: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _load(path: Path, what: str) -> object | None:
    """The object pickled in ``path``; None when there is no such file or it cannot be read (then removed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        log.warning("sample cache: %s unreadable (%s); %s again", path, exc, what)
        path.unlink(missing_ok=True)
        return None


def _save(path: Path, value: object) -> None:
    write_atomic(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class OrdersStore:
    """The cached days of one (seed, scale) under a landing folder; days from ``keep_from`` are saved."""

    def __init__(self, landing: Path, seed: int, scale: float, keep_from: int) -> None:
        self.folder = Path(landing) / CACHE_DIR
        #: Every file of this seed and scale starts so; those of this generator version with ``prefix``.
        self.seed_scale = f"orders-{int(seed)}-{float(scale):g}-"
        self.prefix = f"{self.seed_scale}{generator_version()}-"
        self.keep_from = keep_from
        self.loaded = 0
        self.saved = 0

    def _path(self, ordinal: int) -> Path:
        return self.folder / f"{self.prefix}{ordinal}.pkl"

    def load(self, ordinal: int) -> OrdersDay | None:
        path = self._path(ordinal)
        day = _load(path, "deriving the day")
        if day is None:
            return None
        if getattr(day, "ordinal", None) != ordinal:
            log.warning("sample cache: %s holds another day; deriving the day again", path)
            path.unlink(missing_ok=True)
            return None
        self.loaded += 1
        return cast("OrdersDay", day)

    def save(self, day: OrdersDay) -> None:
        path = self._path(day.ordinal)
        if day.ordinal < self.keep_from or path.exists():
            return
        _save(path, day)
        self.saved += 1

    def prune(self) -> int:
        """Delete this seed and scale's days before ``keep_from`` and every day another generator
        version wrote; returns how many files went."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        for path in self.folder.glob(f"{self.seed_scale}*.pkl"):
            stale_version = not path.name.startswith(self.prefix)
            try:
                old_day = int(path.stem.rsplit("-", 1)[1]) < self.keep_from
            except ValueError:
                old_day = True
            if stale_version or old_day:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _universe_path(landing: Path, seed: int, scale: float) -> Path:
    return Path(landing) / CACHE_DIR / f"universe-{int(seed)}-{float(scale):g}-{generator_version()}.pkl"


def load_universe(landing: Path, seed: int, scale: float) -> Universe | None:
    """The universe of ``seed`` and ``scale`` kept under ``landing``, if this generator version wrote it."""
    return cast("Universe | None", _load(_universe_path(landing, seed, scale), "drawing the universe"))


def save_universe(landing: Path, seed: int, scale: float, universe: Universe) -> None:
    """Keep ``universe`` under ``landing`` (replacing what other generator versions wrote for it)."""
    path = _universe_path(landing, seed, scale)
    if path.exists():
        return
    for old in path.parent.glob(f"universe-{int(seed)}-{float(scale):g}-*.pkl"):
        old.unlink(missing_ok=True)
    _save(path, universe)
