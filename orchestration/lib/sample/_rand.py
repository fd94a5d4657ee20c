"""Deterministic randomness: seeded streams per (seed, table, day) and counter-based hashes.

Two tools, for two needs:

- :func:`day_rng` gives a numpy Generator seeded from (seed, tag, day). Everything drawn for a
  day comes from such streams, so a day's data never depends on which date range was asked.
- :func:`uniform` / :func:`normal` hash integer keys (entity index, day ordinal, ...) into
  numbers without any stream state. They let one table recompute exactly what another table
  drew (inventory recomputes the shipments that are in transit) without regenerating whole
  days, and they let a value depend on an entity and a date only.

Python's ``hash()`` is salted per process, so names are hashed with blake2b instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@lru_cache(maxsize=4096)
def stable_int(*parts: object) -> int:
    """A 64-bit integer from any printable parts, identical in every process."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 arithmetic wraps, which is what we want)."""
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _as_u64(k: object) -> np.ndarray:
    a = np.atleast_1d(np.asarray(k))
    return a if a.dtype == np.uint64 else a.astype(np.int64).view(np.uint64)


def hash_u64(seed: int, tag: str, *keys: object) -> np.ndarray:
    """Hash of (seed, tag, keys...) per broadcast element, as uint64."""
    with np.errstate(over="ignore"):
        h = np.atleast_1d(np.uint64(stable_int(seed, tag)))
        for k in keys:
            h = _mix(h ^ _mix(_as_u64(k)))
    return h


def uniform(seed: int, tag: str, *keys: object) -> np.ndarray:
    """Uniform numbers in [0, 1), one per broadcast element of the keys."""
    return (hash_u64(seed, tag, *keys) >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)


def normal(seed: int, tag: str, *keys: object) -> np.ndarray:
    """Standard normal numbers (Box-Muller on two hashed uniforms)."""
    u1 = uniform(seed, tag + "#n1", *keys)
    u2 = uniform(seed, tag + "#n2", *keys)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def day_rng(seed: int, tag: str, day: dt.date) -> np.random.Generator:
    """The random stream of one table (or purpose) on one day."""
    return np.random.default_rng(
        np.random.SeedSequence([seed & 0xFFFFFFFF, stable_int(tag) & 0xFFFFFFFF, day.toordinal()])
    )


def static_rng(seed: int, tag: str, *extra: int) -> np.random.Generator:
    """A stream that does not depend on dates (catalog, listings, lanes)."""
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, stable_int(tag) & 0xFFFFFFFF, *extra]))


def smooth_noise(
    seed: int, tag: str, t: np.ndarray, periods: tuple[float, ...] = (19.0, 47.0, 113.0, 263.0)
) -> np.ndarray:
    """A smooth, unit-variance wiggle over day ordinals ``t`` (sum of sines with hashed phases).

    Why sines: the value on a day must be computable from that day alone (no random walk state),
    yet consecutive days must be close, like a real price series.
    """
    t = np.asarray(t, dtype=np.float64)
    phases, weights, norm = _smooth_params(seed, tag, periods)
    out = np.zeros_like(t)
    for p, ph, w in zip(periods, phases, weights, strict=True):
        out += w * np.sin(2.0 * np.pi * t / p + ph)
    return out / norm


@lru_cache(maxsize=256)
def _smooth_params(seed: int, tag: str, periods: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, float]:
    phases = uniform(seed, tag + "#phase", np.arange(len(periods))) * 2.0 * np.pi
    weights = np.linspace(0.6, 1.0, len(periods))
    return phases, weights, float(np.sqrt(0.5 * np.sum(weights**2)))
