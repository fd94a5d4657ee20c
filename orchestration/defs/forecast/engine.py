"""One series at a time: rolling-origin backtest, trust decision, published forecast; many in parallel.

For every series (:class:`SeriesTask`):

1. **Path.** Demand with sales on fewer than ``min_days_with_sales`` days gets the baseline
   only. Intermittent demand (ADI above ``intermittent_adi``) is summed into 7-day buckets
   ending on the last day and modelled weekly ("weekly" granularity); the rest is modelled
   daily. Freight rates are weekly, on the log scale (rates move in relative terms and stay
   positive).
2. **Backtest.** ``backtest_origins`` origins, one horizon apart, ending on the last point:
   with 2 origins and a 90-day horizon the model is fitted on the history up to 180 and up
   to 90 days before the end, and each forecast is scored on the 90 days that followed,
   together with the baseline's. Each fit is warm-started from the previous one (same
   series, shorter history), which saves L-BFGS iterations.
3. **Decision.** Prophet is trusted when its mean MASE over the origins is below the
   baseline's (mean MAE when the MASE is undefined). No origin fits in a short history: not
   trusted. A trusted series gets one more fit on the full history (warm-started again);
   the others publish the baseline and skip that fit.
4. **Published forecast.** Daily rows for demand (weekly buckets spread over the days by the
   series' weekday profile), weekly rows for freight; never negative.

**Backtest reuse.** A demand task may carry the verdict of a recent backtest of the same series
(:class:`PriorBacktest`, at the same granularity): then steps 2 and 3 are taken from it, and only
the final fit runs (one fit instead of ``backtest_origins`` + 1). The assets decide when
(``forecast.backtest_every_days``): each series is backtested again on its own day of the cycle.

Everything a result holds depends only on the task, so results are the same whether the
series run in this process or in any number of worker processes (:func:`run_tasks`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import multiprocessing
import os
import pickle
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from orchestration.defs.forecast import metrics
from orchestration.defs.forecast.models import (
    INTERVAL_WIDTH,
    WEEKLY_YEARLY_ORDER,
    ProphetConfig,
    ProphetFit,
    _future_dates,
    average_demand_interval,
    daily_demand_config,
    days_with_data,
    fit_prophet_direct,
    quiet_stan_logs,
    seasonal_naive_forecast,
    spread_weekly,
    to_weekly,
    weekday_profile,
    weekly_demand_config,
)

PROPHET = "prophet"
SEASONAL_NAIVE = "seasonal_naive"
NAIVE = "naive"
DAILY = "daily"
WEEKLY = "weekly"
#: Minimum weeks of history for a yearly seasonality in a weekly model (two cycles).
MIN_WEEKS_FOR_YEARLY = 104


@dataclass(frozen=True)
class DemandConfig:
    """Settings of demand series (daily data, ``horizon_days`` ahead)."""

    horizon_days: int = 90
    backtest_origins: int = 2
    history_days: int = 730
    min_days_with_sales: int = 28
    intermittent_adi: float = 1.32
    uncertainty_samples: int = 0
    interval_width: float = INTERVAL_WIDTH
    seed: int = 7


@dataclass(frozen=True)
class FreightConfig:
    """Settings of freight-rate series (weekly data, ``horizon_weeks`` ahead)."""

    horizon_weeks: int = 12
    backtest_origins: int = 3
    history_weeks: int = 156
    uncertainty_samples: int = 0
    interval_width: float = INTERVAL_WIDTH
    seed: int = 7


@dataclass(frozen=True)
class PriorBacktest:
    """The backtest of a series on an earlier night, to decide again without refitting the origins."""

    granularity: str
    #: Prophet beat the baseline (None: it could not be backtested; such a verdict is not reused).
    beat: bool | None
    decision: str
    #: Its rows of ``forecast.backtest_metrics``: origin_date, model, n_points, mae, mase, smape_pct, interval_coverage.
    rows: tuple[dict[str, Any], ...]
    #: Last day of the history that backtest saw.
    backtested_through: dt.date


@dataclass(frozen=True)
class SeriesTask:
    """One series to forecast: gap-free ``ds``/``y`` (daily demand, weekly freight rates)."""

    series_id: str
    kind: Literal["demand", "freight"]
    ds: np.ndarray
    y: np.ndarray
    config: DemandConfig | FreightConfig
    country: str | None = None
    #: Return the history tail and last backtest forecasts, for plots.
    keep_detail: bool = False
    #: A recent backtest to reuse (demand only): only the final fit runs.
    prior: PriorBacktest | None = None


@dataclass
class SeriesResult:
    series_id: str
    granularity: str
    candidate_model: str | None
    model: str
    beat_baseline: bool | None
    decision: str
    #: Published rows: ds, yhat, yhat_lower, yhat_upper (days for demand, weeks for freight).
    forecast: pd.DataFrame
    #: One dict per backtest origin and model.
    metrics: list[dict[str, Any]]
    #: Mean metrics over the origins, per model, plus the number of origins.
    summary: dict[str, Any]
    detail: dict[str, pd.DataFrame] | None = None
    #: Last day of the history the verdict's backtest saw (an earlier night's when reused).
    backtested_through: dt.date | None = None
    #: The verdict was reused from an earlier night's backtest.
    backtest_reused: bool = False
    fits: int = 0
    #: Fits where L-BFGS stopped early and Newton's method was used instead.
    newton_fallbacks: int = 0
    seconds: float = field(default=0.0, compare=False)
    #: CPU time of the series: this process and the Stan processes it ran (load-independent cost).
    cpu_seconds: float = field(default=0.0, compare=False)

    @property
    def is_trusted(self) -> bool:
        return self.beat_baseline is True


def series_seed(seed: int, series_id: str) -> int:
    """A per-series seed that depends on the series, not on the order or process it runs in."""
    return (int(seed) * 1_000_003 + zlib.crc32(series_id.encode("utf-8"))) % 2**32


# ---------------------------------------------------------------- backtest


@dataclass
class _Path:
    """How a series is evaluated and forecast at one granularity."""

    frame: pd.DataFrame  # ds, y at the evaluation granularity
    granularity: str
    horizon: int  # steps
    season: int  # steps, for the baseline and the MASE scale
    step_days: int
    baseline_name: str
    model_config: Callable[[int], ProphetConfig]  # training length (steps) -> config
    min_train: int  # steps


def _baseline(path: _Path, train: pd.DataFrame, horizon: int, floor: bool) -> pd.DataFrame:
    return seasonal_naive_forecast(
        train,
        horizon,
        season_days=path.season,
        step_days=path.step_days,
        floor=floor,
        width=path.model_config(len(train)).interval_width,
    )


def _model(path: _Path, train: pd.DataFrame, horizon: int, seed: int, init: dict[str, Any] | None) -> ProphetFit:
    future = _future_dates(train, horizon, path.step_days)
    return fit_prophet_direct(train, future, path.model_config(len(train)), seed, init=init)


def _score(model: str, origin: pd.Timestamp, test: pd.DataFrame, fc: pd.DataFrame, scale: float) -> dict[str, Any]:
    actual = test["y"].to_numpy()
    return {
        "origin_date": origin.date(),
        "model": model,
        "n_points": int(len(actual)),
        "mae": metrics.mae(actual, fc["yhat"]),
        "mase": metrics.mase(actual, fc["yhat"], scale),
        "smape_pct": metrics.smape(actual, fc["yhat"]),
        "interval_coverage": metrics.coverage(actual, fc["yhat_lower"], fc["yhat_upper"]),
    }


def _mean(rows: list[dict[str, Any]], model: str, key: str) -> float:
    values = [r[key] for r in rows if r["model"] == model and np.isfinite(r[key])]
    return float(np.mean(values)) if values else float("nan")


def _fmt(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else "n/a"


def _backtest_and_forecast(
    path: _Path,
    seed: int,
    n_origins: int,
    floor: bool,
    keep_detail: bool,
    fit_model: bool = True,
    prior: PriorBacktest | None = None,
) -> dict[str, Any]:
    """Backtest at up to ``n_origins`` origins, decide, and forecast from the full history.

    With ``fit_model=False`` only the baseline is scored and published (no Prophet fit). With a
    usable ``prior`` (same granularity, a verdict) the origins are not fitted again: its rows
    and verdict stand, and only the final fit runs (from Prophet's default start).
    """
    frame = path.frame
    n = len(frame)
    if fit_model and prior is not None and prior.granularity == path.granularity and prior.beat is not None:
        return _reuse_backtest(path, seed, floor, keep_detail, prior)
    cuts = [n - k * path.horizon for k in range(n_origins, 0, -1)]
    cuts = [c for c in cuts if c >= path.min_train]
    rows: list[dict[str, Any]] = []
    init: dict[str, Any] | None = None
    failure: str | None = None
    fits = 0
    fallbacks = 0
    last: dict[str, pd.DataFrame] = {}
    for cut in cuts:
        train, test = frame.iloc[:cut], frame.iloc[cut : cut + path.horizon]
        origin = pd.Timestamp(train["ds"].iloc[-1])
        scale = metrics.naive_scale(train["y"].to_numpy(), path.season)
        base = _baseline(path, train, path.horizon, floor)
        rows.append(_score(path.baseline_name, origin, test, base, scale))
        last = {"backtest_baseline": base}
        if not fit_model:
            continue
        try:
            fits += 1
            fit = _model(path, train, path.horizon, seed, init)
        except (ValueError, RuntimeError) as exc:
            failure = f"Prophet failed at origin {origin.date()} ({type(exc).__name__}: {str(exc)[:200]})"
            break
        init = fit.params
        fallbacks += fit.newton_fallback
        rows.append(_score(PROPHET, origin, test, fit.forecast, scale))
        last["backtest_model"] = fit.forecast

    summary = _summary(rows, path.baseline_name)

    baseline_label = path.baseline_name.replace("_", " ")
    beat: bool | None
    if not fit_model:
        beat, decision = None, f"{baseline_label}: no model fitted"
    elif not cuts:
        beat = None
        unit = "days" if path.step_days == 1 else "weeks"
        decision = (
            f"{baseline_label}: {n} {unit} of history, too short to backtest a {path.horizon}-{unit[:-1]} "
            f"forecast (needs {path.min_train + path.horizon})"
        )
    elif failure:
        beat = False
        decision = f"{baseline_label}: {failure}"
    else:
        pm, bm = summary["prophet_mase"], summary["baseline_mase"]
        if np.isfinite(pm) and np.isfinite(bm):
            beat, measure, p, b = pm < bm, "MASE", pm, bm
        else:
            beat, measure = summary["prophet_mae"] < summary["baseline_mae"], "MAE"
            p, b = summary["prophet_mae"], summary["baseline_mae"]
        verdict = f"{measure} {_fmt(p)} vs {_fmt(b)} over {summary['backtest_origins']} origin(s)"
        decision = f"prophet beat {baseline_label}: {verdict}" if beat else f"{baseline_label} kept: prophet {verdict}"

    through = pd.Timestamp(frame["ds"].iloc[-1]).date() if n else None
    return _publish(path, seed, floor, keep_detail, beat, decision, init, rows, fits, fallbacks, last, through, False)


def _publish(
    path: _Path,
    seed: int,
    floor: bool,
    keep_detail: bool,
    beat: bool | None,
    decision: str,
    init: dict[str, Any] | None,
    rows: list[dict[str, Any]],
    fits: int,
    fallbacks: int,
    last: dict[str, pd.DataFrame],
    backtested_through: dt.date | None,
    reused: bool,
) -> dict[str, Any]:
    """The published forecast of a verdict: Prophet on the full history when trusted (warm-started
    from ``init``), else the baseline; and the outcome of the series. ``backtested_through``: the
    last day the verdict's backtest saw; ``reused``: that backtest ran on an earlier night."""
    forecast: pd.DataFrame | None = None
    model_used = path.baseline_name
    frame = path.frame
    if beat:
        try:
            fits += 1
            final = _model(path, frame, path.horizon, seed, init)
            forecast, model_used = final.forecast, PROPHET
            fallbacks += final.newton_fallback
        except (ValueError, RuntimeError) as exc:
            beat = False
            decision = (
                f"{path.baseline_name.replace('_', ' ')}: Prophet failed on the full history "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            )
    if forecast is None:
        forecast = _baseline(path, frame, path.horizon, floor)
    detail = None
    if keep_detail:
        detail = {"history": frame.tail(2 * path.horizon + path.season).reset_index(drop=True), "forecast": forecast}
        detail.update(last)
    return {
        "granularity": path.granularity,
        "beat": beat,
        "decision": decision,
        "model": model_used,
        "forecast": forecast,
        "rows": rows,
        "summary": _summary(rows, path.baseline_name),
        "detail": detail,
        "fits": fits,
        "newton_fallbacks": fallbacks,
        "backtested_through": backtested_through,
        "reused": reused,
    }


def _summary(rows: list[dict[str, Any]], baseline_name: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"backtest_origins": len({r["origin_date"] for r in rows})}
    for model, prefix in ((PROPHET, "prophet"), (baseline_name, "baseline")):
        for key in ("mase", "smape_pct", "interval_coverage", "mae"):
            summary[f"{prefix}_{key}"] = _mean(rows, model, key)
    return summary


def _reuse_backtest(path: _Path, seed: int, floor: bool, keep_detail: bool, prior: PriorBacktest) -> dict[str, Any]:
    """The verdict of ``prior`` on today's history: the final fit when Prophet is trusted, else the baseline."""
    rows = [dict(r) for r in prior.rows]
    return _publish(
        path, seed, floor, keep_detail, prior.beat, prior.decision, None, rows, 0, 0, {}, prior.backtested_through, True
    )


# ---------------------------------------------------------------- series kinds


def _demand(task: SeriesTask, seed: int) -> dict[str, Any]:
    cfg = task.config
    assert isinstance(cfg, DemandConfig)
    if not task.country:
        raise ValueError(f"demand series {task.series_id} has no destination country")
    daily = pd.DataFrame({"ds": pd.to_datetime(task.ds), "y": np.asarray(task.y, dtype=float)}).tail(cfg.history_days)
    daily = daily.reset_index(drop=True)
    width = cfg.interval_width
    with_sales = days_with_data(daily)
    adi = average_demand_interval(daily)
    country = task.country
    if adi > cfg.intermittent_adi:
        weekly = to_weekly(daily)
        path = _Path(
            frame=weekly,
            granularity=WEEKLY,
            horizon=math.ceil(cfg.horizon_days / 7),
            season=1,
            step_days=7,
            baseline_name=SEASONAL_NAIVE,
            model_config=lambda n: weekly_demand_config(country, n, cfg.uncertainty_samples, width),
            min_train=13,
        )
    else:
        path = _Path(
            frame=daily,
            granularity=DAILY,
            horizon=cfg.horizon_days,
            season=7,
            step_days=1,
            baseline_name=SEASONAL_NAIVE,
            model_config=lambda n: daily_demand_config(country, n, cfg.uncertainty_samples, width),
            min_train=max(cfg.horizon_days, 28),
        )
    if with_sales < cfg.min_days_with_sales:
        # Too little to fit anything: the baseline, scored where a backtest fits, for the record.
        out = _backtest_and_forecast(
            path, seed, cfg.backtest_origins, floor=True, keep_detail=task.keep_detail, fit_model=False
        )
        out["beat"] = None
        out["decision"] = f"seasonal naive: sales on {with_sales} days < {cfg.min_days_with_sales}, no model fitted"
        out["candidate"] = None
    else:
        out = _backtest_and_forecast(
            path, seed, cfg.backtest_origins, floor=True, keep_detail=task.keep_detail, prior=task.prior
        )
        out["candidate"] = PROPHET
        if path.granularity == WEEKLY and not out["reused"]:  # a reused decision says it already
            out["decision"] += f" (weekly buckets: ADI {adi:.2f} > {cfg.intermittent_adi})"
    if path.granularity == WEEKLY:
        weekly_fc = out["forecast"]
        out["forecast"] = spread_weekly(weekly_fc, weekday_profile(daily), cfg.horizon_days)
    return out


def _freight(task: SeriesTask, seed: int) -> dict[str, Any]:
    cfg = task.config
    assert isinstance(cfg, FreightConfig)
    weekly = pd.DataFrame({"ds": pd.to_datetime(task.ds), "y": np.asarray(task.y, dtype=float)})
    weekly = weekly.tail(cfg.history_weeks).reset_index(drop=True)
    if (weekly["y"] <= 0).any():
        raise ValueError(f"freight series {task.series_id} has non-positive rates")
    width = cfg.interval_width

    def config(n: int) -> ProphetConfig:
        return ProphetConfig(
            yearly_order=WEEKLY_YEARLY_ORDER if n >= MIN_WEEKS_FOR_YEARLY else 0,
            weekly_seasonality=False,
            log_scale=True,
            floor_zero=False,
            # Rates shift regime within weeks (a canal closes, a peak season starts): let the
            # trend bend until close to the end, not only in the first 80% of the history.
            changepoint_range=0.95,
            uncertainty_samples=cfg.uncertainty_samples,
            interval_width=width,
        )

    path = _Path(
        frame=weekly,
        granularity=WEEKLY,
        horizon=cfg.horizon_weeks,
        season=1,
        step_days=7,
        baseline_name=NAIVE,
        model_config=config,
        min_train=max(cfg.horizon_weeks, 26),
    )
    out = _backtest_and_forecast(path, seed, cfg.backtest_origins, floor=True, keep_detail=task.keep_detail)
    out["candidate"] = PROPHET
    return out


def forecast_series(task: SeriesTask) -> SeriesResult:
    """Backtest, decide and forecast one series (pure: same task, same result)."""
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    seed = series_seed(task.config.seed, task.series_id)
    if len(task.ds) != len(task.y):
        raise ValueError(f"series {task.series_id}: {len(task.ds)} dates but {len(task.y)} values")
    if len(task.ds) == 0:
        raise ValueError(f"series {task.series_id} is empty")
    out = _demand(task, seed) if task.kind == "demand" else _freight(task, seed)
    return SeriesResult(
        series_id=task.series_id,
        granularity=out["granularity"],
        candidate_model=out["candidate"],
        model=out["model"],
        beat_baseline=out["beat"],
        decision=out["decision"],
        forecast=out["forecast"].reset_index(drop=True),
        metrics=out["rows"],
        summary=out["summary"],
        detail=out["detail"],
        backtested_through=out["backtested_through"],
        backtest_reused=out["reused"],
        fits=out["fits"],
        newton_fallbacks=out["newton_fallbacks"],
        seconds=time.perf_counter() - started,
        cpu_seconds=_cpu_seconds() - cpu_started,
    )


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


# ---------------------------------------------------------------- parallel


def _init_worker() -> None:
    """Worker start-up: quiet Stan's loggers and import Prophet once, not per series."""
    quiet_stan_logs()
    import prophet  # noqa: F401


#: What a forkserver imports once: the workers it forks start with Prophet and this module
#: loaded instead of importing them each (about 2.5 s of a spawned worker's start).
FORKSERVER_PRELOAD = ("orchestration.defs.forecast.engine", "prophet")


def worker_context(start_method: str) -> multiprocessing.context.BaseContext:
    """The multiprocessing context of the workers: ``spawn``, or ``forkserver`` preloading Prophet."""
    if start_method not in ("spawn", "forkserver"):
        raise ValueError(f"start_method must be 'spawn' or 'forkserver', got {start_method!r}")
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(list(FORKSERVER_PRELOAD))
    return context


def boot_forkserver(start_method: str) -> bool:
    """Start the workers' forkserver now, in the background, when the workers fork from one
    (``forkserver``): it imports Prophet (``FORKSERVER_PRELOAD``) on a core of its own while this
    process goes on, and the first worker forked from it later starts at once. The nightly boots it
    as its dbt build starts (``defs/transform``): the build's first seconds (dbt parsing and
    planning) leave a core idle, while the head start, begun when the build is done
    (``defs/jobs.py``), waited ~0.6 s for the server's imports. Returns whether the workers fork
    from a server (then running, started now or before), False for ``spawn``."""
    if start_method != "forkserver":
        return False
    from multiprocessing import forkserver

    worker_context(start_method)  # the preload, before the server starts
    forkserver.ensure_running()
    return True


def task_digest(task: SeriesTask) -> str:
    """What identifies a task's work: the digest of all of it (series, dates, values, settings, prior
    verdict, plot detail). Equal digests, equal results (:func:`forecast_series` is pure)."""
    return hashlib.sha256(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


class HeadStart:
    """Tasks forecast in the background before the steps that need them run.

    The nightly starts one when the marts are built (``defs/jobs.py``): its worker forecasts the
    series of the built marts while this process runs the gates and the steps that do not wait
    for a forecast, on the core they leave idle. Nothing is written: each forecast step reads its
    inputs again once the gates passed, and takes from here (:meth:`take`) only the results of
    tasks identical to its own (:func:`task_digest`), computing the others itself; a run whose
    gates fail never takes them, and :func:`cancel_head_start` drops them at the run's end.
    Tasks come in groups (one per forecast asset), forecast in the order given.
    """

    def __init__(self, groups: dict[str, Sequence[SeriesTask]], start_method: str, workers: int = 1) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=max(1, workers), mp_context=worker_context(start_method), initializer=_init_worker
        )
        self._groups: dict[str, dict[str, Future]] = {}
        for group, tasks in groups.items():
            futures = self._groups.setdefault(group, {})
            for task in tasks:
                digest = task_digest(task)
                if digest not in futures:
                    futures[digest] = self._pool.submit(forecast_series, task)

    def groups(self) -> list[str]:
        """The groups not taken yet."""
        return list(self._groups)

    def take(self, group: str, tasks: Sequence[SeriesTask]) -> dict[int, Future]:
        """The futures of ``tasks`` (by position) in ``group`` that are done or under way; the group's
        others are cancelled (the step forecasts those itself)."""
        futures = self._groups.pop(group, {})
        for future in futures.values():
            future.cancel()  # only those not started yet: the others finish
        taken: dict[int, Future] = {}
        for i, task in enumerate(tasks):
            future = futures.get(task_digest(task))
            if future is not None and not future.cancelled():
                taken[i] = future
        if not self._groups:
            self._pool.shutdown(wait=False)  # its worker exits once the futures under way are done
        return taken

    def cancel(self) -> None:
        """Drop every result: cancel what has not started, and let the worker exit."""
        for futures in self._groups.values():
            for future in futures.values():
                future.cancel()
        self._groups.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


_head_start: HeadStart | None = None
_head_start_lock = threading.Lock()


def begin_head_start(groups: dict[str, Sequence[SeriesTask]], start_method: str, workers: int = 1) -> HeadStart:
    """Start forecasting the groups' tasks in the background (replacing a head start begun before)."""
    global _head_start
    from orchestration.lib import run_scope

    head_start = HeadStart(groups, start_method, workers)
    with _head_start_lock:
        previous, _head_start = _head_start, head_start
    if previous is not None:
        previous.cancel()
    run_scope.at_end("the forecasts' head start", cancel_head_start)
    return head_start


def take_head_start(group: str, tasks: Sequence[SeriesTask]) -> dict[int, Future]:
    """From the head start begun in this process, the futures of ``tasks`` (see :meth:`HeadStart.take`)."""
    global _head_start
    with _head_start_lock:
        head_start = _head_start
        if head_start is None:
            return {}
        taken = head_start.take(group, tasks)
        if not head_start.groups():
            _head_start = None
    return taken


def cancel_head_start() -> bool:
    """Cancel the head start not taken yet, if any (at a run's end)."""
    global _head_start
    with _head_start_lock:
        head_start, _head_start = _head_start, None
    if head_start is not None:
        head_start.cancel()
    return head_start is not None


def run_tasks(
    tasks: Sequence[SeriesTask],
    workers: int,
    start_method: str = "spawn",
    progress: Callable[[int, int], None] | None = None,
    head_start_group: str | None = None,
) -> list[SeriesResult]:
    """Forecast every task, in ``workers`` processes (1: in this process), results in task order.

    Processes rather than threads: a fit is Python and pandas work around a Stan subprocess,
    so threads would serialise on the GIL. The start method is ``spawn`` or ``forkserver``,
    never ``fork``: the Dagster run process holds threads (and a DuckDB connection) that a
    forked child must not inherit. Small chunks keep both workers busy to the end.

    With a ``head_start_group``, the tasks the process's head start (:class:`HeadStart`) has done
    or under way in that group are taken from it (the same task, the same result) and only the
    others are forecast here.
    """
    if head_start_group is not None:
        taken = take_head_start(head_start_group, tasks)
        if taken:
            return _run_with_head_start(tasks, workers, start_method, progress, taken)
    total = len(tasks)
    results: list[SeriesResult] = []
    if workers <= 1 or total <= 1:
        quiet_stan_logs()
        for task in tasks:
            results.append(forecast_series(task))
            if progress:
                progress(len(results), total)
        return results
    context = worker_context(start_method)
    chunksize = max(1, min(8, total // (workers * 16)))
    with ProcessPoolExecutor(max_workers=min(workers, total), mp_context=context, initializer=_init_worker) as pool:
        for result in pool.map(forecast_series, tasks, chunksize=chunksize):
            results.append(result)
            if progress:
                progress(len(results), total)
    return results


def _run_with_head_start(
    tasks: Sequence[SeriesTask],
    workers: int,
    start_method: str,
    progress: Callable[[int, int], None] | None,
    taken: dict[int, Future],
) -> list[SeriesResult]:
    rest = [i for i in range(len(tasks)) if i not in taken]
    done_before = sum(f.done() for f in taken.values())
    out: list[SeriesResult | None] = [None] * len(tasks)

    def report(done: int, _total: int) -> None:
        if progress:
            progress(done_before + done, len(tasks))

    for i, result in zip(rest, run_tasks([tasks[i] for i in rest], workers, start_method, report), strict=True):
        out[i] = result
    for i, future in taken.items():
        out[i] = future.result()
    if progress and taken:
        progress(len(tasks), len(tasks))
    return [r for r in out if r is not None]
