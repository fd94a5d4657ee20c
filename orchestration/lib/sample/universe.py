"""The seller's world that does not change from day to day: catalog, suppliers, listings, stock pairs.

Everything here depends on (seed, scale) only, never on the requested dates, so that every
day of every table refers to the same SKUs and listings.

- SKUs: ``round(2000 * scale)`` products drawn from :mod:`.products` templates (real HS codes),
  with CNY costs (USD for Vietnamese suppliers), voltage/plug, launch dates (most before 2023,
  some launching during any recent two-year window) and hidden traits that drive the data:
  a quality factor (returns, ratings) and, for some products that need assembly, unclear
  installation instructions (the dominant complaint of their bad reviews).
- Suppliers: a few per category with Zipf-like shares; one supplier makes >80% of the pet
  category (supplier-concentration alert).
- Listings: SKU x market x marketplace, mostly in voltage-compatible markets; a few 110V/220V
  products are listed in a market of the other voltage class (voltage-mismatch returns).
- Stock pairs: SKU x market, each stocked in the market's warehouse and replenished on a fixed
  cycle from the supplier's port by a primary transport mode.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from orchestration.lib.sample import freight
from orchestration.lib.sample._rand import static_rng
from orchestration.lib.sample.markets import MARKET_SIZE, MARKETPLACES, PRICE_LEVEL, markets
from orchestration.lib.sample.products import ADJECTIVES, CATEGORY_WEIGHTS, TEMPLATES
from orchestration.lib.schemas import CATEGORIES, COMPLAINT_TOPICS, RETURN_REASONS

SKUS_AT_SF1 = 2000
#: Expected order lines per day at SF1 over all listings (about 1M lines in two years, after launches and stock-outs).
LINES_PER_DAY_SF1 = 1340.0
CNY_PER_USD_COST = 7.1  # fixed conversion of template costs for USD-invoicing suppliers

_CAT_CODE = {"electronics": "ELE", "home_kitchen": "HOM", "apparel": "APP", "beauty": "BEA", "toys": "TOY",
             "sports": "SPO", "tools": "TOO", "pet": "PET", "auto_parts": "AUT", "furniture": "FUR"}  # fmt: skip
_VARIANTS = ("Black", "White", "Grey", "Blue", "Green", "Red", "Navy", "Beige", "Pink", "Silver", "S", "M", "L", "XL")
_MARKUP = {"electronics": 2.3, "home_kitchen": 2.6, "apparel": 3.4, "beauty": 3.8, "toys": 3.0, "sports": 2.7,
           "tools": 2.5, "pet": 2.9, "auto_parts": 2.6, "furniture": 2.2}  # fmt: skip
_CONVERSION = {"electronics": 0.05, "home_kitchen": 0.06, "apparel": 0.07, "beauty": 0.09, "toys": 0.06,
               "sports": 0.06, "tools": 0.06, "pet": 0.08, "auto_parts": 0.05, "furniture": 0.03}  # fmt: skip
RETURN_RATE = {"electronics": 0.07, "home_kitchen": 0.06, "apparel": 0.20, "beauty": 0.04, "toys": 0.05,
               "sports": 0.08, "tools": 0.05, "pet": 0.06, "auto_parts": 0.07, "furniture": 0.06}  # fmt: skip
# Complaint-topic weights by category, in COMPLAINT_TOPICS order:
# installation, sizing, voltage, damaged_packaging, late_delivery, not_as_described, quality, missing_parts
_TOPICS = {
    "electronics": (0.08, 0.0, 0.0, 0.12, 0.15, 0.20, 0.35, 0.10),
    "home_kitchen": (0.12, 0.0, 0.0, 0.20, 0.12, 0.18, 0.30, 0.08),
    "apparel": (0.0, 0.45, 0.0, 0.05, 0.12, 0.18, 0.20, 0.0),
    "beauty": (0.0, 0.0, 0.0, 0.15, 0.12, 0.33, 0.40, 0.0),
    "toys": (0.08, 0.0, 0.0, 0.15, 0.15, 0.20, 0.30, 0.12),
    "sports": (0.10, 0.12, 0.0, 0.15, 0.13, 0.15, 0.28, 0.07),
    "tools": (0.15, 0.0, 0.0, 0.12, 0.12, 0.16, 0.35, 0.10),
    "pet": (0.08, 0.15, 0.0, 0.12, 0.12, 0.18, 0.30, 0.05),
    "auto_parts": (0.25, 0.05, 0.0, 0.10, 0.12, 0.20, 0.20, 0.08),
    "furniture": (0.25, 0.0, 0.0, 0.20, 0.15, 0.10, 0.15, 0.15),
}
# Return-reason weights (excluding voltage_mismatch), in RETURN_REASONS[1:] order:
# sizing, damaged, not_as_described, defective, changed_mind, late_delivery
_REASONS = {
    "electronics": (0.0, 0.10, 0.20, 0.42, 0.20, 0.08),
    "home_kitchen": (0.0, 0.18, 0.20, 0.30, 0.22, 0.10),
    "apparel": (0.55, 0.03, 0.15, 0.04, 0.18, 0.05),
    "beauty": (0.0, 0.15, 0.25, 0.15, 0.35, 0.10),
    "toys": (0.0, 0.15, 0.20, 0.30, 0.25, 0.10),
    "sports": (0.20, 0.10, 0.15, 0.25, 0.22, 0.08),
    "tools": (0.0, 0.12, 0.18, 0.40, 0.20, 0.10),
    "pet": (0.15, 0.12, 0.20, 0.20, 0.25, 0.08),
    "auto_parts": (0.15, 0.10, 0.25, 0.30, 0.12, 0.08),
    "furniture": (0.0, 0.35, 0.20, 0.20, 0.15, 0.10),
}
# Categories whose top supplier makes this share of the SKUs (the rest share Zipf-like).
_DOMINANT_SUPPLIER = {"pet": 0.88, "electronics": 0.5}
SEA, AIR, RAIL_C, TRUCK_C = range(4)  # primary transport class of a stock pair


@dataclass
class Universe:
    seed: int
    scale: float
    # SKUs
    sku: np.ndarray
    title: np.ndarray
    cat: np.ndarray  # index into CATEGORIES
    template: np.ndarray
    unit_cost: np.ndarray
    cost_currency: np.ndarray
    cost_usd: np.ndarray
    weight: np.ndarray
    dims: np.ndarray  # (n, 3) cm
    hs6: np.ndarray
    origin_country: np.ndarray
    origin_port: np.ndarray
    supplier_id: np.ndarray
    supplier_country: np.ndarray
    voltage: np.ndarray
    plug: np.ndarray
    battery: np.ndarray
    doc_languages: np.ndarray
    launched: np.ndarray  # ordinal
    quality: np.ndarray  # return-rate multiplier (1 = typical)
    rating_mu: np.ndarray
    install_pain: np.ndarray
    topic_cdf: np.ndarray  # (n, topics) cumulative
    reason_cdf: np.ndarray  # (n, reasons-1) cumulative
    # listings
    l_sku: np.ndarray
    l_market: np.ndarray
    l_mp: np.ndarray
    l_base: np.ndarray  # expected order lines per day before seasonality
    l_conv: np.ndarray
    l_atc: np.ndarray
    l_price_usd: np.ndarray  # net of VAT, in USD
    l_mismatch: np.ndarray
    l_launch: np.ndarray
    l_pair: np.ndarray
    # stock pairs (SKU x market)
    p_sku: np.ndarray
    p_market: np.ndarray
    p_lane: np.ndarray
    p_class: np.ndarray
    p_cycle: np.ndarray
    p_phase: np.ndarray
    p_rate: np.ndarray  # expected units per day before seasonality
    p_cover: np.ndarray
    p_prod_lead: np.ndarray

    @property
    def n_sku(self) -> int:
        return len(self.sku)


def sku_count(scale: float) -> int:
    return max(5, int(round(SKUS_AT_SF1 * scale)))


def _choice_cdf(rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows, k) cumulative table."""
    u = rng.random(cdf.shape[0])[:, None]
    return np.minimum((u >= cdf).sum(axis=1), cdf.shape[1] - 1)


