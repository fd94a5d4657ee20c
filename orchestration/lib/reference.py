"""Parsers of the bundled public reference data into rows of the raw-table contract.

Everything here is real published data (with the caveats of each ``SOURCE.txt``) or a small
curated table whose ``source`` column says it is curated, except the duty schedules of the
markets that have no public tariff file in the repository: those are generated and say so
(``source = 'sample: generated, not a real tariff'``).

The functions return pandas DataFrames with exactly the contract columns of
:data:`orchestration.lib.schemas.RAW_TABLES` (dates as ``datetime.date``, NULL as ``None``/NaN).
They are cached: the bundled files never change while a process runs. Callers get copies.

Conventions shared by the policy tables:

- ``effective_to`` is exclusive (the first day the row no longer applies); NULL = open-ended.
- A period that the source gives as "since ever" (the ibericode ``0000-01-01`` base period,
  long-standing tariffs) starts on :data:`SINCE_EVER` (2000-01-01), well before any data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from orchestration.lib.schemas import RAW_TABLES

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference_data"
SINCE_EVER = dt.date(2000, 1, 1)

#: EU members among the Tradewinds markets (they apply the EU Common External Tariff).
EU_MARKETS: tuple[str, ...] = ("DE", "FR", "IT", "ES", "NL", "PL", "SE")
#: Markets without a public tariff file in the repo: their duty schedule is generated.
GENERATED_DUTY_MARKETS: tuple[str, ...] = ("US", "CA", "MX", "BR", "JP", "KR", "AU", "SG", "MY", "TH", "PH", "AE")

VAT_SOURCE = "ibericode/vat-rates"
CURATED_VAT_SOURCE = "curated: national tax authority published rate"
UKGT_SOURCE = "UK DIT UK Global Tariff 2021 (OGL v3.0): UKGT rate from 2021-01-01"
CET_GB_SOURCE = "UK DIT UK Global Tariff 2021 (OGL v3.0): EU CET rate applied in the UK until 2020-12-31"
CET_EU_SOURCE = "UK DIT UK Global Tariff 2021 (OGL v3.0): EU CET column (CET as of 2020, HS 2017)"
GENERATED_DUTY_SOURCE = "sample: generated, not a real tariff"
#: Separator between the source of a duty row and the parts of its rate the parser did not model.
NOT_MODELLED = "; not modelled: "


def _frame(table: str, rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame with exactly the contract columns of ``table`` in contract order."""
    cols = list(RAW_TABLES[table].columns)
    df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    for c in cols:
        if c not in df.columns:
            df[c] = None
    return df[cols].reset_index(drop=True)


def _d(s: str | None) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None


# --------------------------------------------------------------------------------- VAT


# Curated VAT/GST of the non-EU markets: (country, effective_from, standard, reduced, note).
# Dated changes are real: JP 8% -> 10% (2019-10-01), SG 7 -> 8 -> 9 (2023, 2024), MY GST -> SST (2018),
# AE VAT introduced 2018-01-01.
_CURATED_VAT: list[tuple[str, str, float, float | None, str]] = [
    ("US", "2000-01-01", 0.0, None, "no federal VAT; state and local sales tax (0-10%) is not modelled"),
    ("CA", "2008-01-01", 5.0, None, "federal GST only; provincial HST/PST/QST not modelled"),
    ("MX", "2010-01-01", 16.0, 0.0, "IVA general rate"),
    ("BR", "2000-01-01", 17.0, None, "ICMS approximation (17-20% by state); IPI, PIS and COFINS not modelled"),
    ("JP", "2014-04-01", 8.0, None, "consumption tax"),
    ("JP", "2019-10-01", 10.0, 8.0, "consumption tax; 8% reduced rate for food"),
    ("KR", "2000-01-01", 10.0, None, "VAT"),
    ("AU", "2000-07-01", 10.0, None, "GST"),
    ("SG", "2007-07-01", 7.0, None, "GST"),
    ("SG", "2023-01-01", 8.0, None, "GST"),
    ("SG", "2024-01-01", 9.0, None, "GST"),
    ("MY", "2015-04-01", 6.0, 0.0, "GST"),
    ("MY", "2018-06-01", 0.0, None, "GST zero-rated before its repeal (tax holiday)"),
    ("MY", "2018-09-01", 10.0, 5.0, "sales tax (SST) on goods, not a VAT"),
    ("TH", "2000-01-01", 7.0, None, "VAT (statutory 10% reduced to 7% by decree)"),
    ("PH", "2006-02-01", 12.0, None, "VAT"),
    ("AE", "2018-01-01", 5.0, None, "VAT introduced 2018-01-01"),
]


