"""Every applicable report builds from the real CDNOW, Hillstrom and Groceries files alone
(figures from ``../shared/data/*/SOURCE.md``; CDNOW: Fader & Hardie's master file, 23,570
customers; Hillstrom 2008 e-mail challenge, 64,000 customers; arules' Groceries, 9,835
baskets over 169 items)."""

from __future__ import annotations

import pytest
from real_data_checks import assert_published


@pytest.fixture(scope="module")
def build(quick_build, shared_data):
    return quick_build(
        "real_cdnow_hillstrom",
        [
            str(shared_data / "cdnow" / "CDNOW_master.txt"),
            str(shared_data / "hillstrom" / "hillstrom.csv"),
            str(shared_data / "groceries" / "groceries.csv"),
        ],
    )


def test_cdnow_builds_its_four_reports(build):
    entries = assert_published(
        build["out"],
        "cdnow",
        {"customer_base", "value_retention", "segments_profiles", "forecast"},
    )
    assert entries["customer_base"]["metrics"]["customers"] == 23_570  # SOURCE.md
    m = entries["value_retention"]["metrics"]
    assert m["fit_warnings"] == 0  # BG/NBD fits CDNOW cleanly (Fader, Hardie & Lee 2005)
    assert m["customers_at_risk"] > 0
    assert m["holdout_mae"] < m["holdout_baseline_mae"]  # the model beats the naive rate


def test_hillstrom_builds_targeting(build):
    entries = assert_published(build["out"], "hillstrom", {"targeting"})
    m = entries["targeting"]["metrics"]
    assert m["contacts"] > 0
    for arm in ("mens_email", "womens_email"):
        assert m[f"uplift_at_30_{arm}"] > 0  # both e-mails lift visits (SOURCE.md arm rates)
        assert m[f"beats_baseline_{arm}"] in (0.0, 1.0)


def test_groceries_builds_baskets(build):
    entries = assert_published(build["out"], "groceries", {"baskets"})
    m = entries["baskets"]["metrics"]
    assert m["baskets"] == 9_835 and m["items"] == 169  # SOURCE.md
    assert m["strong_rules"] > 0
    for slug in ("customer_base", "value_retention", "forecast"):
        assert "transactions" in entries[slug]["reason"]
