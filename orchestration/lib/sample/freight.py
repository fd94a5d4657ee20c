"""Freight lanes and their weekly rates, transit times and distances.

80 lanes (4 origin ports x 20 destination ports) with 3-4 modes each: ocean FCL 40ft and LCL
and air everywhere, China-Europe rail to the six EU rail hubs, trucking to Thailand, Malaysia
and Singapore. Rates follow the calibration curves of :mod:`.curves`: each lane scales the
composite container index with its own elasticity (Asia-Europe swings harder than intra-Asia),
Suez-route lanes carry the Red Sea surcharge, longer transit and longer distance while ships
go round the Cape. All values are functions of (seed, lane, mode, week): no state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from orchestration.lib.sample import curves
from orchestration.lib.sample._rand import normal, uniform
from orchestration.lib.sample.markets import markets
from orchestration.lib.schemas import MODES, RATE_UNIT_BY_MODE

RATE_UNIT = RATE_UNIT_BY_MODE
FCL, LCL, AIR, RAIL, TRUCK = range(5)
INDEX_2019 = 1450.0
RAIL_UKRAINE_DIP_FROM = dt.date(2022, 3, 1).toordinal()  # rail volumes and rates fell after the invasion
TRUCK_BORDER_CHECKS = (dt.date(2020, 3, 1).toordinal(), dt.date(2022, 12, 31).toordinal())  # pandemic border checks

# destination: (FCL US$/40ft in 2019 from Shanghai, elasticity to the composite index, sea km, sea transit days,
#               air km, air US$/kg in 2019, Suez route, rail (km, US$/kg, days) or None, truck km or None)
_DEST: dict[str, tuple] = {
    "US": (1500, 1.0, 10500, 16, 10400, 3.5, False, None, None),
    "CA": (1600, 1.0, 9400, 15, 9000, 3.6, False, None, None),
    "MX": (1900, 1.05, 12700, 22, 12900, 4.0, False, None, None),
    "BR": (2200, 1.1, 20300, 38, 18500, 4.5, False, None, None),
    "GB": (1700, 1.12, 19500, 32, 9200, 3.2, True, None, None),
    "DE": (1650, 1.12, 20000, 33, 8900, 3.2, True, (10300, 0.62, 16), None),
    "FR": (1650, 1.12, 19400, 31, 9300, 3.2, True, (11500, 0.70, 19), None),
    "IT": (1700, 1.1, 16700, 28, 9000, 3.3, True, (11800, 0.72, 20), None),
    "ES": (1650, 1.1, 17300, 27, 10000, 3.3, True, (13000, 0.75, 21), None),
    "NL": (1600, 1.12, 19700, 31, 8900, 3.2, True, (10800, 0.66, 18), None),
    "PL": (1800, 1.12, 21000, 38, 8100, 3.3, True, (9500, 0.58, 14), None),
    "SE": (1900, 1.12, 20600, 37, 8000, 3.4, True, None, None),
    "JP": (600, 0.8, 1900, 3, 1800, 1.8, False, None, None),
    "KR": (500, 0.8, 900, 2, 870, 1.6, False, None, None),
    "AU": (1300, 0.9, 8000, 16, 7900, 3.0, False, None, None),
    "SG": (500, 0.75, 4000, 6, 3800, 1.5, False, None, 3700),
    "MY": (550, 0.75, 4300, 7, 3800, 1.5, False, None, 3300),
    "TH": (600, 0.75, 4900, 8, 2900, 1.4, False, None, 2500),
    "PH": (650, 0.75, 2200, 4, 1850, 1.6, False, None, None),
    "AE": (1100, 0.9, 10800, 18, 6400, 2.5, False, None, None),
}
# origin port: (country, rate multiplier, sea-km offset by destination region or code)
_ORIGINS: dict[str, tuple[str, float, dict[str, float]]] = {
    "CNSHA": ("CN", 1.0, {}),
    "CNNGB": ("CN", 0.98, {"*": -100}),
    "CNYTN": ("CN", 1.02, {"europe": -1300, "north_america": 700, "MX": 700, "BR": -800, "JP": 1000, "KR": 1300,
                           "AU": -700, "southeast_asia": -1400, "middle_east": -1300}),
    "VNSGN": ("VN", 1.08, {"europe": -3000, "north_america": 2500, "MX": 2000, "BR": -2000, "JP": 2400, "KR": 2800,
                           "AU": -1000, "SG": -2900, "MY": -3000, "TH": -3400, "PH": -500, "middle_east": -3700}),
}  # fmt: skip
_VN_TRUCK_KM = {"TH": 900, "MY": 1900, "SG": 2300}
_TRUCK_USD_KG = {"TH": 0.38, "MY": 0.48, "SG": 0.55}


@dataclass(frozen=True)
class Lanes:
    """Lane and lane-mode tables as parallel numpy arrays."""

    lane_id: np.ndarray  # str, e.g. 'CNSHA-DEHAM'
    origin_port: np.ndarray
    origin_country: np.ndarray
    dest_port: np.ndarray
    dest_market: np.ndarray  # market index
    # lane-mode arrays
    lm_lane: np.ndarray
    lm_mode: np.ndarray
    lm_base: np.ndarray  # 2019 rate level
    lm_beta: np.ndarray
    lm_km: np.ndarray  # distance without diversions
    lm_transit: np.ndarray  # base transit days
    lm_suez: np.ndarray  # bool
    lm_region_na: np.ndarray  # bool, North America (West Coast congestion 2021)
    lane_modes: dict[tuple[int, int], int]  # (lane, mode) -> lane-mode index
    lm_table: np.ndarray  # (lanes, modes) -> lane-mode index or -1

    def lm_of(self, lane: np.ndarray, mode: np.ndarray) -> np.ndarray:
        """Lane-mode indices of (lane, mode) pairs; -1 where the lane has no such mode."""
        return self.lm_table[lane, mode]


def _offset(table: dict[str, float], code: str, region: str) -> float:
    return table.get(code, table.get(region, table.get("*", 0.0)))


@lru_cache(maxsize=1)
def lanes() -> Lanes:
    ms = markets()
    ids, ops, ocs, dps, dms = [], [], [], [], []
    lm = {k: [] for k in ("lane", "mode", "base", "beta", "km", "transit", "suez", "na")}
    lane_modes: dict[tuple[int, int], int] = {}
    for o_port, (o_country, o_mult, offsets) in _ORIGINS.items():
        for mi, m in enumerate(ms):
            fcl, beta, sea_km, sea_days, air_km, air_usd, suez, rail, truck_km = _DEST[m.code]
            ln = len(ids)
            ids.append(f"{o_port}-{m.main_port}")
            ops.append(o_port)
            ocs.append(o_country)
            dps.append(m.main_port)
            dms.append(mi)
            d_km = _offset(offsets, m.code, m.region)
            km = max(300.0, sea_km + d_km)
            days = max(1.5, sea_days + d_km / 700.0)
            intra_asia = m.region == "southeast_asia" or m.code in ("JP", "KR")
            mult = 1.0 if (intra_asia and o_country == "VN") else o_mult
            modes = [
                (FCL, fcl * mult, beta, km, days),
                (LCL, 0.0, beta, km, days + 5.0),
                (AIR, air_usd * (1.1 if o_country == "VN" else 1.0), 1.0, max(300.0, air_km + 0.6 * d_km),
                 3.0 + max(300.0, air_km + 0.6 * d_km) / 4000.0),
            ]  # fmt: skip
            if rail is not None and o_country == "CN":
                r_km, r_usd, r_days = rail
                south = o_port == "CNYTN"
                modes.append((RAIL, r_usd, 0.45, r_km + (800 if south else 0), r_days + (2 if south else 0)))
            if truck_km is not None:
                if o_country == "VN":
                    t_km, t_usd = _VN_TRUCK_KM[m.code], _TRUCK_USD_KG[m.code] * 0.6
                else:
                    t_km = truck_km + (1300 if o_port != "CNYTN" else 0)
                    t_usd = _TRUCK_USD_KG[m.code] * (1.25 if o_port != "CNYTN" else 1.0)
                modes.append((TRUCK, t_usd, 0.0, t_km, t_km / 500.0 + 1.5))
            for mode, base, b, k, t in modes:
                lane_modes[(ln, mode)] = len(lm["lane"])
                lm["lane"].append(ln)
                lm["mode"].append(mode)
                lm["base"].append(base)
                lm["beta"].append(b)
                lm["km"].append(k)
                lm["transit"].append(t)
                lm["suez"].append(suez and mode in (FCL, LCL))
                lm["na"].append(m.region == "north_america")
    return Lanes(
        lane_id=np.array(ids, dtype=object),
        origin_port=np.array(ops, dtype=object),
        origin_country=np.array(ocs, dtype=object),
        dest_port=np.array(dps, dtype=object),
        dest_market=np.array(dms, dtype=np.int64),
        lm_lane=np.array(lm["lane"], dtype=np.int64),
        lm_mode=np.array(lm["mode"], dtype=np.int64),
        lm_base=np.array(lm["base"], dtype=np.float64),
        lm_beta=np.array(lm["beta"], dtype=np.float64),
        lm_km=np.array(lm["km"], dtype=np.float64),
        lm_transit=np.array(lm["transit"], dtype=np.float64),
        lm_suez=np.array(lm["suez"], dtype=bool),
        lm_region_na=np.array(lm["na"], dtype=bool),
        lane_modes=lane_modes,
        lm_table=_lm_table(len(ids), lane_modes),
    )


def _lm_table(n_lanes: int, lane_modes: dict[tuple[int, int], int]) -> np.ndarray:
    table = np.full((n_lanes, len(MODES)), -1, dtype=np.int64)
    for (ln, md), i in lane_modes.items():
        table[ln, md] = i
    return table


def lane_index(origin_port: str, market_idx: int) -> int:
    """Index of the lane from an origin port to a market's main port."""
    return list(_ORIGINS).index(origin_port) * len(markets()) + market_idx


