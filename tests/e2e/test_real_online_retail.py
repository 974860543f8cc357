"""Every applicable report builds from the real Online Retail file alone (UCI Online Retail,
Chen, Sain & Guo 2012; figures from ``../shared/data/online_retail/SOURCE.md``)."""

from __future__ import annotations

import json

import pytest
from real_data_checks import assert_published

REPORTS = {"customer_base", "value_retention", "segments_profiles", "baskets", "forecast"}


@pytest.fixture(scope="module")
def build(quick_build, shared_data):
    path = shared_data / "online_retail" / "online_retail.csv"
    return quick_build("real_online_retail", [str(path)])


@pytest.fixture(scope="module")
def entries(build):
    return assert_published(build["out"], "online_retail", REPORTS)


def test_every_applicable_report_builds(build, entries):
    manifest = json.loads((build["out"] / "online_retail" / "manifest.json").read_text())
    assert manifest["tables"]["customers"] == 4372  # SOURCE.md: 4,372 distinct customers
    assert "campaigns" in entries["targeting"]["reason"]  # the file has no campaigns


def test_value_report_is_honest_about_its_fit(entries):
    m = entries["value_retention"]["metrics"]
    # the value and customer-base reports count the same buyers
    assert m["customers"] == entries["customer_base"]["metrics"]["customers"]
    # the BG/NBD drop-out collapses on this file; the risk list must not read 0 because of it
    assert m["customers_at_risk"] > 0 and m["value_at_risk"] > 0
    assert 0 < m["holdout_predicted_total"] and m["holdout_actual_total"] > 0
    assert m["holdout_predicted_low_80"] <= m["holdout_predicted_total"]
    assert m["holdout_predicted_total"] <= m["holdout_predicted_high_80"]
    assert 0 <= m["chi_square_p_value"] <= 1


def test_baskets_and_forecast_find_something(entries):
    assert entries["baskets"]["metrics"]["strong_rules"] > 0
    assert entries["baskets"]["metrics"]["baskets"] > 15_000
    f = entries["forecast"]["metrics"]
    assert f["forecast_next_lower_80"] < f["forecast_next"] < f["forecast_next_upper_80"]
    assert 0 <= f["chosen_coverage_80"] <= 1
