"""Policy, freight and carbon tables of the sample: daily FX and carbon prices, weekly freight
rates, and the regulatory-event feed.

Regulatory events are of two kinds, told apart by their id and summary:

- real, dated events (``event_id`` without prefix ``SIM-``), curated from public announcements:
  the EU VAT e-commerce package, UK Global Tariff, German VAT cut, Singapore GST steps, US
  de minimis suspensions, Brazil's import tax on small parcels, CBAM phases, DSTs...;
- synthetic scenario events (``SIM-...``, summary starting ``[sample scenario]``) on a fixed
  schedule of one every 19-23 days, each announced 40-90 days ahead, so that any as-of date
  has an announced event taking effect within the next 30 days (the policy alert has
  something to find). They depend on the seed only.

The feed as of a date holds the events announced on or before it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from orchestration.lib.reference import EU_MARKETS, generated_mfn_rate
from orchestration.lib.sample import freight
from orchestration.lib.sample._rand import uniform
from orchestration.lib.sample.arrow import dates, strings, to_table
from orchestration.lib.sample.markets import market_codes
from orchestration.lib.sample.prices import eu_ets_price, fx_table
from orchestration.lib.sample.products import catalog_hs6

# (event_id, country, hs_scope, kind, announced_on, effective_on, new_rate_pct, summary)
_REAL_EVENTS: list[tuple[str, str, str, str, str, str, float | None, str]] = [
    ("GB-UKGT-2021", "GB", "", "duty_change", "2020-05-19", "2021-01-01", None,
     "UK Global Tariff replaces the EU Common External Tariff at the end of the Brexit transition period"),
    ("GB-VAT-LVCR-2021", "GB", "", "de_minimis_change", "2020-07-13", "2021-01-01", 0.0,
     "Low value consignment relief (GBP 15) abolished; VAT on consignments up to GBP 135 charged at the point of sale by online marketplaces"),
    ("DE-VAT-2020-07", "DE", "", "vat_change", "2020-06-03", "2020-07-01", 16.0,
     "Temporary VAT cut: standard rate 19% -> 16%, reduced 7% -> 5% until 2020-12-31"),
    ("DE-VAT-2021-01", "DE", "", "vat_change", "2020-06-03", "2021-01-01", 19.0, "Temporary VAT cut ends: standard rate back to 19%"),
    ("JP-CT-2019", "JP", "", "vat_change", "2018-10-15", "2019-10-01", 10.0, "Consumption tax raised from 8% to 10% (8% kept for food)"),
    ("SG-GST-2023", "SG", "", "vat_change", "2022-02-18", "2023-01-01", 8.0, "GST raised from 7% to 8% (Budget 2022)"),
    ("SG-GST-2024", "SG", "", "vat_change", "2022-02-18", "2024-01-01", 9.0, "GST raised from 8% to 9% (Budget 2022)"),
    ("SG-LVG-2023", "SG", "", "de_minimis_change", "2021-02-16", "2023-01-01", 0.0,
     "GST extended to imported low-value goods (SGD 400 or less) through overseas vendor registration"),
    ("AU-GST-LVG-2018", "AU", "", "de_minimis_change", "2016-05-03", "2018-07-01", 0.0,
     "GST on low value imported goods (AUD 1,000 or less) collected by vendors and marketplaces"),
    ("CA-CUSMA-2020", "CA", "", "de_minimis_change", "2018-09-30", "2020-07-01", None,
     "CUSMA: courier de minimis raised to CAD 150 (duty) and CAD 40 (taxes)"),
    ("US-301-4A-2019", "US", "", "duty_change", "2019-08-13", "2019-09-01", 15.0,
     "Section 301 List 4A: additional 15% on many Chinese consumer goods (7.5% from 2020-02-14); origin-specific, not in duty_rates"),
    ("US-IEEPA-CN-2025-02", "US", "", "duty_change", "2025-02-01", "2025-02-04", 10.0,
     "Additional 10% IEEPA tariff on goods from China; origin-specific, not in duty_rates"),
    ("US-IEEPA-CN-2025-03", "US", "", "duty_change", "2025-03-03", "2025-03-04", 20.0,
     "IEEPA tariff on goods from China raised to 20%; origin-specific, not in duty_rates"),
    ("US-DEMIN-CN-2025", "US", "", "de_minimis_change", "2025-04-02", "2025-05-02", 0.0,
     "Duty-free de minimis (USD 800) ends for goods from China and Hong Kong"),
    ("US-DEMIN-ALL-2025", "US", "", "de_minimis_change", "2025-07-30", "2025-08-29", 0.0,
     "Duty-free de minimis treatment suspended for low-value shipments from all countries"),
    ("MX-TEXTILE-61-2024", "MX", "61", "duty_change", "2024-04-22", "2024-04-23", 35.0,
     "Temporary 35% tariff on knitted apparel from countries without a trade agreement"),
    ("MX-TEXTILE-62-2024", "MX", "62", "duty_change", "2024-04-22", "2024-04-23", 35.0,
     "Temporary 35% tariff on woven apparel from countries without a trade agreement"),
    ("MX-COURIER-2025", "MX", "", "de_minimis_change", "2024-12-19", "2025-01-01", 19.0,
     "19% flat rate on courier imports from countries without a trade agreement (de minimis no longer applies)"),
    ("BR-REMESSA-2023", "BR", "", "de_minimis_change", "2023-06-30", "2023-08-01", 0.0,
     "Remessa Conforme: 0% import tax up to USD 50 through certified platforms (ICMS 17% still due)"),
    ("BR-TAX20-2024", "BR", "", "de_minimis_change", "2024-06-27", "2024-08-01", 20.0,
     "Import tax of 20% on purchases up to USD 50 (Law 14,902/2024)"),
    ("MY-LVG-2024", "MY", "", "de_minimis_change", "2023-10-13", "2024-01-01", 10.0,
     "10% sales tax on low value goods (MYR 500 or less) sold by foreign sellers"),
    ("TH-LVG-2024", "TH", "", "de_minimis_change", "2024-06-25", "2024-07-05", 7.0,
     "VAT collected on imported goods below THB 1,500"),
    ("FR-DST-2019", "FR", "", "dst", "2019-07-24", "2019-01-01", 3.0, "Digital services tax 3% (retroactive to 2019-01-01)"),
    ("GB-DST-2020", "GB", "", "dst", "2018-10-29", "2020-04-01", 2.0, "Digital services tax 2% on search, social media and online marketplaces"),
    ("IT-DST-2020", "IT", "", "dst", "2019-12-30", "2020-01-01", 3.0, "Imposta sui servizi digitali 3%"),
    ("ES-DST-2021", "ES", "", "dst", "2020-10-16", "2021-01-16", 3.0, "Impuesto sobre determinados servicios digitales 3%"),
    ("CA-DST-2024", "CA", "", "dst", "2024-06-20", "2022-01-01", 3.0, "Digital services tax 3% enacted, retroactive to 2022-01-01"),
    ("CA-DST-END-2025", "CA", "", "dst", "2025-06-29", "2025-06-29", 0.0, "Digital services tax rescinded before its first payment"),
]  # fmt: skip
for _c in EU_MARKETS:
    _REAL_EVENTS += [
        (f"EU-VAT-ECOM-2021-{_c}", _c, "", "de_minimis_change", "2017-12-05", "2021-07-01", 0.0,
         "EU VAT e-commerce package: EUR 22 import VAT exemption removed, IOSS for consignments up to EUR 150"),
        (f"EU-GPSR-2024-{_c}", _c, "", "product_rule", "2023-05-23", "2024-12-13", None,
         "General Product Safety Regulation applies: an EU responsible person and traceability data for products sold online"),
        (f"EU-BATT-LABEL-2026-{_c}", _c, "8507", "product_rule", "2023-07-28", "2026-08-18", None,
         "EU Battery Regulation: labelling requirements for batteries apply (capacity, chemistry, separate collection)"),
        (f"EU-CUSTOMS-150-{_c}", _c, "", "de_minimis_change", "2025-11-13", "2026-07-01", 0.0,
         "EU Council agreement to remove the EUR 150 customs duty exemption for low-value consignments; interim flat duty per item (date approximate)"),
    ]  # fmt: skip
    for _p in ("72", "7318", "7326", "7616"):
        _REAL_EVENTS += [
            (f"EU-CBAM-T-{_c}-{_p}", _c, _p, "cbam", "2023-05-16", "2023-10-01", None,
             "CBAM transitional phase: quarterly reports of embedded emissions for imports of iron, steel and aluminium goods"),
            (f"EU-CBAM-D-{_c}-{_p}", _c, _p, "cbam", "2023-05-16", "2026-01-01", None,
             "CBAM definitive phase: authorised declarants buy CBAM certificates priced on the EU ETS for embedded emissions"),
        ]  # fmt: skip

_SIM_START = dt.date(2019, 1, 14).toordinal()
_PRODUCT_RULES = [
    ("8507", "lithium battery transport and labelling"),
    ("85", "electrical safety certification"),
    ("9503", "toy safety (chemical limits)"),
    ("", "extended producer responsibility registration for packaging"),
    ("64", "footwear composition labelling"),
    ("94", "furniture flammability testing"),
]


def _synthetic_events(seed: int, as_of: int) -> list[tuple]:
    markets_ = market_codes()
    hs = catalog_hs6()
    out = []
    k = 0
    eff = _SIM_START
    while True:
        eff += 19 + int(uniform(seed, "sim-gap", k)[0] * 5)
        announced = eff - 40 - int(uniform(seed, "sim-lead", k)[0] * 50)
        if announced > as_of:
            if eff > as_of + 200:
                break
            k += 1
            continue
        country = markets_[int(uniform(seed, "sim-country", k)[0] * len(markets_))]
        if uniform(seed, "sim-kind", k)[0] < 0.6:
            code = hs[int(uniform(seed, "sim-hs", k)[0] * len(hs))]
            base = generated_mfn_rate(country, code) if country not in EU_MARKETS + ("GB",) else 3.0
            rate = round((base + 1.0 + 7.0 * float(uniform(seed, "sim-rate", k)[0])) * 2) / 2
            out.append((f"SIM-{k + 1:04d}", country, code[:4], "duty_change", announced, eff, rate,
                        f"[sample scenario] MFN duty on HS {code[:4]} goods raised to {rate:.1f}% in {country}"))  # fmt: skip
        else:
            scope, label = _PRODUCT_RULES[int(uniform(seed, "sim-rule", k)[0] * len(_PRODUCT_RULES))]
            where = f"HS {scope} products" if scope else "all goods"
            out.append((f"SIM-{k + 1:04d}", country, scope, "product_rule", announced, eff, None,
                        f"[sample scenario] New {label} requirement for {where} sold in {country}"))  # fmt: skip
        k += 1
    return out


def regulatory_events(seed: int, as_of: int) -> pa.Table:
    rows = [
        (e, c, h, k, dt.date.fromisoformat(a).toordinal(), dt.date.fromisoformat(f).toordinal(), r, s)
        for e, c, h, k, a, f, r, s in _REAL_EVENTS
    ]
    rows = [r for r in rows if r[4] <= as_of] + _synthetic_events(seed, as_of)
    rows.sort(key=lambda r: (r[5], r[0]))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(8)]
    n = len(rows)
    return to_table(
        "regulatory_events",
        n,
        {
            "event_id": np.array(cols[0], dtype=object),
            "country_code": np.array(cols[1], dtype=object),
            "hs_scope": np.array(cols[2], dtype=object),
            "kind": np.array(cols[3], dtype=object),
            "announced_on": dates(np.array(cols[4], dtype=np.int64)),
            "effective_on": dates(np.array(cols[5], dtype=np.int64)),
            "new_rate_pct": pa.array(list(cols[6]), type=pa.float64()),
            "summary": np.array(cols[7], dtype=object),
        },
    )


def fx_rates(seed: int, ordinal: int) -> pa.Table:
    table = fx_table(seed, ordinal)
    cur = list(table)
    values = list(table.values())
    return to_table(
        "fx_rates",
        len(cur),
        {
            "rate_date": dates(np.full(len(cur), ordinal)),
            "currency": np.array(cur, dtype=object),
            "units_per_usd": values,
        },
    )


def carbon_prices(seed: int, ordinal: int) -> pa.Table:
    return to_table(
        "carbon_prices",
        1,
        {
            "price_date": dates(np.array([ordinal])),
            "scheme": "EU_ETS",
            "price": eu_ets_price(seed, ordinal),
            "currency": "EUR",
        },
    )


def freight_rates(seed: int, ordinal: int) -> pa.Table:
    if (ordinal - 1) % 7 != 0:  # Mondays only
        return to_table("freight_rates", 0, {})
    L = freight.lanes()
    n = len(L.lm_lane)
    lm = np.arange(n)
    week = np.full(n, ordinal, dtype=np.int64)
    lane = L.lm_lane
    codes = market_codes()
    return to_table(
        "freight_rates",
        n,
        {
            "rate_week": dates(week),
            "lane_id": L.lane_id[lane],
            "origin_country": L.origin_country[lane],
            "origin_port": L.origin_port[lane],
            "destination_country": strings(L.dest_market[lane], codes),
            "destination_port": L.dest_port[lane],
            "mode": strings(L.lm_mode, freight.MODES),
            "rate": freight.rates(seed, lm, week),
            "rate_unit": np.array([freight.RATE_UNIT[m] for m in freight.MODES], dtype=object)[L.lm_mode],
            "currency": "USD",
            "transit_days": freight.transit_days(seed, lm, week),
            "distance_km": freight.distance_km(lm, week),
        },
    )
