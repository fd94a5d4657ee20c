"""Prophet's model, prepared with NumPy instead of Prophet's per-call pandas machinery.

A Prophet fit is a ~20 ms Stan optimisation wrapped in ~60 ms of Python: Prophet rebuilds the
seasonality and holiday features with pandas (crosstabs, one loop per holiday) in ``fit``
and again in ``predict``. For thousands of series with three fits each that wrapper is most
of the night. This module builds the same Stan inputs with NumPy and evaluates the same
prediction formulas:

- scaling: ``y / max|y|`` ("absmax"), ``t = (ds - start) / (end - start)``;
- changepoints: ``n_changepoints`` evenly spaced over the first ``changepoint_range`` of
  the history, as Prophet places them;
- features, in Prophet's column order: yearly then weekly Fourier terms, holiday indicators
  (one column per holiday and window offset, sorted by name), extra regressors
  (standardised unless binary or constant);
- priors: Prophet's defaults (seasonality, holidays and regressors 10, changepoints 0.05);
- Stan: Prophet's own compiled model and initial values, L-BFGS (``ProphetConfig.algorithm``;
  Prophet would use Newton below 100 points) with Newton as the fallback, additive mode,
  linear growth;
- prediction: piecewise-linear trend plus features times coefficients; sampled intervals
  draw trend changes and noise exactly as ``Prophet.predict`` does.

``test_direct_fit_equals_prophet`` checks that forecasts equal the ``prophet`` package's
(:func:`orchestration.defs.forecast.models.fit_prophet`): Stan gets byte-identical inputs,
so the fits are the same and forecasts differ by float rounding (~1e-15), for daily demand
with holidays, weekly buckets with regressors, sampled intervals, flat and log-scale series.
Only what the pipeline uses is supported (linear growth, additive seasonality, MAP).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from orchestration.defs.forecast.calendar import WEEKLY_REGRESSORS, holiday_frame, weekly_calendar_regressors

if TYPE_CHECKING:
    from orchestration.defs.forecast.models import ProphetConfig

#: Prophet's default prior scales and the weekly seasonality's Fourier order.
SEASONALITY_PRIOR_SCALE = 10.0
HOLIDAYS_PRIOR_SCALE = 10.0
CHANGEPOINT_PRIOR_SCALE = 0.05
WEEKLY_FOURIER_ORDER = 3
_EPOCH = pd.Timestamp("1970-01-01")


def _backend_class():
    from prophet.models import CmdStanPyBackend

    return CmdStanPyBackend


@lru_cache(maxsize=1)
def _stan_model():
    """Prophet's compiled Stan model (loaded once per process, through Prophet's backend)."""
    return _backend_class()().model


def optimize(
    data: dict[str, Any], inits: dict[str, Any], seed: int, **kwargs: Any
) -> tuple[dict[str, np.ndarray], bool]:
    """Run Stan's optimizer on ``data`` and ``inits`` (numbers, lists, NumPy arrays); the parameters
    and whether Newton was needed.

    The inputs are written with orjson into this process's Stan folder, and Stan's output files
    are deleted once read. orjson writes each float as the shortest text that reads back as the
    same double, as Python's ``json`` does, ~25 times faster: the standard encoder took ~21 ms of a
    fit's ~30 ms of Python for the daily feature matrix (730 x 60), more than Stan's optimisation
    (cmdstanpy's own writer is slower still).
    """
    model = _stan_model()
    workdir = _workdir()
    fallback = False
    outputs: list[str] = []
    try:
        (workdir / "data.json").write_bytes(_stan_json(data, "data"))
        (workdir / "inits.json").write_bytes(_stan_json(inits, "inits"))
        args: dict[str, Any] = {
            "data": str(workdir / "data.json"),
            "inits": str(workdir / "inits.json"),
            "algorithm": "Newton" if data["T"] < 100 else "LBFGS",
            "iter": int(1e4),
            "output_dir": str(workdir),
            "seed": int(seed) % 2**32,
        }
        args.update(kwargs)
        try:
            fit = model.optimize(**args)
        except RuntimeError:
            if args["algorithm"] == "Newton":
                raise
            fallback = True
            args["algorithm"] = "Newton"
            fit = model.optimize(**args)
        outputs = [*fit.runset.csv_files, *fit.runset.stdout_files]
        raw = _backend_class().stan_to_dict_numpy(fit.column_names, fit.optimized_params_np)
        params = {name: np.atleast_1d(np.asarray(raw[name], dtype=float)).reshape(-1) for name in _PARAMS}
    finally:
        for leftover in [*outputs, *workdir.glob("prophet_model-*")]:
            Path(leftover).unlink(missing_ok=True)
    return params, fallback


def _stan_json(values: dict[str, Any], what: str) -> bytes:
    """``values`` as Stan's JSON input. A NaN or infinity (which JSON cannot hold) is an error
    naming the input, rather than a value Stan would read as something else."""
    for name, value in values.items():
        array = np.asarray(value, dtype=float)
        if not np.isfinite(array).all():
            raise ValueError(
                f"Stan {what} '{name}' holds NaN or infinite values: the series or its features are not finite"
            )
    contiguous = {k: np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v for k, v in values.items()}
    return orjson.dumps(contiguous, option=orjson.OPT_SERIALIZE_NUMPY)


@lru_cache(maxsize=1)
def _workdir() -> Path:
    """One folder per process for Stan's input and output files, emptied after every fit, removed at exit."""
    shm = Path("/dev/shm")  # memory-backed where the OS has it: a fit writes and reads ~0.5 MB
    path = Path(tempfile.mkdtemp(prefix="tw-stan-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    atexit.register(shutil.rmtree, path, True)
    return path


_PARAMS = ("k", "m", "delta", "sigma_obs", "beta")


def fourier_features(ds: pd.DatetimeIndex, period: float, order: int) -> np.ndarray:
    """Prophet's Fourier terms: sin, cos of (i + 1) 2 pi t / period for i < order, t in days since 1970."""
    t = (pd.Series(ds) - _EPOCH).dt.total_seconds().to_numpy() / (24 * 60 * 60)
    x_t = np.pi * 2 * t
    out = np.empty((len(ds), 2 * order))
    for i in range(order):
        c = (i + 1) / period * x_t
        out[:, 2 * i] = np.sin(c)
        out[:, 2 * i + 1] = np.cos(c)
    return out


def _days(values: Any) -> np.ndarray:
    """Dates as whole days since 1970 (int64)."""
    return np.asarray(pd.DatetimeIndex(values).values.astype("datetime64[D]").astype(np.int64))


def holiday_columns(holidays: pd.DataFrame) -> tuple[list[str], list[np.ndarray]]:
    """Prophet's holiday columns (one per holiday and window offset, sorted by name) and the days each marks."""
    days: dict[str, list[int]] = {}
    for row in holidays.itertuples(index=False):
        base = int(_days([row.ds])[0])
        for offset in range(int(row.lower_window), int(row.upper_window) + 1):
            key = f"{row.holiday}_delim_{'+' if offset >= 0 else '-'}{abs(offset)}"
            days.setdefault(key, []).append(base + offset)
    names = sorted(days)
    return names, [np.asarray(days[name], dtype=np.int64) for name in names]


@lru_cache(maxsize=512)
def _market_holiday_columns(country: str, first_year: int, last_year: int) -> tuple[list[str], list[np.ndarray]]:
    return holiday_columns(holiday_frame(country, first_year, last_year))


def holiday_features(ds: pd.DatetimeIndex, columns: tuple[list[str], list[np.ndarray]]) -> np.ndarray:
    """The 0/1 holiday matrix of ``ds`` (sorted dates) for :func:`holiday_columns`."""
    names, marked = columns
    day = _days(ds)
    out = np.zeros((len(day), len(names)))
    for j, wanted in enumerate(marked):
        pos = np.searchsorted(day, wanted)
        hit = pos < len(day)
        hit[hit] = day[pos[hit]] == wanted[hit]
        out[pos[hit], j] = 1.0
    return out


def _standardize(values: np.ndarray, train_rows: int) -> np.ndarray:
    """Prophet's 'auto' standardisation, fitted on the training rows: not for binary or constant columns."""
    train = values[:train_rows]
    unique = np.unique(train)
    if len(unique) < 2 or set(unique.tolist()) == {0.0, 1.0}:
        return values
    return (values - float(np.mean(train))) / float(pd.Series(train).std())


def _changepoints(t: np.ndarray, n_changepoints: int, changepoint_range: float) -> np.ndarray:
    hist_size = int(np.floor(len(t) * changepoint_range))
    n = n_changepoints if n_changepoints + 1 <= hist_size else hist_size - 1
    if n <= 0:
        return np.array([])
    indexes = np.linspace(0, hist_size - 1, n + 1).round().astype(int)
    return np.sort(t[indexes][1:])


def piecewise_linear(t: np.ndarray, deltas: np.ndarray, k: float, m: float, changepoints_t: np.ndarray) -> np.ndarray:
    deltas_t = (changepoints_t[None, :] <= t[..., None]) * deltas
    k_t = deltas_t.sum(axis=1) + k
    m_t = (deltas_t * -changepoints_t).sum(axis=1) + m
    return k_t * t + m_t


class DirectFit:
    """A fitted Prophet model over ``ds`` (training rows first, then the rows to forecast)."""

    def __init__(
        self,
        ds: pd.DatetimeIndex,
        y_train: np.ndarray,
        config: ProphetConfig,
        seed: int,
        init: dict[str, Any] | None = None,
    ) -> None:
        n = len(y_train)
        if n < 2:
            raise ValueError(f"Prophet needs at least two points of history, got {n}")
        if not np.isfinite(y_train).all():
            raise ValueError("Found a non-finite value in the history")
        self.ds = pd.DatetimeIndex(ds)
        self.n_train = n
        self.config = config
        self.start = self.ds[0]
        self.t_scale = self.ds[n - 1] - self.start
        self.t = np.asarray((self.ds - self.start) / self.t_scale, dtype=float)
        self.y_scale = float(np.abs(y_train).max()) or 1.0
        self.X, self.sigmas = self._features()
        y_scaled = y_train / self.y_scale
        t_train = self.t[:n]
        n_changepoints = min(config.n_changepoints, max(n // 4, 1))
        self.changepoints_t = _changepoints(t_train, n_changepoints, config.changepoint_range)
        no_changepoints = len(self.changepoints_t) == 0
        if no_changepoints:
            self.changepoints_t = np.array([0.0])  # Prophet's dummy changepoint
        k = (y_scaled[-1] - y_scaled[0]) / (t_train[-1] - t_train[0])
        default = {
            "k": float(k),
            "m": float(y_scaled[0] - k * t_train[0]),
            "delta": np.zeros(len(self.changepoints_t)),
            "beta": np.zeros(self.X.shape[1]),
            "sigma_obs": 1.0,
        }
        start_values = _sanitize(default, init)
        self.newton_fallback = False
        if y_train.min() == y_train.max():  # Prophet does not call Stan on a flat series
            params = {**default, "sigma_obs": 1e-9}
            params = {name: np.atleast_1d(np.asarray(value, dtype=float)) for name, value in params.items()}
        else:
            data = {
                "T": n,
                "S": len(self.changepoints_t),
                "K": self.X.shape[1],
                "tau": CHANGEPOINT_PRIOR_SCALE,
                "trend_indicator": 0,
                "y": y_scaled,
                "t": t_train,
                "cap": np.zeros(n),
                "t_change": self.changepoints_t,
                "s_a": [1] * self.X.shape[1],
                "s_m": [0] * self.X.shape[1],
                "X": self.X[:n],
                "sigmas": self.sigmas,
            }
            inits = {
                "k": float(start_values["k"]),
                "m": float(start_values["m"]),
                "delta": np.asarray(start_values["delta"], dtype=float),
                "beta": np.asarray(start_values["beta"], dtype=float),
                "sigma_obs": float(start_values["sigma_obs"]),
            }
            kwargs = {"algorithm": config.algorithm} if config.algorithm else {}
            params, self.newton_fallback = optimize(data, inits, seed, **kwargs)
        if no_changepoints:  # as Prophet: fold the dummy changepoint's delta into the base rate
            params["k"] = params["k"] + params["delta"]
            params["delta"] = np.zeros_like(params["delta"])
        self.params = params

    def _features(self) -> tuple[np.ndarray, np.ndarray]:
        config, ds = self.config, self.ds
        blocks: list[np.ndarray] = []
        priors: list[float] = []
        if config.yearly_order > 0:
            blocks.append(fourier_features(ds, 365.25, config.yearly_order))
            priors += [SEASONALITY_PRIOR_SCALE] * (2 * config.yearly_order)
        if config.weekly_seasonality:
            blocks.append(fourier_features(ds, 7, WEEKLY_FOURIER_ORDER))
            priors += [SEASONALITY_PRIOR_SCALE] * (2 * WEEKLY_FOURIER_ORDER)
        if config.country and not config.weekly_calendar:
            matrix = holiday_features(ds, _market_holiday_columns(config.country, ds[0].year, ds[-1].year))
            blocks.append(matrix)
            priors += [HOLIDAYS_PRIOR_SCALE] * matrix.shape[1]
        if config.country and config.weekly_calendar:
            regressors = weekly_calendar_regressors(config.country, ds)
            for name in WEEKLY_REGRESSORS:
                values = regressors[name].to_numpy(dtype=float)
                if len(np.unique(values[: self.n_train])) > 1:  # never seen in training: nothing to learn
                    blocks.append(_standardize(values, self.n_train)[:, None])
                    priors.append(HOLIDAYS_PRIOR_SCALE)
        if not blocks:
            blocks.append(np.zeros((len(ds), 1)))  # Prophet's placeholder column
            priors.append(1.0)
        return np.hstack(blocks), np.asarray(priors, dtype=float)

    def warm_start(self) -> dict[str, Any]:
        """The fitted parameters as Stan inits for the next fit of the same series."""
        p = self.params
        return {
            "k": float(p["k"][0]),
            "m": float(p["m"][0]),
            "sigma_obs": float(p["sigma_obs"][0]),
            "delta": p["delta"],
            "beta": p["beta"],
        }

    def point(self, rows: slice) -> np.ndarray:
        """``yhat`` for a range of rows of ``ds``: trend plus features times coefficients."""
        p = self.params
        trend = piecewise_linear(self.t[rows], p["delta"], float(p["k"][0]), float(p["m"][0]), self.changepoints_t)
        # Prophet multiplies by a (K, 1) coefficient column; the same product, to the last bit.
        seasonal = np.matmul(self.X[rows], p["beta"].reshape(1, -1).transpose())[:, 0] * self.y_scale
        return trend * self.y_scale + seasonal

    def sampled_interval(self, rows: slice, samples: int, width: float) -> tuple[np.ndarray, np.ndarray]:
        """Prophet's simulated interval for future rows: random trend changes plus noise.

        Draws from NumPy's global generator in Prophet's order (uniform, Laplace, normal), so
        the caller seeds and restores it.
        """
        p = self.params
        t = self.t[rows]
        k, m, deltas = float(p["k"][0]), float(p["m"][0]), p["delta"]
        expected = piecewise_linear(t, deltas, k, m, self.changepoints_t)
        if t.max() <= 1:
            uncertainty = np.zeros((samples, len(t)))
        else:
            future = t[t > 1]
            length = len(future)
            single_diff = np.diff(future).mean() if length > 1 else np.diff(self.t[: self.n_train]).mean()
            likelihood = len(self.changepoints_t) * single_diff
            mean_delta = np.mean(np.abs(deltas)) + 1e-8
            change = np.random.uniform(size=(samples, length)) < likelihood
            shifts = np.random.laplace(0, mean_delta, size=change.shape) * change
            shifted = np.hstack([np.zeros((samples, 1)), shifts])[:, :-1]
            shifts = (shifted + shifts) / 2
            uncertainty = shifts.cumsum(axis=1).cumsum(axis=1) * single_diff
            if t.min() <= 1:
                uncertainty = np.concatenate([np.zeros((samples, int(np.sum(t <= 1)))), uncertainty], axis=1)
        trends = (np.tile(expected, (samples, 1)) + uncertainty) * self.y_scale
        noise = np.random.normal(0, float(p["sigma_obs"][0]), trends.shape) * self.y_scale
        seasonal = self.X[rows] @ p["beta"] * self.y_scale
        simulated = (trends + seasonal + noise).T  # rows x samples, as Prophet stacks them
        percentile = np.nanpercentile if np.isnan(simulated).any() else np.percentile
        lower = percentile(simulated, 100 * (1.0 - width) / 2, axis=1)
        upper = percentile(simulated, 100 * (1.0 + width) / 2, axis=1)
        return lower, upper


def _sanitize(default: dict[str, Any], custom: dict[str, Any] | None) -> dict[str, Any]:
    """Warm-start values where they fit the model (Prophet's rule), defaults elsewhere."""
    if custom is None:
        return default
    out = dict(default)
    for name in ("k", "m", "sigma_obs"):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            out[name] = float(custom[name])
    for name in ("delta", "beta"):
        value = np.asarray(custom.get(name, []), dtype=float)
        if value.shape == np.shape(default[name]):
            out[name] = value
    return out
