"""Daily platform tables: orders, traffic, returns, reviews, tickets, inventory, shipments, competitors.

One :class:`World` per (seed, scale) holds the static universe and a small cache of recent
order days. The order lines of day D are the core from which the other tables derive:

- traffic of day D uses the same expected demand and the realised order counts of day D;
- returns, reviews and post-sale tickets of day D come from order lines of days D-1..D-50
  whose (deterministic) return / review / ticket decision falls on day D;
- inventory and shipments follow fixed replenishment cycles per stock pair, recomputed from
  hashed draws, so any day can be generated alone; orders see the stock-outs they imply.

Every draw of a day comes from streams seeded by (seed, table, day) or from hashes of
(seed, entity, day), so a day's rows never depend on the requested date range. A shipment
arriving, or a ticket answered or resolved, after the observation day (``as_of`` below, see
:func:`orchestration.lib.sample.generate.observation_day`) has a NULL timestamp there (in
transit / open), as a real export would show.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from orchestration.lib.sample import curves, freight
from orchestration.lib.sample._rand import day_rng, normal, uniform
from orchestration.lib.sample.arrow import DAY_SECONDS, dates, day_start_seconds, strings, timestamps, to_table
from orchestration.lib.sample.cache import OrdersStore, load_universe, save_universe
from orchestration.lib.sample.markets import (
    MARKETPLACES,
    UTC_OFFSET,
    category_factor_grid,
    category_factors,
    expected_factor_grid,
    market_day_factors,
    marketplace_event_factors,
    markets,
    trend,
)
from orchestration.lib.sample.prices import market_fx, market_vat, shelf_price
from orchestration.lib.sample.universe import AIR, RAIL_C, RETURN_RATE, SEA, TRUCK_C, Universe, universe
from orchestration.lib.schemas import CATEGORIES, CHANNELS, COMPLAINT_TOPICS, RETURN_REASONS

MAX_RETURN_LAG = 40
MAX_REVIEW_LAG = 50
MAX_TICKET_LAG = 25
MAX_LAG = max(MAX_RETURN_LAG, MAX_REVIEW_LAG, MAX_TICKET_LAG)
PRE_LAUNCH_STOCK_DAYS = 45
DEPARTURES_TRACKED = 6
AVG_UNITS_PER_LINE = 1.25
FCL_MIN_CBM = 10.0  # a sea shipment of this volume or more goes by full container (consolidated FCL)
CONTAINER_CBM = 58.0  # usable volume of a 40ft container

# Local-time hour weights of buyer activity (evening peak).
_HOUR_W = np.array([1.5, 1.0, 0.6, 0.4, 0.3, 0.4, 0.8, 1.5, 2.5, 3.2, 3.6, 3.8, 4.0, 3.8, 3.6, 3.6, 3.7, 3.9, 4.2,
                    4.8, 5.3, 5.5, 4.6, 3.0])  # fmt: skip
_HOUR_CDF = np.cumsum(_HOUR_W / _HOUR_W.sum())
_RETURN_MARKET = {"DE": 1.35, "NL": 1.2, "GB": 1.1, "US": 1.1, "SE": 1.1, "FR": 1.0, "AU": 1.0, "CA": 1.0, "ES": 0.9,
                  "PL": 0.9, "BR": 0.9, "IT": 0.8, "KR": 0.8, "MX": 0.8, "AE": 0.8, "PH": 0.7, "JP": 0.6, "SG": 0.6,
                  "MY": 0.6, "TH": 0.6}  # fmt: skip
_REVIEW_MARKET = {"US": 1.2, "GB": 1.1, "DE": 1.1, "CA": 1.1, "AU": 1.0, "JP": 0.6, "KR": 0.7}
_TICKET_MARKET = {"BR": 1.4, "MX": 1.2, "PH": 1.2, "TH": 1.1, "MY": 1.1, "JP": 0.8, "DE": 0.9}
# return reason -> review/ticket topic
_REASON_TOPIC = {
    "voltage_mismatch": "voltage",
    "sizing": "sizing",
    "damaged": "damaged_packaging",
    "not_as_described": "not_as_described",
    "defective": "quality",
    "changed_mind": "not_as_described",
    "late_delivery": "late_delivery",
}
TICKET_TOPICS: tuple[str, ...] = (*COMPLAINT_TOPICS, "pre_sale_question", "order_status")
REVIEW_TOPICS: tuple[str, ...] = (*COMPLAINT_TOPICS, "praise")
_CHANNEL_W = {
    "north_america": (0.35, 0.25, 0.30, 0.07, 0.03),
    "europe": (0.35, 0.20, 0.40, 0.03, 0.02),
    "latin_america": (0.15, 0.20, 0.35, 0.03, 0.27),
    "asia_pacific": (0.30, 0.30, 0.35, 0.03, 0.02),
    "southeast_asia": (0.05, 0.45, 0.30, 0.0, 0.20),
    "middle_east": (0.30, 0.30, 0.30, 0.05, 0.05),
}
# Support-team language coverage: the date from which a human agent answers in that language.
_LANG_FROM = {"en": "2000-01-01", "zh": "2000-01-01", "es": "2000-01-01", "de": "2021-01-01", "fr": "2022-01-01",
              "ja": "2023-06-01", "ko": "2024-01-01", "it": "2025-03-01", "pt": "2025-06-01", "th": "2025-09-01",
              "ms": "2026-03-01"}  # fmt: skip
# First-response median (hours) of human agents: 24h+ in 2019-like conditions, a few hours by 2024+.
_HUMAN_RESPONSE_H: curves.Knots = [("2019-01-01", 22.0), ("2021-01-01", 12.0), ("2023-01-01", 6.0),
                                   ("2025-01-01", 4.0), ("2027-01-01", 3.5)]  # fmt: skip
_RESPONSE_MARKET = {"US": 0.8, "CA": 0.9, "MX": 1.2, "GB": 0.9, "DE": 1.0, "FR": 1.1, "IT": 1.2, "ES": 1.2, "NL": 1.0,
                    "PL": 2.4, "SE": 2.0, "JP": 2.0, "KR": 2.9, "AU": 1.3, "SG": 0.9, "MY": 1.0, "TH": 1.3, "PH": 1.0,
                    "AE": 2.8, "BR": 1.2}  # fmt: skip
#: Brazil: after-sales first response ~72h (p90) until a local team starts, ~6h after (domain brief).
BR_LOCAL_TEAM_FROM = dt.date(2025, 6, 1).toordinal()
_BOT_SHARE: curves.Knots = [("2019-01-01", 0.18), ("2021-06-01", 0.33), ("2023-01-01", 0.35), ("2027-01-01", 0.37)]
_SATISFIED: curves.Knots = [("2019-01-01", 0.62), ("2021-01-01", 0.68), ("2023-01-01", 0.76), ("2025-01-01", 0.82),
                            ("2027-01-01", 0.84)]  # fmt: skip
_FCR: curves.Knots = [("2019-01-01", 0.55), ("2022-01-01", 0.64), ("2025-01-01", 0.72), ("2027-01-01", 0.74)]


@dataclass
class OrdersDay:
    """The order lines of one day plus the decisions that later days read."""

    ordinal: int
    lam: np.ndarray  # per listing
    counts: np.ndarray  # per listing
    surge: np.ndarray  # per listing
    listing: np.ndarray  # per line
    qty: np.ndarray
    price: np.ndarray
    seconds: np.ndarray  # epoch seconds of ordered_at
    order_id: np.ndarray  # object
    line_id: np.ndarray  # object
    ret_lag: np.ndarray  # 0 = not returned
    ret_reason: np.ndarray  # index into RETURN_REASONS
    ret_qty: np.ndarray
    rev_lag: np.ndarray  # 0 = no review
    tk_lag: np.ndarray  # 0 = no ticket
    tk_status: np.ndarray  # post-sale ticket is an order-status question


def _local_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    hour = np.searchsorted(_HOUR_CDF, rng.random(n), side="right")
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, n)


class World:
    """Generator state of one (seed, scale): the universe and caches of recent days."""

    def __init__(self, seed: int, scale: float, u: Universe | None = None) -> None:
        self.seed = seed
        self.scale = scale
        self.u: Universe = u if u is not None else universe(seed, scale)
        u = self.u
        ms = markets()
        self.market_codes = np.array([m.code for m in ms], dtype=object)
        self.market_currency = np.array([m.currency for m in ms], dtype=object)
        self.market_lang = np.array([m.language for m in ms], dtype=object)
        self.market_incl_vat = np.array([m.prices_include_vat for m in ms])
        self.market_offset = np.array([UTC_OFFSET[m.code] for m in ms], dtype=np.float64)
        self.l_cat = u.cat[u.l_sku]
        self.l_ret_p = np.array([RETURN_RATE[CATEGORIES[c]] for c in self.l_cat]) * u.quality[u.l_sku]
        self.l_ret_p *= np.array([_RETURN_MARKET.get(c, 1.0) for c in self.market_codes])[u.l_market]
        self.l_ret_p = np.minimum(self.l_ret_p, 0.6)
        self.l_rev_p = 0.085 * np.array([_REVIEW_MARKET.get(c, 0.8 if c in ("SG", "MY", "TH", "PH") else 1.0)
                                        for c in self.market_codes])[u.l_market]  # fmt: skip
        self.l_tk_p = 0.05 * np.array([_TICKET_MARKET.get(c, 1.0) for c in self.market_codes])[u.l_market]
        self.p_cat = u.cat[u.p_sku]
        self.p_unit_cbm = u.dims.prod(axis=1)[u.p_sku] / 1e6 * 1.1
        self.p_unit_kg = u.weight[u.p_sku] * 1.08
        self.p_latam = np.array([m.region == "latin_america" for m in ms])[u.p_market]
        self.lanes = freight.lanes()
        self.p_has_rail = self.lanes.lm_of(u.p_lane, np.full(len(u.p_lane), freight.RAIL)) >= 0
        self._orders: OrderedDict[int, OrdersDay] = OrderedDict()
        #: Where days of orders are kept between processes (``cache.py``), while write_landing runs.
        self.orders_store: OrdersStore | None = None
        self._stock: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._history: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        main_mode = np.select(
            [u.p_class == AIR, u.p_class == RAIL_C, u.p_class == TRUCK_C],
            [freight.AIR, freight.RAIL, freight.TRUCK],
            freight.FCL,
        )
        self.p_main_lm = self.lanes.lm_of(u.p_lane, main_mode)

    # ------------------------------------------------------------------ replenishment model

    def pair_rate(self, pairs: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
        """Expected units per day of stock pairs around day ordinals (smooth planning curve)."""
        u = self.u
        f = expected_factor_grid(ordinals, u.p_market[pairs]) * category_factor_grid(
            ordinals, self.p_cat[pairs], CATEGORIES
        )
        return u.p_rate[pairs] * f * AVG_UNITS_PER_LINE

    def shipment_plan(self, pairs: np.ndarray, dep: np.ndarray) -> dict[str, np.ndarray]:
        """Everything about the shipment a pair sends on day ordinal ``dep`` (pure function of both)."""
        u, seed = self.u, self.seed
        cyc = u.p_cycle[pairs]
        units = np.ceil(
            self.pair_rate(pairs, dep - 14)
            * cyc
            * u.p_cover[pairs]
            * np.exp(0.1 * normal(seed, "ship-units", pairs, dep))
        )
        units = np.maximum(units, 1).astype(np.int64)
        week = freight.monday(dep)
        cls = u.p_class[pairs].copy()
        # In crises (2021 peak, Red Sea) some European sea freight moves to China-Europe rail.
        idx = curves.curve(curves.FCL_COMPOSITE, week) / freight.INDEX_2019
        p_switch = 0.35 * np.clip((idx - 2.0) / 3.0, 0, 1) + 0.25 * curves.red_sea(week)
        switch = (cls == SEA) & self.p_has_rail[pairs] & (uniform(seed, "ship-rail", pairs, dep) < p_switch)
        cls[switch] = RAIL_C
        volume = units * self.p_unit_cbm[pairs]
        weight = units * self.p_unit_kg[pairs]
        mode = np.select(
            [cls == AIR, cls == RAIL_C, cls == TRUCK_C, volume >= FCL_MIN_CBM],
            [freight.AIR, freight.RAIL, freight.TRUCK, freight.FCL],
            default=freight.LCL,
        )
        lm = self.lanes.lm_of(u.p_lane[pairs], mode)
        planned = freight.transit_days(seed, lm, week - 28)  # the schedule known when booking
        actual = freight.transit_days(seed, lm, week) * np.exp(0.07 * normal(seed, "ship-transit", pairs, dep))
        ocean = (mode == freight.FCL) | (mode == freight.LCL)
        delayed = uniform(seed, "ship-delay", pairs, dep) < np.where(ocean, 0.06, 0.02)
        actual = actual + delayed * (2.0 + 7.0 * uniform(seed, "ship-delay-days", pairs, dep))
        rate = freight.rates(seed, lm, week)
        # A SKU's shipment is its share of a consolidated booking: container share by volume (FCL), cbm (LCL),
        # chargeable kg (air: 1 cbm = 200 kg, i.e. L*W*H/5000; rail and truck: 1 cbm = 333 kg).
        basis = np.select(
            [mode == freight.FCL, mode == freight.LCL, mode == freight.AIR],
            [volume / CONTAINER_CBM, volume, np.maximum(weight, volume * 200.0)],
            default=np.maximum(weight, volume * 333.0),
        )
        # All-in cost: the lane rate plus origin/destination handling (CFS, terminal, customs brokerage), which is
        # dearer in Latin American ports.
        latam = self.p_latam[pairs]
        handling = np.select(
            [mode == freight.FCL, mode == freight.LCL, mode == freight.AIR],
            [450.0 * (1 + latam), 45.0 * (1 + 1.5 * latam), 0.6 * (1 + latam)],
            default=0.08,
        )
        cost = np.round((rate + handling) * basis * np.exp(0.06 * normal(seed, "ship-cost", pairs, dep)), 2)
        hour = (uniform(seed, "ship-hour", pairs, dep) * 10 * 3600).astype(np.int64)
        return {
            "units": units,
            "mode": mode,
            "lm": lm,
            "planned": planned,
            "actual": actual,
            "volume": np.maximum(np.round(volume, 4), 0.0001),
            "weight": np.maximum(np.round(weight, 2), 0.01),
            "cost": cost,
            "hour_seconds": hour,
        }

    def _departure_history(self, ordinal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(departure day, units, arrival day) of the last DEPARTURES_TRACKED shipments of every pair.

        Rows are most recent first. Computed from the previous day's history when it is cached
        (only today's departures are new), else from scratch: both give the same arrays because
        each shipment is a pure function of (pair, departure day).
        """
        u = self.u
        n = len(u.p_sku)
        never = np.iinfo(np.int64).max
        first = u.launched[u.p_sku] - PRE_LAUNCH_STOCK_DAYS
        prev = self._history.get(ordinal - 1)
        if prev is not None:
            deps, units, arrivals = (a.copy() for a in prev)
            leaving = np.flatnonzero(((ordinal + u.p_phase) % u.p_cycle == 0) & (ordinal >= first))
            if len(leaving):
                plan = self.shipment_plan(leaving, np.full(len(leaving), ordinal, dtype=np.int64))
                for a in (deps, units, arrivals):
                    a[1:, leaving] = a[:-1, leaving]
                deps[0, leaving] = ordinal
                units[0, leaving] = plan["units"]
                arrivals[0, leaving] = ordinal + np.ceil(plan["actual"]).astype(np.int64)
        else:
            pairs = np.arange(n)
            last_dep = ordinal - (ordinal + u.p_phase) % u.p_cycle
            deps = np.full((DEPARTURES_TRACKED, n), never, dtype=np.int64)
            units = np.zeros((DEPARTURES_TRACKED, n), dtype=np.int64)
            arrivals = np.full((DEPARTURES_TRACKED, n), never, dtype=np.int64)
            for j in range(DEPARTURES_TRACKED):
                dep = last_dep - j * u.p_cycle
                valid = dep >= first
                plan = self.shipment_plan(pairs[valid], dep[valid])
                deps[j, valid] = dep[valid]
                units[j, valid] = plan["units"]
                arrivals[j, valid] = dep[valid] + np.ceil(plan["actual"]).astype(np.int64)
        self._history[ordinal] = (deps, units, arrivals)
        if len(self._history) > 4:
            self._history.popitem(last=False)
        return deps, units, arrivals

    def stock_state(self, ordinal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(on_hand, inbound, lead_time_days) of every stock pair at the end of a day."""
        if ordinal in self._stock:
            return self._stock[ordinal]
        u = self.u
        n = len(u.p_sku)
        pairs = np.arange(n)
        D = ordinal
        deps, units, arrivals = self._departure_history(D)
        arrived = arrivals <= D
        inbound = np.where(~arrived & (deps <= D), units, 0).sum(axis=0)
        # latest and previous arrivals
        arr_day = np.where(arrived, arrivals, -1)
        order = np.argsort(-arr_day, axis=0, kind="stable")
        a1 = np.take_along_axis(arr_day, order[:1], axis=0)[0]
        u1 = np.take_along_axis(units, order[:1], axis=0)[0]
        a0 = np.take_along_axis(arr_day, order[1:2], axis=0)[0]
        u0 = np.take_along_axis(units, order[1:2], axis=0)[0]
        rate_now = self.pair_rate(pairs, np.full(n, D))
        rate_a1 = self.pair_rate(pairs, np.maximum(a1, 1))
        carry = np.where(a0 > 0, np.maximum(0.0, u0 - rate_a1 * np.maximum(a1 - a0, 0)), 0.0)
        used = (
            0.5 * (rate_now + rate_a1) * np.maximum(D - a1, 0) * np.exp(0.08 * normal(self.seed, "stock-use", pairs, D))
        )
        on_hand = np.where(a1 > 0, np.maximum(0.0, carry + u1 - used), 0.0)
        on_hand = np.round(on_hand).astype(np.int64)
        lead = np.round(u.p_prod_lead + freight.transit_days(self.seed, self.p_main_lm, freight.monday(D))).astype(
            np.int64
        )
        out = (on_hand, inbound, lead)
        self._stock[ordinal] = out
        if len(self._stock) > 8:
            self._stock.popitem(last=False)
        return out

    # ------------------------------------------------------------------ orders core

    def listing_prices(self, ordinal: int) -> np.ndarray:
        """Shelf price of every listing in its market currency (VAT included where shown so)."""
        u = self.u
        d = dt.date.fromordinal(ordinal)
        month_start = d.replace(day=1).toordinal()
        fx = market_fx(self.seed, month_start)
        vat = market_vat(ordinal)
        gross = u.l_price_usd * np.where(self.market_incl_vat, 1.0 + vat / 100.0, 1.0)[u.l_market]
        return shelf_price(gross * fx[u.l_market], self.market_currency[u.l_market])

    def orders_day(self, ordinal: int) -> OrdersDay:
        cached = self._orders.get(ordinal)
        if cached is not None:
            self._orders.move_to_end(ordinal)
            return cached
        store = self.orders_store
        day = store.load(ordinal) if store is not None else None
        if day is None:
            day = self._compute_orders(ordinal)
            if store is not None:
                store.save(day)
        self._orders[ordinal] = day
        if len(self._orders) > MAX_LAG + 12:
            self._orders.popitem(last=False)
        return day

    def _compute_orders(self, ordinal: int) -> OrdersDay:
        u, seed = self.u, self.seed
        d = dt.date.fromordinal(ordinal)
        rng = day_rng(seed, "orders", d)
        nl = len(u.l_sku)
        lid = np.arange(nl)
        active = u.l_launch <= ordinal
        on_hand, _, _ = self.stock_state(ordinal)
        stock = np.where(on_hand[u.l_pair] > 0, 1.0, 0.15)
        ramp = 1.0 - np.exp(-(ordinal - u.l_launch + 1) / 30.0)
        surge = uniform(seed, "surge", lid, ordinal // 14) < 0.012
        lam = (
            u.l_base
            * market_day_factors(d)[u.l_market]
            * marketplace_event_factors(d)[u.l_market, u.l_mp]
            * category_factors(CATEGORIES, d)[self.l_cat]
            * trend(d)
            * np.where(active, ramp, 0.0)
            * stock
            * np.where(surge, 1.8, 1.0)
        )
        counts = rng.poisson(lam)
        listing = np.repeat(lid, counts)
        n = len(listing)
        qty = np.minimum(rng.geometric(0.8, n), 6)
        # multi-line orders: consecutive lines of the same market and marketplace sometimes share an order
        key = u.l_market[listing] * 8 + u.l_mp[listing]
        perm = np.lexsort((rng.random(n), key))
        listing, qty = listing[perm], qty[perm]
        key = key[perm]
        join = np.zeros(n, dtype=bool)
        if n > 1:
            join[1:] = (key[1:] == key[:-1]) & (listing[1:] != listing[:-1]) & (rng.random(n - 1) < 0.15)
        order_idx = np.cumsum(~join) - 1
        n_orders = int(order_idx[-1]) + 1 if n else 0
        first_line = np.flatnonzero(~join)
        line_no = np.arange(n) - first_line[order_idx] + 1
        # time of day per order, from the buyer's local evening-peaked activity
        o_market = u.l_market[listing[first_line]]
        local = _local_seconds(rng, n_orders)
        sec_in_day = (local - (self.market_offset[o_market] * 3600).astype(np.int64)) % DAY_SECONDS
        # order numbers follow the time of day
        rank = np.empty(n_orders, dtype=np.int64)
        rank[np.lexsort((np.arange(n_orders), sec_in_day))] = np.arange(n_orders)
        seconds = day_start_seconds(ordinal) + sec_in_day[order_idx]
        ymd = d.strftime("%Y%m%d")
        order_ids = np.array([f"O{ymd}-{r + 1:06d}" for r in rank], dtype=object)
        order_id = order_ids[order_idx]
        line_id = np.array([f"{o}-{k}" for o, k in zip(order_id, line_no, strict=True)], dtype=object)
        # price: shelf price, event-day discounts and coupons
        shelf = self.listing_prices(ordinal)[listing]
        ev = (
            marketplace_event_factors(d)[u.l_market[listing], u.l_mp[listing]]
            * market_day_factors(d)[u.l_market[listing]]
        )
        disc = np.where(ev > 1.8, 0.2, 0.0) + np.where(rng.random(n) < 0.1, rng.uniform(0.05, 0.15, n), 0.0)
        cur = self.market_currency[u.l_market[listing]]
        price = np.where(disc > 0, shelf_price(shelf * (1 - disc), cur), shelf)
        # decisions read by later days
        sku = u.l_sku[listing]
        mism = u.l_mismatch[listing]
        r = rng.random(n)
        p_volt = np.where(mism, 0.25, 0.0)
        p_ret = self.l_ret_p[listing]
        returned = r < p_volt + p_ret
        reason = np.where(r < p_volt, 0, 1 + np.minimum((rng.random(n)[:, None] >= u.reason_cdf[sku]).sum(axis=1), 5))
        apparel = u.cat[sku] == CATEGORIES.index("apparel")
        ret_lag = np.where(
            returned, np.minimum(np.where(apparel, 4, 5) + rng.exponential(np.where(apparel, 6, 9)), MAX_RETURN_LAG), 0
        ).astype(np.int64)
        ret_qty = np.where(rng.random(n) < 0.7, qty, rng.integers(1, qty + 1))
        rev = rng.random(n) < self.l_rev_p[listing] * np.where(returned, 1.8, 1.0)
        rev_lag = np.where(rev, np.minimum(5 + rng.exponential(10, n), MAX_REVIEW_LAG), 0).astype(np.int64)
        tk = rng.random(n) < np.where(returned, 0.35, self.l_tk_p[listing])
        status = rng.random(n) < 0.35
        tk_lag_raw = np.where(status, 1 + rng.exponential(4, n), 3 + rng.exponential(6, n))
        tk_lag_raw = np.where(returned, np.maximum(ret_lag - 2, 1), tk_lag_raw)
        tk_lag = np.where(tk, np.clip(tk_lag_raw, 1, MAX_TICKET_LAG), 0).astype(np.int64)
        return OrdersDay(
            ordinal=ordinal,
            lam=lam,
            counts=counts,
            surge=surge,
            listing=listing,
            qty=qty.astype(np.int64),
            price=price,
            seconds=seconds,
            order_id=order_id,
            line_id=line_id,
            ret_lag=ret_lag,
            ret_reason=reason.astype(np.int64),
            ret_qty=ret_qty.astype(np.int64),
            rev_lag=rev_lag,
            tk_lag=tk_lag,
            tk_status=status & ~returned,
        )

    def _due(self, ordinal: int, lag_attr: str, max_lag: int) -> list[tuple[OrdersDay, np.ndarray]]:
        """Order lines of earlier days whose lag of ``lag_attr`` lands on this day."""
        out = []
        for k in range(max_lag, 0, -1):
            od = self.orders_day(ordinal - k)
            idx = np.flatnonzero(getattr(od, lag_attr) == k)
            if len(idx):
                out.append((od, idx))
        return out

    # ------------------------------------------------------------------ tables

    def orders(self, ordinal: int) -> pa.Table:
        od = self.orders_day(ordinal)
        u = self.u
        m = u.l_market[od.listing]
        order = np.lexsort((od.line_id, od.seconds))
        mk = m[order]
        lst = od.listing[order]
        return to_table(
            "orders",
            len(order),
            {
                "order_line_id": od.line_id[order],
                "order_id": od.order_id[order],
                "ordered_at": timestamps(od.seconds[order]),
                "marketplace": strings(u.l_mp[lst], MARKETPLACES),
                "destination_country": strings(mk, self.market_codes),
                "sku": u.sku[u.l_sku[lst]],
                "quantity": od.qty[order],
                "unit_price": od.price[order],
                "currency": strings(mk, self.market_currency),
            },
        )

    def traffic(self, ordinal: int) -> pa.Table:
        od = self.orders_day(ordinal)
        u = self.u
        rng = day_rng(self.seed, "traffic", dt.date.fromordinal(ordinal))
        active = np.flatnonzero(u.l_launch <= ordinal)
        lam = od.lam[active]
        conv = u.l_conv[active]
        ordered = od.counts[active]
        sessions = ordered + rng.poisson(lam * (1.0 / conv - 1.0))
        atc_rate = np.where(od.surge[active], 0.5, u.l_atc[active])
        p_extra = np.clip((atc_rate - conv) / (1.0 - conv), 0.0, 1.0)
        atc = ordered + rng.binomial(sessions - ordered, p_extra)
        views = sessions + rng.poisson(sessions * 0.7)
        keep = sessions > 0
        rows = active[keep]
        return to_table(
            "traffic",
            len(rows),
            {
                "traffic_date": dates(np.full(len(rows), ordinal)),
                "sku": u.sku[u.l_sku[rows]],
                "marketplace": strings(u.l_mp[rows], MARKETPLACES),
                "destination_country": strings(u.l_market[rows], self.market_codes),
                "sessions": sessions[keep],
                "page_views": views[keep],
                "add_to_cart": atc[keep],
                "ordered_sessions": ordered[keep],
            },
        )

    def returns(self, ordinal: int) -> pa.Table:
        u = self.u
        due = self._due(ordinal, "ret_lag", MAX_RETURN_LAG)
        if not due:
            return to_table("returns", 0, {})
        line_id = np.concatenate([od.line_id[i] for od, i in due])
        listing = np.concatenate([od.listing[i] for od, i in due])
        qty = np.concatenate([od.ret_qty[i] for od, i in due])
        reason = np.concatenate([od.ret_reason[i] for od, i in due])
        rng = day_rng(self.seed, "returns", dt.date.fromordinal(ordinal))
        n = len(line_id)
        sec = day_start_seconds(ordinal) + rng.integers(6 * 3600, 22 * 3600, n)
        order = np.argsort(sec, kind="stable")
        return to_table(
            "returns",
            n,
            {
                "return_id": np.array(["R-" + s for s in line_id[order]], dtype=object),
                "order_line_id": line_id[order],
                "sku": u.sku[u.l_sku[listing[order]]],
                "destination_country": strings(u.l_market[listing[order]], self.market_codes),
                "returned_at": timestamps(sec[order]),
                "quantity": qty[order],
                "reason": strings(reason[order], RETURN_REASONS),
            },
        )

    def _topic_draw(self, rng: np.random.Generator, sku: np.ndarray) -> np.ndarray:
        cdf = self.u.topic_cdf[sku]
        return np.minimum((rng.random(len(sku))[:, None] >= cdf).sum(axis=1), len(COMPLAINT_TOPICS) - 1)

    def reviews(self, ordinal: int) -> pa.Table:
        u = self.u
        due = self._due(ordinal, "rev_lag", MAX_REVIEW_LAG)
        if not due:
            return to_table("reviews", 0, {})
        line_id = np.concatenate([od.line_id[i] for od, i in due])
        listing = np.concatenate([od.listing[i] for od, i in due])
        returned = np.concatenate([(od.ret_lag[i] > 0) & (od.ret_lag[i] <= od.rev_lag[i]) for od, i in due])
        reason = np.concatenate([od.ret_reason[i] for od, i in due])
        rng = day_rng(self.seed, "reviews", dt.date.fromordinal(ordinal))
        n = len(line_id)
        sku = u.l_sku[listing]
        mism = u.l_mismatch[listing]
        latent = u.rating_mu[sku] + rng.normal(0, 1.05, n) - 1.8 * returned - 0.8 * mism
        rating = np.clip(np.round(latent), 1, 5).astype(np.int64)
        topic = self._topic_draw(rng, sku)
        reason_topic = np.array([REVIEW_TOPICS.index(_REASON_TOPIC[r]) for r in RETURN_REASONS])[reason]
        topic = np.where(returned & (rng.random(n) < 0.7), reason_topic, topic)
        topic = np.where(mism & (rng.random(n) < 0.6), REVIEW_TOPICS.index("voltage"), topic)
        topic = np.where(rating >= 4, REVIEW_TOPICS.index("praise"), topic)
        m = u.l_market[listing]
        lang = np.where(rng.random(n) < 0.12, "en", self.market_lang[m]).astype(object)
        sec = day_start_seconds(ordinal) + (
            (_local_seconds(rng, n) - (self.market_offset[m] * 3600).astype(np.int64)) % DAY_SECONDS
        )
        order = np.argsort(sec, kind="stable")
        return to_table(
            "reviews",
            n,
            {
                "review_id": np.array(["RV-" + s for s in line_id[order]], dtype=object),
                "sku": u.sku[sku[order]],
                "marketplace": strings(u.l_mp[listing[order]], MARKETPLACES),
                "destination_country": strings(m[order], self.market_codes),
                "reviewed_at": timestamps(sec[order]),
                "rating": rating[order],
                "topic": strings(topic[order], REVIEW_TOPICS),
                "language": lang[order],
            },
        )

    def tickets(self, ordinal: int, as_of: int) -> pa.Table:
        u, seed = self.u, self.seed
        d = dt.date.fromordinal(ordinal)
        rng = day_rng(seed, "tickets", d)
        due = self._due(ordinal, "tk_lag", MAX_TICKET_LAG)
        # post-sale tickets
        if due:
            line_id = np.concatenate([od.line_id[i] for od, i in due])
            order_id = np.concatenate([od.order_id[i] for od, i in due])
            listing = np.concatenate([od.listing[i] for od, i in due])
            returned = np.concatenate([od.ret_lag[i] > 0 for od, i in due])
            reason = np.concatenate([od.ret_reason[i] for od, i in due])
            status = np.concatenate([od.tk_status[i] for od, i in due])
        else:
            line_id = order_id = np.array([], dtype=object)
            listing = reason = np.array([], dtype=np.int64)
            returned = status = np.array([], dtype=bool)
        n_post = len(line_id)
        sku_post = u.l_sku[listing]
        topic = self._topic_draw(rng, sku_post)
        reason_topic = np.array([TICKET_TOPICS.index(_REASON_TOPIC[r]) for r in RETURN_REASONS])[reason]
        topic = np.where(returned, reason_topic, topic)
        topic = np.where(
            ~returned & u.l_mismatch[listing] & (rng.random(n_post) < 0.5), TICKET_TOPICS.index("voltage"), topic
        )
        topic = np.where(status, TICKET_TOPICS.index("order_status"), topic)
        # pre-sale questions from today's listing traffic
        od_today = self.orders_day(ordinal)
        pre = rng.poisson(od_today.lam * 0.02)
        pre_listing = np.repeat(np.arange(len(pre)), pre)
        n_pre = len(pre_listing)
        ymd = d.strftime("%Y%m%d")
        ids = np.concatenate(
            [
                np.array(["TK-" + s for s in line_id], dtype=object),
                np.array([f"TK-P{ymd}-{k + 1:05d}" for k in range(n_pre)], dtype=object),
            ]
        )
        order_ids = np.concatenate([order_id, np.full(n_pre, None, dtype=object)])
        listing_all = np.concatenate([listing, pre_listing]).astype(np.int64)
        topic_all = np.concatenate([topic, np.full(n_pre, TICKET_TOPICS.index("pre_sale_question"))]).astype(np.int64)
        returned_all = np.concatenate([returned, np.zeros(n_pre, dtype=bool)])
        n = n_post + n_pre
        m = u.l_market[listing_all]
        ms = markets()
        # channel
        region = [ms[i].region for i in range(len(ms))]
        ch_cdf = np.cumsum(np.array([_CHANNEL_W[r] for r in region]), axis=1)[m]
        channel = np.minimum((rng.random(n)[:, None] >= ch_cdf).sum(axis=1), len(CHANNELS) - 1)
        shopify = u.l_mp[listing_all] == MARKETPLACES.index("shopify")
        channel = np.where(
            shopify & (channel == CHANNELS.index("marketplace_message")), CHANNELS.index("email"), channel
        )
        # created_at
        local = _local_seconds(rng, n)
        created = day_start_seconds(ordinal) + (local - (self.market_offset[m] * 3600).astype(np.int64)) % DAY_SECONDS
        # handled by bot or human
        bot_share = float(curves.curve(_BOT_SHARE, ordinal)[0])
        ch_factor = np.array([0.6, 1.4, 1.2, 0.0, 1.3])[channel]
        bot = rng.random(n) < np.clip(bot_share * ch_factor, 0, 0.95)
        # languages
        buyer_lang = np.where(rng.random(n) < 0.1, "en", self.market_lang[m]).astype(object)
        covered = np.array(
            [ordinal >= dt.date.fromisoformat(_LANG_FROM.get(lang, "2100-01-01")).toordinal() for lang in buyer_lang],
            dtype=bool,
        )
        resp_lang = np.where(bot | covered, buyer_lang, "en").astype(object)
        # first response
        human_median_h = float(curves.curve(_HUMAN_RESPONSE_H, ordinal)[0])
        mk = np.array([_RESPONSE_MARKET[c] for c in self.market_codes])[m] * human_median_h
        br = self.market_codes[m] == "BR"
        mk = np.where(br & (ordinal < BR_LOCAL_TEAM_FROM), 28.0, np.where(br, 2.5, mk))
        weekend = (created // DAY_SECONDS + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        human_h = mk * np.where(weekend, 1.6, 1.0) * np.exp(0.9 * rng.standard_normal(n))
        bot_s = rng.exponential(60.0, n) + 5
        resp_s = np.where(bot, bot_s, human_h * 3600.0)
        never = ~bot & (rng.random(n) < 0.015)
        first_resp = created + resp_s.astype(np.int64)
        # resolution
        fcr_p = float(curves.curve(_FCR, ordinal)[0])
        bot_solved = bot & (rng.random(n) < 0.55)
        resolve_h = np.where(
            bot_solved, rng.uniform(0.02, 0.2, n), (mk * 2.0 + 4.0) * np.exp(1.0 * rng.standard_normal(n))
        )
        resolved = first_resp + (resolve_h * 3600.0).astype(np.int64)
        unresolved = never | (rng.random(n) < 0.01)
        contacts = np.where(rng.random(n) < fcr_p, 1, 2 + rng.poisson(0.8, n)).astype(np.int64)
        reopened = rng.random(n) < np.where(contacts > 2, 0.12, 0.05)
        # satisfaction
        sat_p = float(curves.curve(_SATISFIED, ordinal)[0]) - 0.006 * np.minimum(resp_s / 3600.0, 48.0)
        sat_p = sat_p - 0.15 * reopened - 0.08 * returned_all + 0.04 * (resp_lang == buyer_lang) - 0.04
        week = (ordinal - 1) // 7
        shock = uniform(seed, "csat-shock", m, week) < 0.03
        sat_p = np.clip(sat_p - 0.22 * shock, 0.05, 0.98)
        rated = (rng.random(n) < 0.35) & ~unresolved
        satisfied = rng.random(n) < sat_p
        csat = np.where(
            satisfied, np.where(rng.random(n) < 0.6, 5, 4), rng.choice([1, 2, 3], size=n, p=[0.35, 0.35, 0.3])
        )
        # as-of: what was not yet answered / resolved at the end of the as-of day is NULL
        cutoff = day_start_seconds(as_of + 1)
        resp_null = never | (first_resp >= cutoff)
        res_null = unresolved | resp_null | (resolved >= cutoff)
        csat_null = ~rated | res_null
        order = np.lexsort((ids, created))
        return to_table(
            "tickets",
            n,
            {
                "ticket_id": ids[order],
                "order_id": order_ids[order],
                "sku": u.sku[u.l_sku[listing_all[order]]],
                "marketplace": strings(u.l_mp[listing_all[order]], MARKETPLACES),
                "destination_country": strings(m[order], self.market_codes),
                "channel": strings(channel[order], CHANNELS),
                "buyer_language": buyer_lang[order],
                "response_language": np.where(resp_null, None, resp_lang)[order],
                "created_at": timestamps(created[order]),
                "first_response_at": timestamps(first_resp[order], resp_null[order]),
                "resolved_at": timestamps(resolved[order], res_null[order]),
                "topic": strings(topic_all[order], TICKET_TOPICS),
                "handled_by": np.where(bot, "bot", "human").astype(object)[order],
                "contacts": contacts[order],
                "reopened": (reopened & ~res_null)[order],
                "csat": pa.array(csat[order], type=pa.int32(), mask=csat_null[order]),
            },
        )

    def inventory(self, ordinal: int) -> pa.Table:
        u = self.u
        on_hand, inbound, lead = self.stock_state(ordinal)
        active = np.flatnonzero(u.launched[u.p_sku] - PRE_LAUNCH_STOCK_DAYS <= ordinal)
        return to_table(
            "inventory",
            len(active),
            {
                "snapshot_date": dates(np.full(len(active), ordinal)),
                "sku": u.sku[u.p_sku[active]],
                "warehouse_id": np.array([f"WH-{c}-01" for c in self.market_codes], dtype=object)[u.p_market[active]],
                "destination_country": strings(u.p_market[active], self.market_codes),
                "on_hand_units": on_hand[active],
                "inbound_units": inbound[active],
                "replenishment_lead_time_days": lead[active],
            },
        )

    def shipments(self, ordinal: int, as_of: int) -> pa.Table:
        u = self.u
        due = (ordinal + u.p_phase) % u.p_cycle == 0
        due &= u.launched[u.p_sku] - PRE_LAUNCH_STOCK_DAYS <= ordinal
        pairs = np.flatnonzero(due)
        n = len(pairs)
        plan = self.shipment_plan(pairs, np.full(n, ordinal, dtype=np.int64))
        departed = day_start_seconds(ordinal) + plan["hour_seconds"]
        arrived = departed + (plan["actual"] * DAY_SECONDS).astype(np.int64)
        in_transit = arrived >= day_start_seconds(as_of + 1)
        ymd = dt.date.fromordinal(ordinal).strftime("%Y%m%d")
        L = self.lanes
        lane = u.p_lane[pairs]
        order = np.argsort(departed, kind="stable")
        return to_table(
            "shipments",
            n,
            {
                "shipment_id": np.array([f"SH{ymd}-{p:06d}" for p in pairs], dtype=object)[order],
                "sku": u.sku[u.p_sku[pairs]][order],
                "lane_id": L.lane_id[lane][order],
                "mode": strings(plan["mode"][order], freight.MODES),
                "origin_country": L.origin_country[lane][order],
                "destination_country": strings(u.p_market[pairs][order], self.market_codes),
                "units": plan["units"][order],
                "gross_weight_kg": plan["weight"][order],
                "volume_cbm": plan["volume"][order],
                "departed_at": timestamps(departed[order]),
                "arrived_at": timestamps(arrived[order], in_transit[order]),
                "planned_transit_days": plan["planned"][order],
                "freight_cost": plan["cost"][order],
                "currency": "USD",
            },
        )

    def competitors(self, ordinal: int) -> pa.Table:
        u, seed = self.u, self.seed
        if (ordinal - 1) % 7 != 0:
            return to_table("competitors", 0, {})
        rows = np.flatnonzero(u.l_launch <= ordinal)
        week = ordinal // 7
        base = np.array([6, 4, 3, 4, 3, 3, 4, 3, 3, 2], dtype=float)[self.l_cat[rows]]
        lam = base * np.exp(
            0.4 * normal(seed, "comp-sellers", rows) + 0.15 * normal(seed, "comp-sellers-w", rows, week)
        )
        sellers = 1 + np.floor(lam).astype(np.int64)
        price = self.listing_prices(ordinal)[rows]
        cur = self.market_currency[u.l_market[rows]]
        comp_price = price * np.exp(
            -0.05 + 0.12 * normal(seed, "comp-price", rows) + 0.04 * normal(seed, "comp-price-w", rows, week)
        )
        comp_price = np.where(np.isin(cur, ["JPY", "KRW"]), np.round(comp_price), np.round(comp_price, 2))
        age_w = np.maximum(ordinal - u.l_launch[rows], 0) / 7.0
        comp_reviews = np.round(
            np.exp(4.5 + 1.2 * normal(seed, "comp-reviews", rows)) * (1 + (age_w + 40) / 52.0)
        ).astype(np.int64)
        own = np.round(0.1 * u.l_base[rows] * 7 * age_w * 0.9 * trend(np.full(len(rows), ordinal))).astype(np.int64)
        return to_table(
            "competitors",
            len(rows),
            {
                "snapshot_date": dates(np.full(len(rows), ordinal)),
                "sku": u.sku[u.l_sku[rows]],
                "marketplace": strings(u.l_mp[rows], MARKETPLACES),
                "destination_country": strings(u.l_market[rows], self.market_codes),
                "sellers_on_listing": sellers,
                "competitor_median_price": comp_price,
                "currency": cur,
                "competitor_review_count": comp_reviews,
                "own_review_count": own,
            },
        )

    def catalog(self, as_of: int) -> pa.Table:
        u = self.u
        rows = np.flatnonzero(u.launched <= as_of + PRE_LAUNCH_STOCK_DAYS)  # upcoming products are in the PIM
        return to_table(
            "catalog",
            len(rows),
            {
                "sku": u.sku[rows],
                "title": u.title[rows],
                "category": strings(u.cat[rows], CATEGORIES),
                "unit_cost": u.unit_cost[rows],
                "cost_currency": u.cost_currency[rows],
                "weight_kg": u.weight[rows],
                "length_cm": u.dims[rows, 0],
                "width_cm": u.dims[rows, 1],
                "height_cm": u.dims[rows, 2],
                "hs_code": u.hs6[rows],
                "origin_country": u.origin_country[rows],
                "supplier_id": u.supplier_id[rows],
                "supplier_country": u.supplier_country[rows],
                "voltage": u.voltage[rows],
                "plug_type": u.plug[rows],
                "has_battery": u.battery[rows],
                "doc_languages": u.doc_languages[rows],
                "launched_on": dates(u.launched[rows]),
            },
        )


_WORLDS: OrderedDict[tuple[int, float], World] = OrderedDict()


def world(seed: int, scale: float, landing: Path | None = None) -> World:
    """The (cached) generator of a seed and scale; its universe kept under ``landing`` when given (``cache.py``)."""
    key = (int(seed), float(scale))
    w = _WORLDS.get(key)
    if w is None:
        kept = load_universe(landing, *key) if landing is not None else None
        w = World(*key, u=kept)
        if landing is not None and kept is None:
            save_universe(landing, *key, w.u)
        _WORLDS[key] = w
        if len(_WORLDS) > 4:
            _WORLDS.popitem(last=False)
    return w