@lru_cache(maxsize=1)
def _vat_rates() -> pd.DataFrame:
    doc = json.loads((REFERENCE_DIR / "eu_vat_rates" / "vat-rates.json").read_text(encoding="utf-8"))
    rows: list[dict] = []
    for country, periods in sorted(doc["items"].items()):
        ordered = sorted(periods, key=lambda p: p["effective_from"])
        for i, period in enumerate(ordered):
            start = period["effective_from"]
            start_date = SINCE_EVER if start.startswith("0000") else dt.date.fromisoformat(start)
            nxt = ordered[i + 1]["effective_from"] if i + 1 < len(ordered) else None
            rates = period["rates"]
            rows.append(
                {
                    "country_code": country,
                    "effective_from": start_date,
                    "effective_to": _d(nxt),
                    "standard_rate_pct": float(rates["standard"]),
                    "reduced_rate_pct": _main_reduced_rate(rates),
                    "source": VAT_SOURCE,
                }
            )
    curated = sorted(_CURATED_VAT, key=lambda r: (r[0], r[1]))
    for i, (country, start, std, red, note) in enumerate(curated):
        nxt = curated[i + 1][1] if i + 1 < len(curated) and curated[i + 1][0] == country else None
        rows.append(
            {
                "country_code": country,
                "effective_from": dt.date.fromisoformat(start),
                "effective_to": _d(nxt),
                "standard_rate_pct": std,
                "reduced_rate_pct": red,
                "source": f"{CURATED_VAT_SOURCE} ({note})",
            }
        )
    return _frame("vat_rates", rows)


def _main_reduced_rate(rates: dict[str, float]) -> float | None:
    """The main reduced rate: ``reduced`` when given, else the highest of reduced1/reduced2.

    Why the highest: where a country has two reduced rates (PL 5/8, FR 5.5/10) the higher one
    covers the broad categories (restaurants, many goods); the lower one is for staples.
    """
    if "reduced" in rates:
        return float(rates["reduced"])
    numbered = [float(v) for k, v in rates.items() if re.fullmatch(r"reduced\d", k)]
    return max(numbered) if numbered else None


def vat_rates() -> pd.DataFrame:
    """Raw table ``vat_rates``: EU-27 + GB periods from ibericode/vat-rates plus curated non-EU rows.

    ``effective_to`` is the next period's ``effective_from`` (exclusive). The ibericode base
    period ``0000-01-01`` starts on 2000-01-01. US has a 0% row: US sales tax is a state and
    local tax charged at sale, not modelled here.
    """
    return _vat_rates().copy()


def vat_rate_on(country: str, day: dt.date) -> float:
    """Standard VAT/GST rate (%) of a country on a day (0 when the country has no row)."""
    df = _vat_rates()
    rows = df[(df.country_code == country) & (df.effective_from <= day)]
    rows = rows[rows.effective_to.isna() | rows.effective_to.map(lambda d: d is None or d > day)]
    return float(rows.standard_rate_pct.iloc[-1]) if len(rows) else 0.0


# --------------------------------------------------------------------------------- duty

_NUM = r"\d[\d,]*(?:\.\d+)?"
_UNIT_WORDS = {
    "kg": ("kg", 1.0),
    "tonne": ("kg", 1000.0),
    "hl": ("hl", 1.0),
    "item": ("item", 1.0),
    "items": ("item", 1.0),
    "m": ("m", 1.0),
    "m2": ("m2", 1.0),
    "l": ("l", 1.0),
}
# Weight qualifiers that do not change the measure a landed-cost calculation uses (kg).
_WEIGHT_BASIS = {"net", "gross", "br"}


@dataclass(frozen=True)
class ParsedRate:
    """A duty rate text split into the parts a landed-cost calculation can apply.

    ``dropped`` lists, verbatim, every part of the text that is not represented by the other
    fields (entry-price systems, agricultural components EA/ADSZ/ADFM, MIN/MAX clauses, other
    seasonal periods, extra specific components). Empty means the parse is complete.
    """

    ad_valorem_pct: float | None = None
    specific_amount: float | None = None
    specific_currency: str | None = None
    specific_per: float | None = None
    specific_unit: str | None = None
    dropped: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str:
        """'ad_valorem', 'specific', 'compound' or 'other' (nothing applicable was found)."""
        av, sp = self.ad_valorem_pct is not None, self.specific_amount is not None
        return "compound" if av and sp else "ad_valorem" if av else "specific" if sp else "other"

    @property
    def complete(self) -> bool:
        return not self.dropped


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def _normalise_rate_text(text: str) -> str:
    t = (text or "").replace("\xa0", " ").replace("€", " EUR ").replace("£", " GBP ")
    t = re.sub(r"\s*/\s*", " / ", t)
    return re.sub(r"\s+", " ", t).strip()


_SPECIFIC = re.compile(rf"^({_NUM})\s*(EUR|GBP|USD)\s*/\s*(.+)$", re.IGNORECASE)


def _parse_specific(comp: str) -> tuple[float, str, float, str, str | None] | None:
    """'41.20 EUR / 100 kg / net' -> (41.2, 'EUR', 100.0, 'kg', "basis 'net'") or None."""
    m = _SPECIFIC.match(comp)
    if not m:
        return None
    amount, currency, measure = _num(m.group(1)), m.group(2).upper(), m.group(3).strip()
    parts = [p.strip() for p in measure.split(" / ") if p.strip()]
    head, qualifiers = parts[0], parts[1:]
    if head.startswith("%"):  # '% vol / hl': per percent of alcohol by volume per hectolitre
        unit = "% vol " + " ".join(qualifiers) if head.replace(" ", "") == "%vol" else head + " " + " ".join(qualifiers)
        return amount, currency, 1.0, unit.strip(), None
    hm = re.match(rf"^({_NUM})?\s*([A-Za-z][A-Za-z0-9]*)\s*(.*)$", head)
    if not hm:
        return None
    per = _num(hm.group(1)) if hm.group(1) else 1.0
    word, extra = hm.group(2).lower(), hm.group(3).strip()
    if word not in _UNIT_WORDS:
        return None
    unit, factor = _UNIT_WORDS[word]
    quals = ([extra] if extra else []) + qualifiers
    note = None
    if quals:
        q = " ".join(quals).strip()
        if unit == "kg" and q.lower() in _WEIGHT_BASIS:
            note = f"weight basis '{q}'"
        else:
            unit = f"{unit} {q}"  # a different measure (lactic matter, % sacchar., drained weight...)
    return amount, currency, per * factor, unit, note