ORIGIN_PORTS: tuple[str, ...] = tuple(_ORIGINS)


def monday(ordinals: np.ndarray | int) -> np.ndarray:
    o = np.asarray(ordinals, dtype=np.int64)
    return o - (o - 1) % 7


def _smooth(seed: int, tag: str, ent: np.ndarray, t: np.ndarray, periods=(9.0, 23.0, 61.0)) -> np.ndarray:
    out = np.zeros(np.broadcast(ent, t).shape)
    for k, p in enumerate(periods):
        phase = uniform(seed, tag, ent, k) * 2 * np.pi
        out = out + np.sin(2 * np.pi * t / p + phase)
    return out / np.sqrt(0.5 * len(periods))


@lru_cache(maxsize=2048)
def _week_values(seed: int, week: int) -> tuple[np.ndarray, np.ndarray]:
    """(rates, transit days) of every lane-mode in one week, computed once per week."""
    n = len(lanes().lm_lane)
    lm = np.arange(n)
    w = np.full(n, week, dtype=np.int64)
    return _rates(seed, lm, w), _transit_days(seed, lm, w)


def _lookup(seed: int, lm: np.ndarray, week: np.ndarray, which: int) -> np.ndarray:
    lm = np.asarray(lm, dtype=np.int64)
    week = np.broadcast_to(np.asarray(week, dtype=np.int64), lm.shape)
    out = np.empty(lm.shape, dtype=np.float64)
    for w in np.unique(week):
        sel = week == w
        out[sel] = _week_values(seed, int(w))[which][lm[sel]]
    return out


