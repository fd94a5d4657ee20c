"""Parsers of the bundled reference data: duty rates, VAT periods, emission factors, curated tables."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from orchestration.lib import reference as ref
from orchestration.lib.sample.markets import market_codes
from orchestration.lib.sample.products import catalog_hs6
from orchestration.lib.schemas import RAW_TABLES

UKGT_CSV = ref.REFERENCE_DIR / "uk_global_tariff_2021" / "ukgt_vs_eu_cet_2021.csv"
EF_CSV = ref.REFERENCE_DIR / "freight_emission_factors" / "freight_emission_factors.csv"


@pytest.fixture(scope="module")
def ukgt_texts() -> set[str]:
    raw = pd.read_csv(UKGT_CSV, dtype=str, keep_default_na=False)
    return set(raw.cet_duty_rate) | set(raw.ukgt_duty_rate)


@pytest.fixture(scope="module")
def duty() -> pd.DataFrame:
    return ref.duty_rates()


# ------------------------------------------------------------------ parse_duty_rate


@pytest.mark.parametrize(
    ("text", "av", "amount", "currency", "per", "unit"),
    [
        ("12.0%", 12.0, None, None, None, None),
        ("0.0%", 0.0, None, None, None, None),
        ("41.20 EUR / 100 kg", None, 41.2, "EUR", 100.0, "kg"),
        ("34.00 GBP/100kg", None, 34.0, "GBP", 100.0, "kg"),
        ("10.20% + 93.10 EUR / 100 kg", 10.2, 93.1, "EUR", 100.0, "kg"),
        ("10.00% + 77.00 GBP/100kg", 10.0, 77.0, "GBP", 100.0, "kg"),
        ("1,024.00 EUR / tonne", None, 1024.0, "EUR", 1000.0, "kg"),
        ("52.00 EUR / 1,000 items", None, 52.0, "EUR", 1000.0, "item"),
        ("10.00 GBP / hl", None, 10.0, "GBP", 1.0, "hl"),
        ("6.4 + 24.6 EUR/100 kg", 6.4, 24.6, "EUR", 100.0, "kg"),
    ],
)
def test_parse_duty_rate_real_formats(ukgt_texts, text, av, amount, currency, per, unit):
    assert text in ukgt_texts, "the case must be a rate text that occurs in the bundled tariff file"
    p = ref.parse_duty_rate(text)
    assert (p.ad_valorem_pct, p.specific_amount, p.specific_currency, p.specific_per, p.specific_unit) == (
        av,
        amount,
        currency,
        per,
        unit,
    )
    assert p.complete
    assert p.kind == (
        "compound" if av is not None and amount is not None else "ad_valorem" if av is not None else "specific"
    )


def test_parse_duty_rate_keeps_ad_valorem_and_records_what_it_drops(ukgt_texts):
    text = "9.00% +  EA MAX 18.70%  + ADSZ"
    assert text in ukgt_texts
    p = ref.parse_duty_rate(text)
    assert p.ad_valorem_pct == 9.0 and p.specific_amount is None
    assert "EA" in p.dropped and any("MAX 18.70%" in d for d in p.dropped)

    entry = ref.parse_duty_rate("Entry Price")
    assert entry.kind == "other" and entry.dropped == ("Entry Price",)

    minmax = ref.parse_duty_rate("0.50 EUR / item MIN 2.70% MAX 4.60%")
    assert (minmax.specific_amount, minmax.specific_unit, minmax.ad_valorem_pct) == (0.5, "item", None)
    assert minmax.dropped == ("MIN 2.70% MAX 4.60%",)


def test_parse_duty_rate_seasonal_and_symbols(ukgt_texts):
    seasonal = "15.00% (01 JAN-14 FEB, 16 JUN-31 DEC), 0.00% (15 FEB-15 JUN)"
    assert seasonal in ukgt_texts
    p = ref.parse_duty_rate(seasonal)
    assert p.ad_valorem_pct == 15.0 and any("0.00% (15 FEB-15 JUN)" in d for d in p.dropped)
    euro = next(t for t in ukgt_texts if "€" in t)
    assert ref.parse_duty_rate(euro).ad_valorem_pct is not None


@pytest.mark.parametrize("text", ["", "n/a", "12,5 %%", "EUR / kg", "+ + +", "MAX", "(01 JAN-31 DEC)", None])
def test_parse_duty_rate_never_raises(text):
    p = ref.parse_duty_rate(text)  # type: ignore[arg-type]
    assert isinstance(p, ref.ParsedRate)


def test_every_rate_text_of_the_file_parses(ukgt_texts):
    for text in ukgt_texts:
        p = ref.parse_duty_rate(text)
        assert not any(d.startswith("unparsed") for d in p.dropped), text
        if p.kind == "other":
            assert "Entry Price" in text, text
        if re.search(r"\d\s*%", text) and p.ad_valorem_pct is None:
            # only rates whose percentage sits in a MIN/MAX clause lose it
            assert "MIN" in text or "MAX" in text, text


# ------------------------------------------------------------------ duty_rates


def test_commodity_codes_are_padded():
    assert ref.pad_commodity_code("1012100") == "01012100"
    assert ref.pad_commodity_code("102291000") == "0102291000"
    assert ref.pad_commodity_code("85183000") == "85183000"


def test_duty_rates_contract_and_padding(duty):
    assert list(duty.columns) == list(RAW_TABLES["duty_rates"].columns)
    assert duty.commodity_code.str.len().isin([8, 10]).all()
    assert (duty.hs6 == duty.commodity_code.str[:6]).all()
    assert not duty.duplicated(["destination_country", "commodity_code", "effective_from"]).any()
    for col in RAW_TABLES["duty_rates"].required:
        assert duty[col].notna().all(), col
    horses = duty[(duty.destination_country == "GB") & (duty.commodity_code == "01012100")]
    assert len(horses) == 2 and set(horses.hs6) == {"010121"}


def test_gb_has_the_dated_ukgt_change_and_eu_members_the_cet(duty):
    gb = duty[(duty.destination_country == "GB") & (duty.commodity_code == "01012990")].sort_values("effective_from")
    assert list(gb.rate_text) == ["11.5%", "10.0%"]
    assert list(gb.effective_from) == [dt.date(2000, 1, 1), dt.date(2021, 1, 1)]
    assert gb.effective_to.iloc[0] == dt.date(2021, 1, 1) and pd.isna(gb.effective_to.iloc[1])
    for country in ref.EU_MARKETS:
        row = duty[(duty.destination_country == country) & (duty.commodity_code == "01012990")]
        assert list(row.ad_valorem_pct) == [11.5] and pd.isna(row.effective_to.iloc[0])
    compound = duty[(duty.destination_country == "GB") & (duty.commodity_code == "01022910")]
    ukgt = compound[compound.effective_from == dt.date(2021, 1, 1)].iloc[0]
    assert (ukgt.ad_valorem_pct, ukgt.specific_amount, ukgt.specific_currency) == (10.0, 77.0, "GBP")
    dropped = duty[duty.rate_text == "Entry Price"]
    assert len(dropped) and dropped.source.str.contains(ref.NOT_MODELLED + "Entry Price", regex=False).all()


def test_every_market_has_duty_rows_for_the_catalog_codes(duty):
    for country in market_codes():
        codes = set(duty[duty.destination_country == country].hs6)
        missing = set(catalog_hs6()) - codes
        assert not missing, f"{country} lacks duty rows for {sorted(missing)}"
    generated = duty[duty.destination_country.isin(ref.GENERATED_DUTY_MARKETS)]
    assert (generated.source == ref.GENERATED_DUTY_SOURCE).all()
    assert (duty[duty.destination_country == "SG"].ad_valorem_pct == 0).all()
    assert (duty[duty.destination_country == "AE"].ad_valorem_pct == 5).all()


# ------------------------------------------------------------------ VAT


def test_vat_periods_with_dated_changes():
    vat = ref.vat_rates()
    assert list(vat.columns) == list(RAW_TABLES["vat_rates"].columns)
    de = vat[vat.country_code == "DE"].sort_values("effective_from")
    assert list(de.standard_rate_pct) == [19.0, 16.0, 19.0]
    assert list(de.effective_from) == [dt.date(2000, 1, 1), dt.date(2020, 7, 1), dt.date(2021, 1, 1)]
    assert list(de.effective_to.iloc[:2]) == [dt.date(2020, 7, 1), dt.date(2021, 1, 1)] and pd.isna(
        de.effective_to.iloc[2]
    )
    assert ref.vat_rate_on("DE", dt.date(2020, 8, 1)) == 16.0
    assert ref.vat_rate_on("SG", dt.date(2023, 6, 1)) == 8.0 and ref.vat_rate_on("SG", dt.date(2024, 1, 1)) == 9.0
    assert ref.vat_rate_on("US", dt.date(2025, 1, 1)) == 0.0
    assert set(vat[vat.source == ref.VAT_SOURCE].country_code) >= {"AT", "BE", "GB", "PL", "SE"}  # EU-27 + GB
    assert vat[vat.source == ref.VAT_SOURCE].country_code.nunique() == 28


def test_vat_periods_cover_every_market_without_overlap():
    vat = ref.vat_rates()
    for country, rows in vat.groupby("country_code"):
        rows = rows.sort_values("effective_from")
        ends = list(rows.effective_to.iloc[:-1])
        assert ends == list(rows.effective_from.iloc[1:]), country
        assert pd.isna(rows.effective_to.iloc[-1]), country
    assert set(market_codes()) <= set(vat.country_code)


# ------------------------------------------------------------------ emission factors, HS, CBAM


def test_emission_factors_units_and_fallbacks():
    ef = ref.emission_factors()
    assert list(ef.columns) == list(RAW_TABLES["emission_factors"].columns)
    assert ef.activity_id.is_unique
    assert (ef.activity_unit == "tonne-km").all() and ef.kg_co2e_per_unit.notna().all()
    raw = pd.read_csv(EF_CSV, dtype=str, keep_default_na=False)
    assert len(ef) == ((raw["kgCO2e-AR5"] != "not-supplied") | (raw["kgCO2e-AR4"] != "not-supplied")).sum()
    beis = ef[ef.name == "Air freight outside UK - with RF effect"]
    assert beis.kg_co2e_per_unit.iloc[0] == pytest.approx(1.0189)  # AR4 fallback: BEIS has no AR5
    per_mile = raw[(raw.activity_unit == "ton-mile") & (raw["kgCO2e-AR5"] != "not-supplied")].iloc[0]
    key = f"{per_mile.activity_id}/{per_mile.source}/{per_mile.region}/{per_mile.year_released}/{per_mile.lca_activity}"
    converted = ef.set_index("activity_id").kg_co2e_per_unit[key]
    assert converted == pytest.approx(float(per_mile["kgCO2e-AR5"]) / ref.TONNE_KM_PER_TON_MILE)
    assert set(ef.category) == {"Sea Freight", "Road Freight", "Air Freight", "Rail Freight"}


def test_hs_codes_back_the_catalog():
    hs = ref.hs_codes()
    assert hs.hs6.str.fullmatch(r"\d{6}").all() and hs.hs6.is_unique
    assert {"hs6", "description", "section"} <= set(hs.columns)
    assert set(catalog_hs6()) <= set(hs.hs6)


def test_cbam_scope_follows_annex_one():
    cbam = ref.cbam_scope()
    assert list(cbam.columns) == list(RAW_TABLES["cbam_scope"].columns)
    prefixes = set(cbam.hs_prefix)
    assert {"72", "7318", "7326", "7616", "2523", "2804", "2716", "3102"} <= prefixes

    def in_scope(code: str) -> bool:
        return any(code.startswith(p) for p in prefixes)

    assert in_scope("731815") and in_scope("761699") and in_scope("720851")
    assert not in_scope("732393") and not in_scope("761510")  # household steel and aluminium kitchenware
    assert cbam.source.str.startswith("curated").all()


# ------------------------------------------------------------------ curated policy tables


def test_de_minimis_published_values_and_changes():
    dm = ref.de_minimis()
    assert list(dm.columns) == list(RAW_TABLES["de_minimis"].columns)
    assert not dm.duplicated(["country_code", "applies_to", "effective_from"]).any()

    def on(country: str, applies: str, day: dt.date) -> float:
        rows = dm[(dm.country_code == country) & (dm.applies_to == applies) & (dm.effective_from <= day)]
        rows = rows[rows.effective_to.isna() | rows.effective_to.map(lambda d: d is not None and d > day)]
        assert len(rows) == 1, (country, applies, day)
        return float(rows.threshold_amount.iloc[0])

    assert on("US", "duty", dt.date(2024, 1, 1)) == 800 and on("US", "duty", dt.date(2025, 9, 1)) == 0
    assert on("DE", "duty", dt.date(2024, 1, 1)) == 150 and on("DE", "vat", dt.date(2021, 6, 30)) == 22
    assert on("DE", "vat", dt.date(2021, 7, 1)) == 0 and on("GB", "duty", dt.date(2024, 1, 1)) == 135
    assert on("CA", "duty", dt.date(2020, 1, 1)) == 20 and on("CA", "duty", dt.date(2021, 1, 1)) == 150
    assert on("AU", "duty", dt.date(2024, 1, 1)) == 1000
    assert dm.source.str.startswith("curated").all()


def test_digital_services_taxes():
    dst = ref.digital_services_taxes()
    rates = dict(zip(dst.country_code, dst.rate_pct, strict=True))
    assert rates["FR"] == rates["IT"] == rates["ES"] == 3.0 and rates["GB"] == 2.0
    assert "PL" not in rates and "AT" not in rates
    assert dst.source.str.startswith("curated").all()