def _parse_simple(text: str) -> ParsedRate:
    """One rate without seasonal periods."""
    dropped: list[str] = []
    main = text
    m = re.search(r"\b(MIN|MAX)\b", text)
    if m:
        main, clause = text[: m.start()].strip(), text[m.start() :].strip()
        dropped.append(clause)
    av: float | None = None
    specifics: list[tuple[float, str, float, str, str | None]] = []
    for comp in [c.strip() for c in main.split("+")]:
        if not comp:
            continue
        if mm := re.fullmatch(rf"({_NUM})\s*%", comp):
            if av is None:
                av = _num(mm.group(1))
            else:
                dropped.append(comp)
        elif re.fullmatch(_NUM, comp):
            # Published without '%' in a few rows ("6.4 + 24.6 EUR/100 kg"): the bare number is ad valorem.
            if av is None:
                av = _num(comp)
            else:
                dropped.append(comp)
        elif (sp := _parse_specific(comp)) is not None:
            specifics.append(sp)
        else:
            dropped.append(comp)  # 'EA', 'ADSZ', 'ADFM', 'Entry Price', anything unknown
    chosen = None
    if specifics:
        # Prefer a plain per-kg component (what a landed-cost calculation can apply) over e.g. per lactic matter.
        plain = [s for s in specifics if s[3] == "kg"]
        chosen = plain[0] if plain else specifics[0]
        for s in specifics:
            if s is not chosen:
                dropped.append(f"{s[0]:g} {s[1]} / {s[2]:g} {s[3]}")
        if chosen[4]:
            dropped.append(chosen[4])
    return ParsedRate(
        ad_valorem_pct=av,
        specific_amount=chosen[0] if chosen else None,
        specific_currency=chosen[1] if chosen else None,
        specific_per=chosen[2] if chosen else None,
        specific_unit=chosen[3] if chosen else None,
        dropped=tuple(dropped),
    )


_MONTHS = r"JAN|FEB|MAR|APR|MAY|JUNE?|JULY?|AUG|SEP|OCT|NOV|DEC"
_PERIOD = re.compile(rf"\(([^)]*(?:{_MONTHS})[^)]*)\)", re.IGNORECASE)


def parse_duty_rate(text: str) -> ParsedRate:
    """Parse a published duty rate text ('12.0%', '41.20 EUR / 100 kg', '8.0% + 12 GBP/100kg', ...).

    Never raises. Handles the formats of the UK Global Tariff 2021 file:

    - ad valorem ``12.0%`` (also a bare ``6.4`` in compound rates);
    - specific ``41.20 EUR / 100 kg``, ``34.00 GBP/100kg``, ``114.00 EUR / tonne`` (-> per 1000 kg),
      ``52.00 EUR / 1,000 items``, ``10.00 GBP / hl``, ``1.75 EUR / % vol / hl``, ``€``/``£`` signs;
    - compound ``10.20% + 93.10 EUR / 100 kg``;
    - anything else keeps its ad valorem (and main specific) part and lists the rest in ``dropped``:
      ``MIN``/``MAX`` clauses, agricultural components (``EA``, ``ADSZ``, ``ADFM``), ``Entry Price``
      (no applicable part at all: kind 'other'), a second specific component;
    - seasonal rates ``15.00% (01 JAN-14 FEB, ...), 0.00% (15 FEB-15 JUN)`` keep the highest
      ad valorem period (conservative for a landed-cost estimate) and drop the others.
    """
    try:
        t = _normalise_rate_text(text)
        if not t:
            return ParsedRate(dropped=("empty rate text",))
        if _PERIOD.search(t):
            segments = [s.strip(" ,") for s in re.split(r"\)\s*,\s*", t) if s.strip(" ,")]
            parsed = []
            for seg in segments:
                pm = _PERIOD.search(seg + (")" if "(" in seg and not seg.endswith(")") else ""))
                period = pm.group(1).strip() if pm else "rest of year"
                body = seg.split("(")[0].strip()
                parsed.append((period, body, _parse_simple(body)))
            best = max(parsed, key=lambda p: -1.0 if p[2].ad_valorem_pct is None else p[2].ad_valorem_pct)
            dropped = [f"seasonal: applies {best[0]}"] + [
                f"{body} ({period})" for period, body, _ in parsed if body is not best[1]
            ]
            r = best[2]
            return ParsedRate(
                r.ad_valorem_pct,
                r.specific_amount,
                r.specific_currency,
                r.specific_per,
                r.specific_unit,
                tuple(dropped) + r.dropped,
            )
        return _parse_simple(t)
    except Exception as exc:  # never crash on a rate text: record why instead
        return ParsedRate(dropped=(f"unparsed ({type(exc).__name__}): {text!r}",))


def pad_commodity_code(code: str) -> str:
    """Restore leading zeros lost in the UK tariff CSV: 7 digits -> 8, 9 digits -> 10."""
    code = str(code).strip()
    if len(code) in (7, 9):
        return "0" + code
    return code