def rates(seed: int, lm: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Rate of lane-modes ``lm`` in the weeks starting on ordinals ``week`` (US$ per rate unit)."""
    return _lookup(seed, lm, week, 0)


def transit_days(seed: int, lm: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Scheduled transit days of lane-modes in the weeks starting on ``week`` (port to port)."""
    return _lookup(seed, lm, week, 1)


def _rates(seed: int, lm: np.ndarray, week: np.ndarray) -> np.ndarray:
    L = lanes()
    lm = np.asarray(lm, dtype=np.int64)
    w = np.asarray(week, dtype=np.int64)
    mode = L.lm_mode[lm]
    idx = curves.curve(curves.FCL_COMPOSITE, w) / INDEX_2019
    rs = curves.red_sea(w)
    # For LCL the level follows the lane's FCL rate.
    fcl_lm = L.lm_of(L.lm_lane[lm], np.full_like(lm, FCL))
    fcl_base, beta = L.lm_base[fcl_lm], L.lm_beta[fcl_lm]
    wiggle = 0.05 * _smooth(seed, "fr-smooth", fcl_lm, w.astype(float) / 7.0) + 0.025 * normal(
        seed, "fr-week", fcl_lm, w
    )
    fcl = fcl_base * idx**beta * (1.0 + 0.25 * rs * L.lm_suez[fcl_lm]) * np.exp(wiggle)
    # General rate increases: short pulses on a few lanes (what a week-over-week spike alert should catch).
    block = w // 21
    pulse = uniform(seed, "fr-gri", fcl_lm, block) < 0.015
    fcl = fcl * np.where(pulse, 1.2 + 0.2 * uniform(seed, "fr-gri-size", fcl_lm, block), 1.0)
    out = np.empty(lm.shape, dtype=np.float64)
    own_noise = np.exp(0.03 * normal(seed, "fr-own", lm, w))
    out = np.where(mode == FCL, fcl, out)
    out = np.where(mode == LCL, (25.0 + fcl / 38.0) * own_noise, out)
    air = (
        L.lm_base[lm]
        * curves.curve(curves.AIR_INDEX, w)
        * np.exp(0.04 * _smooth(seed, "fr-air", lm, w / 7.0))
        * own_noise
    )
    out = np.where(mode == AIR, air, out)
    rail = L.lm_base[lm] * idx ** L.lm_beta[lm] * np.where(w >= RAIL_UKRAINE_DIP_FROM, 0.85, 1.0) * own_noise
    out = np.where(mode == RAIL, rail, out)
    truck = L.lm_base[lm] * curves.curve(curves.FUEL, w) * own_noise
    out = np.where(mode == TRUCK, truck, out)
    decimals = np.where(mode == FCL, 0, 2)
    return np.where(decimals == 0, np.round(out), np.round(out, 2))


def _transit_days(seed: int, lm: np.ndarray, week: np.ndarray) -> np.ndarray:
    L = lanes()
    lm = np.asarray(lm, dtype=np.int64)
    w = np.asarray(week, dtype=np.int64)
    mode = L.lm_mode[lm]
    base = L.lm_transit[lm]
    cong = curves.curve(curves.CONGESTION, w)
    cong = np.where(L.lm_region_na[lm], 1.0 + 1.4 * (cong - 1.0), cong)
    rs = curves.red_sea(w)
    noise = _smooth(seed, "tr-smooth", lm, w / 7.0)
    sea = base * cong + 13.0 * rs * L.lm_suez[lm] + 0.8 * noise
    air = base + 1.2 * np.clip(curves.curve(curves.AIR_INDEX, w) - 1.0, 0, None) + 0.3 * noise
    rail = base * (1.0 + 0.8 * (cong - 1.0)) + 0.8 * noise
    truck = base + 0.4 * noise + np.where((w >= TRUCK_BORDER_CHECKS[0]) & (w <= TRUCK_BORDER_CHECKS[1]), 2.5, 0.0)
    out = np.where((mode == FCL) | (mode == LCL), sea, np.where(mode == AIR, air, np.where(mode == RAIL, rail, truck)))
    return np.round(np.maximum(out, 1.0), 1)


def distance_km(lm: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Distance of lane-modes in a week: Suez lanes add ~6,000 km while ships divert round the Cape."""
    L = lanes()
    lm = np.asarray(lm, dtype=np.int64)
    rs = curves.red_sea(np.asarray(week))
    return np.round(L.lm_km[lm] + 6000.0 * np.round(rs, 1) * L.lm_suez[lm])