def _ordinal(s: str) -> int:
    return dt.date.fromisoformat(s).toordinal()


@lru_cache(maxsize=8)
def universe(seed: int, scale: float) -> Universe:
    """The (cached) world of a seed and scale."""
    n = sku_count(scale)
    rng = static_rng(seed, "catalog", n)
    ms = markets()
    n_m = len(ms)

    # ---------------------------------------------------------------- categories and templates
    cat_w = np.array([CATEGORY_WEIGHTS[c] for c in CATEGORIES])
    cat = rng.choice(len(CATEGORIES), size=n, p=cat_w / cat_w.sum())
    k0 = min(n, len(CATEGORIES))
    cat[:k0] = np.arange(k0)  # every category present even at tiny scale
    tmpl_by_cat = [[i for i, t in enumerate(TEMPLATES) if t.category == c] for c in CATEGORIES]
    template = np.array([tmpl_by_cat[c][rng.integers(len(tmpl_by_cat[c]))] for c in cat])
    T = [TEMPLATES[i] for i in template]

    lo = np.array([t.cost_cny[0] for t in T])
    hi = np.array([t.cost_cny[1] for t in T])
    cost_cny = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    weight = np.round(np.array([t.weight_kg for t in T]) * rng.lognormal(0, 0.15, n), 3)
    dims = np.round(np.array([t.dims_cm for t in T]) * rng.lognormal(0, 0.1, (n, 3)), 1)
    hs6 = np.array([t.hs6 for t in T], dtype=object)

    # ---------------------------------------------------------------- suppliers
    n_sup = max(len(CATEGORIES), int(round(n / 12)))
    sup_cat = np.arange(n_sup) % len(CATEGORIES)
    vn_able = np.isin(sup_cat, [CATEGORIES.index(c) for c in ("apparel", "furniture", "sports")])
    sup_country = np.where(vn_able & (rng.random(n_sup) < 0.3), "VN", "CN").astype(object)
    cn_ports = np.array(["CNSHA", "CNNGB", "CNYTN"], dtype=object)
    sup_port = np.where(sup_country == "VN", "VNSGN", cn_ports[rng.choice(3, n_sup, p=[0.45, 0.2, 0.35])]).astype(
        object
    )
    supplier = np.empty(n, dtype=np.int64)
    for c in range(len(CATEGORIES)):
        members = np.flatnonzero(cat == c)
        pool = np.flatnonzero(sup_cat == c)
        if len(members) == 0:
            continue
        w = 1.0 / np.arange(1, len(pool) + 1) ** 1.2
        top = _DOMINANT_SUPPLIER.get(CATEGORIES[c])
        if top is not None and len(pool) > 1:
            w = np.concatenate([[top], (1 - top) * w[1:] / w[1:].sum()])
        supplier[members] = pool[rng.choice(len(pool), size=len(members), p=w / w.sum())]
    supplier_id = np.array([f"SUP-{s + 1:04d}" for s in supplier], dtype=object)
    supplier_country = sup_country[supplier]
    origin_port = sup_port[supplier]
    cost_currency = np.where(supplier_country == "VN", "USD", "CNY").astype(object)
    unit_cost = np.where(cost_currency == "USD", np.round(cost_cny / CNY_PER_USD_COST, 2), np.round(cost_cny, 2))
    cost_usd = cost_cny / CNY_PER_USD_COST

    # ---------------------------------------------------------------- power, plugs, battery
    power = np.array([t.power for t in T], dtype=object)
    voltage = np.where(power == "universal", "universal", "none").astype(object)
    mains = np.flatnonzero(power == "mains")
    voltage[mains] = np.array(["110V", "220V", "universal"], dtype=object)[
        rng.choice(3, len(mains), p=[0.35, 0.45, 0.2])
    ]
    plug = np.full(n, "none", dtype=object)
    plug[voltage == "110V"] = np.array(["A", "B"], dtype=object)[
        rng.choice(2, int((voltage == "110V").sum()), p=[0.6, 0.4])
    ]
    v220 = voltage == "220V"
    plug[v220] = np.array(["C", "G", "I", "F"], dtype=object)[
        rng.choice(4, int(v220.sum()), p=[0.45, 0.25, 0.15, 0.15])
    ]
    univ = voltage == "universal"
    plug[univ] = np.array(["A", "C", "G"], dtype=object)[rng.choice(3, int(univ.sum()), p=[0.5, 0.3, 0.2])]
    battery = np.array([t.battery for t in T], dtype=bool)

    # ---------------------------------------------------------------- launch dates and hidden traits
    early = rng.uniform(_ordinal("2017-01-01"), _ordinal("2023-06-30"), n)
    late = rng.uniform(_ordinal("2023-07-01"), _ordinal("2027-06-30"), n)
    launched = np.where(rng.random(n) < 0.8, early, late).astype(np.int64)
    launched[:k0] = rng.integers(_ordinal("2017-01-01"), _ordinal("2021-12-31"), k0)
    quality = rng.lognormal(0, 0.25, n) * np.where(rng.random(n) < 0.04, 2.6, 1.0)
    assembly = np.array([t.assembly for t in T], dtype=bool)
    install_pain = assembly & (rng.random(n) < 0.5)
    rating_mu = 4.35 - 0.45 * (quality - 1.0) - 0.3 * install_pain

    topic_w = np.array([_TOPICS[CATEGORIES[c]] for c in cat], dtype=float) * rng.uniform(
        0.7, 1.3, (n, len(COMPLAINT_TOPICS))
    )
    inst = COMPLAINT_TOPICS.index("installation")
    topic_w[:, inst] += np.where(install_pain, 0.9, 0.0)
    topic_cdf = np.cumsum(topic_w / topic_w.sum(axis=1, keepdims=True), axis=1)
    reason_w = np.array([_REASONS[CATEGORIES[c]] for c in cat], dtype=float)
    reason_cdf = np.cumsum(reason_w / reason_w.sum(axis=1, keepdims=True), axis=1)

    # ---------------------------------------------------------------- SKU ids and titles
    sku = np.array([f"TW-{_CAT_CODE[CATEGORIES[c]]}-{i + 1:05d}" for i, c in enumerate(cat)], dtype=object)
    adj = rng.integers(len(ADJECTIVES), size=n)
    var = rng.integers(len(_VARIANTS), size=n)
    title = np.array(
        [f"{ADJECTIVES[a]} {t.noun} - {_VARIANTS[v]}" for a, t, v in zip(adj, T, var, strict=True)], dtype=object
    )

    # ---------------------------------------------------------------- listings
    size = np.array([MARKET_SIZE[m.code] for m in ms])
    m_class = np.array([m.voltage_class for m in ms], dtype=object)
    compat = np.ones((n, n_m))
    specific = np.isin(voltage, ["110V", "220V"])
    compat[specific] = np.where(m_class[None, :] == voltage[specific][:, None], 1.0, 0.04)
    k = np.minimum(1 + rng.binomial(4, 0.38, n), n_m)
    gumbel = -np.log(-np.log(rng.random((n, n_m))))
    order = np.argsort(-(np.log(size)[None, :] + np.log(compat) + gumbel), axis=1)
    pairs: list[tuple[int, int]] = [(i, int(order[i, j])) for i in range(n) for j in range(k[i])]

    early_sku = np.flatnonzero(launched < _ordinal("2022-01-01"))
    early_set = set(early_sku.tolist())
    have = {mi for i, mi in pairs if i in early_set}
    for mi in range(n_m):  # every market sells something from the start, even at tiny scale
        if mi not in have:
            ok = [i for i in early_sku if not specific[i] or voltage[i] == m_class[mi]]
            cand = ok or list(early_sku)
            i = int(cand[rng.integers(len(cand))])
            if (i, mi) not in pairs:
                pairs.append((i, mi))
    if specific.any() and not any(specific[i] and voltage[i] != m_class[mi] for i, mi in pairs):
        i = int(np.flatnonzero(specific)[0])  # keep at least one voltage-mismatched listing at any scale
        mi = next(j for j in range(n_m) if m_class[j] != voltage[i] and (i, j) not in pairs)
        pairs.append((i, mi))
    pairs.sort()

    l_sku, l_market, l_mp, l_first = [], [], [], []
    for i, mi in pairs:
        mps = ms[mi].marketplaces
        w = np.array([0.65, 0.25, 0.10][: len(mps)])
        first = int(rng.choice(len(mps), p=w / w.sum()))
        chosen = [first]
        if len(mps) > 1 and rng.random() < 0.3:
            rest = [j for j in range(len(mps)) if j != first]
            chosen.append(rest[int(rng.integers(len(rest)))])
        for rank, j in enumerate(chosen):
            l_sku.append(i)
            l_market.append(mi)
            l_mp.append(MARKETPLACES.index(mps[j]))
            l_first.append(rank == 0)
    l_sku_a = np.array(l_sku, dtype=np.int64)
    l_market_a = np.array(l_market, dtype=np.int64)
    l_mp_a = np.array(l_mp, dtype=np.int64)
    nl = len(l_sku_a)
    l_mismatch = specific[l_sku_a] & (voltage[l_sku_a] != m_class[l_market_a])

    pop = rng.lognormal(0, 1.0, n) * (cost_cny / 100.0) ** -0.35
    l_base = (
        pop[l_sku_a]
        * np.sqrt(size[l_market_a])
        * np.where(np.array(l_first), 1.0, 0.55)
        * np.where(l_mismatch, 0.5, 1.0)
    )
    l_base = l_base / l_base.sum() * LINES_PER_DAY_SF1 * n / SKUS_AT_SF1
    l_conv = np.clip(
        np.array([_CONVERSION[CATEGORIES[c]] for c in cat])[l_sku_a] * rng.lognormal(0, 0.3, nl), 0.015, 0.25
    )
    l_atc = np.clip(l_conv * rng.uniform(2.0, 3.2, nl), 0.04, 0.36)
    markup = np.array([_MARKUP[CATEGORIES[c]] for c in cat]) * rng.lognormal(0, 0.15, n)
    net_usd = cost_usd * markup + 2.0 + 1.8 * weight**0.8
    l_price_usd = (
        net_usd[l_sku_a] * np.array([PRICE_LEVEL[m.code] for m in ms])[l_market_a] * rng.lognormal(0, 0.05, nl)
    )
    l_launch = launched[l_sku_a] + np.where(np.array(l_first), 0, rng.integers(0, 60, nl))

    # doc languages: English always, Chinese often, the language of some of the listed markets
    langs = [{"en"} for _ in range(n)]
    for i, mi in pairs:
        if rng.random() < 0.6:
            langs[i].add(ms[mi].language)
    for i in range(n):
        if rng.random() < 0.3:
            langs[i].add("zh")
    doc_languages = np.array([";".join(sorted(s)) for s in langs], dtype=object)

    # ---------------------------------------------------------------- stock pairs
    pair_sku = np.array([i for i, _ in pairs], dtype=np.int64)
    pair_market = np.array([mi for _, mi in pairs], dtype=np.int64)
    pair_index = {p: j for j, p in enumerate(pairs)}
    l_pair = np.array([pair_index[(i, mi)] for i, mi in zip(l_sku, l_market, strict=True)], dtype=np.int64)
    p_rate = np.bincount(l_pair, weights=l_base, minlength=len(pairs))
    lanes = freight.lanes()
    p_lane = np.array([freight.lane_index(origin_port[i], mi) for i, mi in pairs], dtype=np.int64)
    has_rail = np.array([(ln, freight.RAIL) in lanes.lane_modes for ln in p_lane])
    has_truck = np.array([(ln, freight.TRUCK) in lanes.lane_modes for ln in p_lane])
    cbm = dims.prod(axis=1) / 1e6
    bulky = (weight > 5) | (cbm > 0.03)
    light_valuable = (weight < 1.0) & (cost_cny > 80)
    w_cls = np.where(
        bulky[pair_sku][:, None],
        np.array([0.9, 0.0, 0.1, 0.0]),
        np.where(
            light_valuable[pair_sku][:, None], np.array([0.62, 0.25, 0.13, 0.0]), np.array([0.8, 0.07, 0.13, 0.0])
        ),
    )
    w_cls[~has_rail, RAIL_C] = 0.0
    w_cls[has_truck] *= 0.55
    w_cls[has_truck, TRUCK_C] = 0.45
    p_class = _choice_cdf(rng, np.cumsum(w_cls / w_cls.sum(axis=1, keepdims=True), axis=1))
    # Sea and rail ship every 4-8 weeks (slow movers less often), air every 2 weeks, trucks every 3.
    p_cycle = np.select(
        [p_class == AIR, p_class == TRUCK_C, p_rate >= 3, p_rate >= 0.5],
        [14, 21, 28, 42],
        default=56,
    ).astype(np.int64)
    p_phase = (rng.random(len(pairs)) * p_cycle).astype(np.int64)
    p_cover = rng.uniform(1.05, 1.4, len(pairs))
    p_prod_lead = rng.integers(10, 26, len(pairs))

    return Universe(
        seed=seed,
        scale=scale,
        sku=sku,
        title=title,
        cat=cat,
        template=template,
        unit_cost=unit_cost,
        cost_currency=cost_currency,
        cost_usd=cost_usd,
        weight=weight,
        dims=dims,
        hs6=hs6,
        origin_country=supplier_country.copy(),
        origin_port=origin_port,
        supplier_id=supplier_id,
        supplier_country=supplier_country,
        voltage=voltage,
        plug=plug,
        battery=battery,
        doc_languages=doc_languages,
        launched=launched,
        quality=quality,
        rating_mu=rating_mu,
        install_pain=install_pain,
        topic_cdf=topic_cdf,
        reason_cdf=reason_cdf,
        l_sku=l_sku_a,
        l_market=l_market_a,
        l_mp=l_mp_a,
        l_base=l_base,
        l_conv=l_conv,
        l_atc=l_atc,
        l_price_usd=l_price_usd,
        l_mismatch=l_mismatch,
        l_launch=l_launch,
        l_pair=l_pair,
        p_sku=pair_sku,
        p_market=pair_market,
        p_lane=p_lane,
        p_class=p_class,
        p_cycle=p_cycle,
        p_phase=p_phase,
        p_rate=p_rate,
        p_cover=p_cover,
        p_prod_lead=p_prod_lead,
    )


__all__ = ["RETURN_REASONS", "RETURN_RATE", "Universe", "sku_count", "universe"]