@lru_cache(maxsize=1)
def _ukgt() -> pd.DataFrame:
    df = pd.read_csv(
        REFERENCE_DIR / "uk_global_tariff_2021" / "ukgt_vs_eu_cet_2021.csv", dtype=str, keep_default_na=False
    )
    df["commodity_code"] = df["commodity"].map(pad_commodity_code)
    df["hs6"] = df["commodity_code"].str[:6]
    return df


def _duty_rows(
    df: pd.DataFrame, rate_col: str, country: str, start: dt.date, end: dt.date | None, source: str
) -> pd.DataFrame:
    texts = df[rate_col].str.replace("\xa0", " ", regex=False).str.strip()
    cache = {t: parse_duty_rate(t) for t in texts.unique()}
    parsed = texts.map(cache)
    out = pd.DataFrame(
        {
            "destination_country": country,
            "commodity_code": df["commodity_code"].to_numpy(),
            "hs6": df["hs6"].to_numpy(),
            "description": df["description"].to_numpy(),
            "rate_text": texts.to_numpy(),
            "ad_valorem_pct": parsed.map(lambda p: p.ad_valorem_pct).astype("float64").to_numpy(),
            "specific_amount": parsed.map(lambda p: p.specific_amount).astype("float64").to_numpy(),
            "specific_currency": parsed.map(lambda p: p.specific_currency).to_numpy(),
            "specific_per": parsed.map(lambda p: p.specific_per).astype("float64").to_numpy(),
            "specific_unit": parsed.map(lambda p: p.specific_unit).to_numpy(),
            "effective_from": start,
            "effective_to": end,
            "source": parsed.map(
                lambda p: source + (NOT_MODELLED + " | ".join(p.dropped) if p.dropped else "")
            ).to_numpy(),
        }
    )
    return out


# Generated MFN schedule for markets without a public tariff file: base ad valorem % by HS chapter
# group, loosely shaped like each country's real schedule (apparel and footwear protected, electronics
# mostly free, SG duty-free, AE the 5% GCC common external tariff). NOT real tariff lines.
_CHAPTER_GROUPS: dict[str, tuple[int, ...]] = {
    "apparel": (61, 62, 63),
    "footwear": (64,),
    "leather": (42,),
    "cosmetics": (33, 34),
    "plastics": (39,),
    "ceramics": (69,),
    "metal": (73, 76, 82, 83),
    "machinery": (84,),
    "electrical": (85,),
    "vehicles": (87,),
    "optics": (90,),
    "furniture": (94,),
    "toys": (95,),
    "misc": (96,),
    "food": (23,),
}
_MFN_BASE: dict[str, dict[str, float]] = {
    "US": {"apparel": 16, "footwear": 12, "leather": 8, "cosmetics": 2, "plastics": 4, "ceramics": 6, "metal": 3, "machinery": 1.5, "electrical": 2, "vehicles": 2.5, "optics": 2, "furniture": 0, "toys": 0, "misc": 3, "food": 1},
    "CA": {"apparel": 18, "footwear": 16, "leather": 8, "cosmetics": 5, "plastics": 6, "ceramics": 7, "metal": 5, "machinery": 2, "electrical": 3, "vehicles": 6, "optics": 2, "furniture": 8, "toys": 0, "misc": 5, "food": 2},
    "MX": {"apparel": 30, "footwear": 30, "leather": 20, "cosmetics": 10, "plastics": 10, "ceramics": 15, "metal": 10, "machinery": 5, "electrical": 8, "vehicles": 15, "optics": 5, "furniture": 15, "toys": 15, "misc": 15, "food": 10},
    "BR": {"apparel": 35, "footwear": 35, "leather": 25, "cosmetics": 16, "plastics": 16, "ceramics": 18, "metal": 14, "machinery": 12, "electrical": 16, "vehicles": 18, "optics": 14, "furniture": 18, "toys": 20, "misc": 18, "food": 8},
    "JP": {"apparel": 9, "footwear": 24, "leather": 10, "cosmetics": 0, "plastics": 3, "ceramics": 2, "metal": 0, "machinery": 0, "electrical": 0, "vehicles": 0, "optics": 0, "furniture": 0, "toys": 0, "misc": 3, "food": 3},
    "KR": {"apparel": 13, "footwear": 13, "leather": 8, "cosmetics": 6.5, "plastics": 6.5, "ceramics": 8, "metal": 8, "machinery": 6, "electrical": 6, "vehicles": 8, "optics": 8, "furniture": 8, "toys": 8, "misc": 8, "food": 5},
    "AU": {"apparel": 5, "footwear": 5, "leather": 5, "cosmetics": 5, "plastics": 5, "ceramics": 5, "metal": 5, "machinery": 3, "electrical": 2, "vehicles": 5, "optics": 0, "furniture": 5, "toys": 0, "misc": 5, "food": 0},
    "SG": {g: 0.0 for g in _CHAPTER_GROUPS},
    "MY": {"apparel": 10, "footwear": 20, "leather": 10, "cosmetics": 5, "plastics": 15, "ceramics": 20, "metal": 10, "machinery": 0, "electrical": 5, "vehicles": 10, "optics": 0, "furniture": 20, "toys": 5, "misc": 10, "food": 5},
    "TH": {"apparel": 30, "footwear": 30, "leather": 20, "cosmetics": 20, "plastics": 10, "ceramics": 20, "metal": 10, "machinery": 5, "electrical": 10, "vehicles": 20, "optics": 5, "furniture": 20, "toys": 10, "misc": 20, "food": 9},
    "PH": {"apparel": 15, "footwear": 15, "leather": 10, "cosmetics": 10, "plastics": 10, "ceramics": 10, "metal": 7, "machinery": 3, "electrical": 5, "vehicles": 10, "optics": 3, "furniture": 15, "toys": 10, "misc": 10, "food": 5},
    "AE": {g: 5.0 for g in _CHAPTER_GROUPS},
}  # fmt: skip


# Schedules with one rate for (nearly) all goods: SG is duty-free, the GCC common external tariff is 5%.
_FLAT_SCHEDULES = {"SG", "AE"}


def _chapter_group(hs6: str) -> str:
    ch = int(hs6[:2])
    for group, chapters in _CHAPTER_GROUPS.items():
        if ch in chapters:
            return group
    return "misc"


def _stable_unit(*parts: str) -> float:
    """A uniform number in [0, 1) from strings, stable across processes (no salted hash())."""
    import hashlib

    h = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2**64


def generated_mfn_rate(country: str, hs6: str) -> float:
    """The generated (not real) MFN ad valorem rate of a market for an HS subheading, in %."""
    base = _MFN_BASE[country][_chapter_group(hs6)]
    if base == 0 or country in _FLAT_SCHEDULES:
        return float(base)
    u = _stable_unit("mfn", country, hs6)
    rate = base * (0.6 + 0.8 * u)
    if u < 0.08:  # some lines are duty-free in every schedule
        return 0.0
    return round(rate * 2) / 2


@lru_cache(maxsize=1)
def _duty_rates() -> pd.DataFrame:
    uk = _ukgt()
    frames = [
        _duty_rows(uk, "cet_duty_rate", "GB", SINCE_EVER, dt.date(2021, 1, 1), CET_GB_SOURCE),
        _duty_rows(uk, "ukgt_duty_rate", "GB", dt.date(2021, 1, 1), None, UKGT_SOURCE),
    ]
    eu = _duty_rows(uk, "cet_duty_rate", "XX", SINCE_EVER, None, CET_EU_SOURCE)
    for country in EU_MARKETS:
        frames.append(eu.assign(destination_country=country))
    from orchestration.lib.sample.products import catalog_hs6  # local import: the sample package imports this module

    hs = hs_codes().set_index("hs6")
    gen_rows = []
    for country in GENERATED_DUTY_MARKETS:
        for code in catalog_hs6():
            rate = generated_mfn_rate(country, code)
            gen_rows.append(
                {
                    "destination_country": country,
                    "commodity_code": code + "00",
                    "hs6": code,
                    "description": hs.description.get(code, ""),
                    "rate_text": f"{rate:.1f}%",
                    "ad_valorem_pct": rate,
                    "effective_from": SINCE_EVER,
                    "effective_to": None,
                    "source": GENERATED_DUTY_SOURCE,
                }
            )
    frames.append(_frame("duty_rates", gen_rows))
    return _frame("duty_rates", pd.concat(frames, ignore_index=True))


def duty_rates() -> pd.DataFrame:
    """Raw table ``duty_rates``.

    - GB: the EU CET rate from 2000-01-01 to 2021-01-01 (exclusive), then the UK Global Tariff.
    - DE FR IT ES NL PL SE: the EU CET rate (as of 2020, from the same file) from 2000-01-01, open-ended.
    - The other markets: a generated per-chapter MFN schedule for the HS subheadings the sample
      catalog uses (``source = 'sample: generated, not a real tariff'``).

    Commodity codes are zero-padded (7 -> 8 digits, 9 -> 10). Rate texts are parsed with
    :func:`parse_duty_rate`; parts not represented in the numeric columns are appended to
    ``source`` after ``'; not modelled: '`` (joined with ``' | '``).
    """
    return _duty_rates().copy()


# --------------------------------------------------------------------------------- HS codes


@lru_cache(maxsize=1)
def _hs_codes() -> pd.DataFrame:
    folder = REFERENCE_DIR / "hs_codes"
    hs = pd.read_csv(folder / "harmonized-system.csv", dtype=str, keep_default_na=False)
    sections = pd.read_csv(folder / "sections.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    six = hs[hs["level"] == "6"].rename(columns={"hscode": "hs6"})
    six = six.merge(sections.rename(columns={"name": "section_name"}), on="section", how="left")
    six["chapter"] = six["hs6"].str[:2]
    six["heading"] = six["hs6"].str[:4]
    return six[["hs6", "description", "section", "section_name", "chapter", "heading"]].reset_index(drop=True)


def hs_codes() -> pd.DataFrame:
    """HS 2022 subheadings (6 digits, zero-padded) with description, section, chapter and heading."""
    return _hs_codes().copy()


# --------------------------------------------------------------------------------- emission factors

#: One short ton-mile (US ton, statute mile) in tonne-km.
TONNE_KM_PER_TON_MILE = 0.90718474 * 1.609344


@lru_cache(maxsize=1)
def _emission_factors() -> pd.DataFrame:
    df = pd.read_csv(
        REFERENCE_DIR / "freight_emission_factors" / "freight_emission_factors.csv", dtype=str, keep_default_na=False
    )
    df = df.replace({"not-supplied": None, "": None})
    ar5 = pd.to_numeric(df["kgCO2e-AR5"], errors="coerce")
    ar4 = pd.to_numeric(df["kgCO2e-AR4"], errors="coerce")
    df["value"] = ar5.where(ar5.notna(), ar4)
    df = df[df["value"].notna() & df["activity_unit"].isin(["tonne-km", "ton-mile"])].copy()
    per_mile = df["activity_unit"] == "ton-mile"
    df.loc[per_mile, "value"] = df.loc[per_mile, "value"] / TONNE_KM_PER_TON_MILE
    df["activity_unit"] = "tonne-km"
    # The Climatiq activity_id is shared by publishers, regions and life-cycle stages; the contract
    # key must be unique, so the id carries them (unique in the file, checked in the tests).
    df["key"] = (
        df["activity_id"]
        + "/"
        + df["source"].fillna("")
        + "/"
        + df["region"].fillna("")
        + "/"
        + df["year_released"].fillna("")
        + "/"
        + df["lca_activity"].fillna("")
    )
    out = pd.DataFrame(
        {
            "activity_id": df["key"],
            "category": df["category"],
            "name": df["name"],
            "activity_unit": df["activity_unit"],
            "kg_co2e_per_unit": df["value"].astype(float),
            "lca_activity": df["lca_activity"],
            "source": df["source"],
            "year_released": pd.to_numeric(df["year_released"], errors="coerce").astype("Int64"),
            "region": df["region"],
        }
    )
    return _frame("emission_factors", out)


def emission_factors() -> pd.DataFrame:
    """Raw table ``emission_factors``: freight factors per tonne-km (Climatiq OEFDB subset).

    ``not-supplied`` -> NULL; the value is the AR5 figure when present, else AR4 (BEIS rows);
    rows with neither are dropped; ton-mile factors are converted to tonne-km. ``activity_id``
    is ``<climatiq activity_id>/<source>/<region>/<year>/<lca_activity>`` so that it is unique.
    """
    return _emission_factors().copy()


# --------------------------------------------------------------------------------- CBAM

_CBAM_SOURCE = (
    "curated: Regulation (EU) 2023/956 Annex I (CBAM goods); default_kg_co2e_per_kg is an approximate "
    "order-of-magnitude direct-emission intensity for sample calculations, not the Commission's official default value"
)
# (hs_prefix, sector, approximate kg CO2e per kg of product or None when not per kg)
_CBAM: list[tuple[str, str, float | None]] = [
    ("2507", "cement (kaolinic clays)", 0.3),
    ("2523", "cement", 0.75),
    ("2716", "electricity (per MWh, not per kg)", None),
    ("2804", "hydrogen (2804 10 00)", 10.0),
    ("2808", "fertilisers (nitric acid)", 1.5),
    ("2814", "fertilisers (ammonia)", 2.4),
    ("283421", "fertilisers (potassium nitrate)", 1.2),
    ("3102", "fertilisers (nitrogenous)", 1.9),
    ("3105", "fertilisers (mixed)", 1.5),
    ("2601", "iron and steel (agglomerated iron ores 2601 12)", 0.2),
    ("72", "iron and steel", 2.0),
    ("7301", "iron and steel articles", 2.2),
    ("7302", "iron and steel articles", 2.2),
    ("7303", "iron and steel articles", 2.3),
    ("7304", "iron and steel articles", 2.4),
    ("7305", "iron and steel articles", 2.3),
    ("7306", "iron and steel articles", 2.3),
    ("7307", "iron and steel articles", 2.5),
    ("7308", "iron and steel articles", 2.4),
    ("7309", "iron and steel articles", 2.4),
    ("7310", "iron and steel articles", 2.4),
    ("7311", "iron and steel articles", 2.4),
    ("7318", "iron and steel articles (screws, bolts, nuts)", 2.4),
    ("7326", "iron and steel articles (other)", 2.5),
    ("7601", "aluminium", 1.8),
    ("7603", "aluminium articles", 1.9),
    ("7604", "aluminium articles", 2.0),
    ("7605", "aluminium articles", 2.0),
    ("7606", "aluminium articles", 2.0),
    ("7607", "aluminium articles", 2.1),
    ("7608", "aluminium articles", 2.0),
    ("7609", "aluminium articles", 2.0),
    ("7610", "aluminium articles", 2.1),
    ("7611", "aluminium articles", 2.1),
    ("7612", "aluminium articles", 2.1),
    ("7613", "aluminium articles", 2.1),
    ("7614", "aluminium articles", 2.0),
    ("7616", "aluminium articles (other)", 2.2),
]


def cbam_scope() -> pd.DataFrame:
    """Raw table ``cbam_scope``: HS prefixes of the EU CBAM (Annex I), with an approximate intensity.

    Follows Annex I rather than whole chapters: chapter 73 is in scope only for 7301-7311, 7318
    and 7326 (household articles of 7323 are not), aluminium for 7601, 7603-7614 and 7616 (not
    the kitchenware of 7615), fertilisers for 2808, 2814, 2834 21, 3102 and 3105 (not all of 31).
    """
    return _frame(
        "cbam_scope",
        [{"hs_prefix": p, "sector": s, "default_kg_co2e_per_kg": v, "source": _CBAM_SOURCE} for p, s, v in _CBAM],
    )


# --------------------------------------------------------------------------------- de minimis and DST

_DM = "curated: "
# (country, applies_to, threshold, currency, from, to, source)
_DE_MINIMIS: list[tuple[str, str, float, str, str, str | None, str]] = []
for _c in EU_MARKETS:
    _DE_MINIMIS += [
        (_c, "duty", 150.0, "EUR", "2010-01-01", None, _DM + "Council Regulation (EC) No 1186/2009 art. 23 (customs duty relief for consignments of negligible value)"),
        (_c, "vat", 22.0, "EUR", "2010-01-01", "2021-07-01", _DM + "Directive 2009/132/EC low-value consignment relief (EUR 10-22 by member state; EUR 22 used)"),
        (_c, "vat", 0.0, "EUR", "2021-07-01", None, _DM + "EU VAT e-commerce package (Directive 2017/2455): VAT due on all imports from 2021-07-01, IOSS up to EUR 150"),
    ]  # fmt: skip
_DE_MINIMIS += [
    ("GB", "duty", 135.0, "GBP", "2010-01-01", None, _DM + "HMRC: no customs duty on goods of GBP 135 or less (EUR 150 under EU rules before 2021)"),
    ("GB", "vat", 15.0, "GBP", "2010-01-01", "2021-01-01", _DM + "HMRC low value consignment relief (GBP 15), abolished 2021-01-01"),
    ("GB", "vat", 0.0, "GBP", "2021-01-01", None, _DM + "HMRC: VAT charged at the point of sale on consignments up to GBP 135 from 2021-01-01"),
    ("US", "duty", 200.0, "USD", "2000-01-01", "2016-03-10", _DM + "19 U.S.C. 1321 administrative exemption (USD 200)"),
    ("US", "duty", 800.0, "USD", "2016-03-10", "2025-08-29", _DM + "Trade Facilitation and Trade Enforcement Act 2015 raised 19 U.S.C. 1321 to USD 800; ended for China/HK goods 2025-05-02 (not modelled by origin)"),
    ("US", "duty", 0.0, "USD", "2025-08-29", None, _DM + "Executive Order 14324: duty-free de minimis treatment suspended for all countries from 2025-08-29"),
    ("CA", "duty", 20.0, "CAD", "2000-01-01", "2020-07-01", _DM + "CBSA courier low value shipment threshold CAD 20"),
    ("CA", "vat", 20.0, "CAD", "2000-01-01", "2020-07-01", _DM + "CBSA courier low value shipment threshold CAD 20"),
    ("CA", "duty", 150.0, "CAD", "2020-07-01", None, _DM + "CUSMA: duty-free up to CAD 150 for courier shipments (CUSMA-originating goods; applied to all here)"),
    ("CA", "vat", 40.0, "CAD", "2020-07-01", None, _DM + "CUSMA: taxes waived up to CAD 40 for courier shipments"),
    ("MX", "duty", 50.0, "USD", "2000-01-01", "2025-01-01", _DM + "Mexico courier de minimis USD 50 (USD 117 for CUSMA goods, not modelled)"),
    ("MX", "duty", 0.0, "USD", "2025-01-01", None, _DM + "Mexico: 19% flat rate on courier imports from non-FTA countries from 2025-01-01 (approximation: no de minimis)"),
    ("MX", "vat", 50.0, "USD", "2000-01-01", "2025-01-01", _DM + "Mexico courier de minimis USD 50"),
    ("MX", "vat", 0.0, "USD", "2025-01-01", None, _DM + "Mexico: IVA on courier imports from non-FTA countries from 2025-01-01"),
    ("BR", "duty", 0.0, "USD", "2000-01-01", "2023-08-01", _DM + "Brazil: USD 50 exemption applied only between individuals (not to sellers)"),
    ("BR", "duty", 50.0, "USD", "2023-08-01", "2024-08-01", _DM + "Brazil Remessa Conforme: 0% import tax up to USD 50 via certified platforms"),
    ("BR", "duty", 0.0, "USD", "2024-08-01", None, _DM + "Brazil Law 14,902/2024: 20% import tax on purchases up to USD 50 from 2024-08-01"),
    ("BR", "vat", 0.0, "USD", "2000-01-01", None, _DM + "Brazil: ICMS due on all imports (17% under Remessa Conforme)"),
    ("JP", "duty", 10000.0, "JPY", "2000-01-01", None, _DM + "Japan Customs: duty and consumption tax exempt when taxable value is JPY 10,000 or less (with exceptions)"),
    ("JP", "vat", 10000.0, "JPY", "2000-01-01", None, _DM + "Japan Customs: duty and consumption tax exempt when taxable value is JPY 10,000 or less (with exceptions)"),
    ("KR", "duty", 150.0, "USD", "2000-01-01", None, _DM + "Korea Customs Service: list clearance up to USD 150 (USD 200 from the US, not modelled)"),
    ("KR", "vat", 150.0, "USD", "2000-01-01", None, _DM + "Korea Customs Service: list clearance up to USD 150"),
    ("AU", "duty", 1000.0, "AUD", "2000-01-01", None, _DM + "Australian Border Force: no duty on goods of AUD 1,000 or less"),
    ("AU", "vat", 1000.0, "AUD", "2000-01-01", "2018-07-01", _DM + "Australia: GST low value threshold AUD 1,000"),
    ("AU", "vat", 0.0, "AUD", "2018-07-01", None, _DM + "Australia: GST on low value imported goods collected by vendors from 2018-07-01"),
    ("SG", "vat", 400.0, "SGD", "2000-01-01", "2023-01-01", _DM + "Singapore Customs: GST import relief SGD 400"),
    ("SG", "vat", 0.0, "SGD", "2023-01-01", None, _DM + "IRAS: GST on low-value goods via the Overseas Vendor Registration regime from 2023-01-01"),
    ("MY", "duty", 500.0, "MYR", "2000-01-01", None, _DM + "Royal Malaysian Customs: duty exemption for goods of MYR 500 or less"),
    ("MY", "vat", 500.0, "MYR", "2000-01-01", "2024-01-01", _DM + "Royal Malaysian Customs: tax exemption for goods of MYR 500 or less"),
    ("MY", "vat", 0.0, "MYR", "2024-01-01", None, _DM + "Malaysia: 10% sales tax on low value goods (LVG) from 2024-01-01"),
    ("TH", "duty", 1500.0, "THB", "2000-01-01", None, _DM + "Thai Customs: duty exemption for consignments of THB 1,500 or less"),
    ("TH", "vat", 1500.0, "THB", "2000-01-01", "2024-07-05", _DM + "Thai Customs: VAT exemption for consignments of THB 1,500 or less"),
    ("TH", "vat", 0.0, "THB", "2024-07-05", None, _DM + "Thailand: VAT collected on low-value imports from 2024-07-05"),
    ("PH", "duty", 10000.0, "PHP", "2016-05-30", None, _DM + "Philippines CMTA (RA 10863) de minimis PHP 10,000"),
    ("PH", "vat", 10000.0, "PHP", "2016-05-30", None, _DM + "Philippines CMTA (RA 10863) de minimis PHP 10,000"),
    ("AE", "duty", 1000.0, "AED", "2000-01-01", None, _DM + "GCC Common Customs Law: duty exemption for consignments of AED 1,000 or less"),
    ("AE", "vat", 0.0, "AED", "2018-01-01", None, _DM + "UAE: import VAT due on all goods"),
]  # fmt: skip


def de_minimis() -> pd.DataFrame:
    """Raw table ``de_minimis``: curated published thresholds (duty and VAT) with their dated changes."""
    rows = [
        {
            "country_code": c,
            "applies_to": a,
            "threshold_amount": amt,
            "currency": cur,
            "effective_from": _d(f),
            "effective_to": _d(t),
            "source": s,
        }
        for c, a, amt, cur, f, t, s in _DE_MINIMIS
    ]
    return _frame("de_minimis", rows)


_DST: list[tuple[str, float, str, str, str | None, str]] = [
    ("FR", 3.0, "digital interface (marketplace) and targeted advertising revenue; groups > EUR 750m worldwide and EUR 25m in FR; marketplaces pass it on as a fee surcharge", "2019-01-01", None, "curated: Loi 2019-759 (taxe sur les services numeriques), retroactive to 2019-01-01"),
    ("IT", 3.0, "digital interface and advertising revenue; groups > EUR 750m worldwide (EUR 5.5m in IT until 2024)", "2020-01-01", None, "curated: Legge 145/2018 art. 1 c. 35-50 (imposta sui servizi digitali)"),
    ("ES", 3.0, "online intermediation and advertising revenue; groups > EUR 750m worldwide and EUR 3m in ES", "2021-01-16", None, "curated: Ley 4/2020 (impuesto sobre determinados servicios digitales)"),
    ("GB", 2.0, "search engines, social media and online marketplaces revenue from UK users; groups > GBP 500m worldwide", "2020-04-01", None, "curated: Finance Act 2020 Part 2 (Digital Services Tax)"),
    ("CA", 3.0, "online marketplace, advertising and user-data revenue; groups > EUR 750m; rescinded 2025-06-29 before the first payment", "2022-01-01", "2025-06-29", "curated: Digital Services Tax Act (2024), rescission announced 2025-06-29"),
]  # fmt: skip


def digital_services_taxes() -> pd.DataFrame:
    """Raw table ``digital_services_taxes``: curated DSTs of our markets (none in PL, the rest)."""
    rows = [
        {"country_code": c, "rate_pct": r, "scope": sc, "effective_from": _d(f), "effective_to": _d(t), "source": s}
        for c, r, sc, f, t, s in _DST
    ]
    return _frame("digital_services_taxes", rows)


def reference_table(name: str) -> pd.DataFrame:
    """The snapshot reference table of that name (vat_rates, duty_rates, ...)."""
    tables = {
        "vat_rates": vat_rates,
        "duty_rates": duty_rates,
        "de_minimis": de_minimis,
        "digital_services_taxes": digital_services_taxes,
        "emission_factors": emission_factors,
        "cbam_scope": cbam_scope,
    }
    if name not in tables:
        raise KeyError(f"{name} is not a bundled reference table; choose one of {sorted(tables)}")
    return tables[name]()


__all__ = [
    "ParsedRate",
    "cbam_scope",
    "de_minimis",
    "digital_services_taxes",
    "duty_rates",
    "emission_factors",
    "generated_mfn_rate",
    "hs_codes",
    "pad_commodity_code",
    "parse_duty_rate",
    "reference_table",
    "vat_rate_on",
    "vat_rates",
]
