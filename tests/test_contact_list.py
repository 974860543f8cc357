"""The contact list a mail tool takes: formats, campaign columns, the seeded hold-out group."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_models import targeting as tg
from crm_models.data.privacy import PersonalDataError

SEND = pd.Timestamp("2025-07-01")


@pytest.fixture(scope="module")
def contacts():
    """The selected customers of the demo data (fast learner), offers as the CLI shows them."""
    from crm_models.data import load_dataset

    ds = load_dataset("demo")
    policy = tg.ContactPolicy(budget=400)
    result, _ = tg.build_contact_list(ds, policy, learner="two_model_logistic")
    return result.contacts


# --------------------------------------------------------------------------- hold-out draw
@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    share=st.floats(0, 0.95),
    seed=st.integers(0, 2**32 - 1),
    n_groups=st.integers(1, 4),
)
def test_holdout_is_exact_reproducible_and_stratified(n, share, seed, n_groups):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n).round(1)  # ties on purpose
    groups = rng.integers(0, n_groups, n)
    held, decile = tg.holdout_flags(score, share, seed, groups)
    assert held.sum() == round(share * n)
    again, _ = tg.holdout_flags(score, share, seed, groups)
    assert np.array_equal(held, again)
    assert decile.min(initial=1) >= 1 and decile.max(initial=10) <= 10
    # each stratum (offer x decile) holds out its share, off by less than one customer
    strata = pd.DataFrame({"g": groups, "d": decile, "held": held}).groupby(["g", "d"])["held"]
    gap = strata.sum() - share * strata.size()
    assert (gap.abs() < 1).all()


def test_holdout_deciles_follow_the_score():
    score = np.arange(1000, dtype=float)
    _, decile = tg.holdout_flags(score, 0.1, 1)
    assert np.array_equal(decile, np.arange(1000) // 100 + 1)


def test_different_seeds_hold_out_different_customers():
    score = np.linspace(0, 1, 1000)
    a, _ = tg.holdout_flags(score, 0.1, 1)
    b, _ = tg.holdout_flags(score, 0.1, 2)
    assert a.sum() == b.sum() == 100 and not np.array_equal(a, b)


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_holdout_share_out_of_range_is_refused(share):
    with pytest.raises(ValueError, match="at least 0 and below 1"):
        tg.holdout_flags(np.zeros(5), share, 0)


# --------------------------------------------------------------------------- the list
def test_mailing_list_columns_and_summary(contacts):
    mailing = tg.mailing_list(contacts, SEND, "demo-20250701", holdout=0.2, seed=7)
    assert list(mailing.columns) == list(tg.LIST_COLUMNS)
    assert len(mailing) == len(contacts) == 400
    assert mailing["customer_id"].tolist() == contacts["customer_id"].tolist()
    assert (mailing["campaign_id"] == "demo-20250701").all()
    assert (mailing["send_date"] == dt.date(2025, 7, 1)).all()
    assert mailing["holdout"].sum() == 80
    assert ((mailing["action"] == "hold out") == mailing["holdout"]).all()
    assert set(mailing["action"]) == {"mail", "hold out"}
    assert mailing["channel"].isin(["email", "sms", "post", "push"]).all()
    s = tg.holdout_summary(mailing)
    assert (s["mailed"], s["held_out"], s["holdout_share"]) == (320, 80, 0.2)
    mailed = mailing.loc[~mailing["holdout"], "expected_incremental_profit"].sum()
    assert s["expected_incremental_profit_mailed"] == pytest.approx(mailed)
    assert mailed < contacts["expected_incremental_profit"].sum()
    # control and mailed groups alike: the mean predicted uplift differs little
    up = mailing.groupby("holdout")["expected_incremental_response"].mean()
    assert up[True] == pytest.approx(up[False], rel=0.15)


def test_channel_defaults_to_email_when_the_data_has_none(contacts):
    mailing = tg.mailing_list(contacts.drop(columns="channel"), SEND, "x", holdout=0)
    assert (mailing["channel"] == "email").all() and not mailing["holdout"].any()


def test_personal_identifiers_are_refused(contacts):
    leaked = contacts.assign(customer_id=[f"c{i}@example.com" for i in range(len(contacts))])
    with pytest.raises(PersonalDataError, match="customer_id"):
        tg.mailing_list(leaked, SEND, "x")


def test_default_campaign_id():
    assert (
        tg.default_campaign_id("Online Retail (UCI)", "2011-12-10") == "online-retail-uci-20111210"
    )


# --------------------------------------------------------------------------- files
@pytest.mark.parametrize("ext", [".csv", ".parquet", ".xlsx"])
def test_each_format_round_trips(contacts, tmp_path, ext):
    mailing = tg.mailing_list(contacts, SEND, "demo-20250701")
    path = tg.write_contact_list(mailing, tmp_path / f"list{ext}")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    if ext == ".csv":
        back = pd.read_csv(path, parse_dates=["send_date"])
    elif ext == ".parquet":
        assert pq.read_schema(path).field("send_date").type == "date32[day]"
        back = pd.read_parquet(path)
        back["send_date"] = pd.to_datetime(back["send_date"])
    else:
        back = pd.read_excel(path)
        assert (path.read_bytes()[:2]) == b"PK"  # a real workbook, not CSV text
    assert list(back.columns) == list(tg.LIST_COLUMNS)
    assert pd.api.types.is_datetime64_any_dtype(back["send_date"])
    assert (back["send_date"] == SEND).all()
    assert back["holdout"].dtype == bool and back["uplift_decile"].dtype == np.int64
    assert back["customer_id"].tolist() == mailing["customer_id"].tolist()
    np.testing.assert_allclose(
        back["expected_incremental_profit"], mailing["expected_incremental_profit"]
    )


def test_failed_write_leaves_the_earlier_file_and_no_half_file(contacts, tmp_path):
    path = tmp_path / "list.parquet"
    good = tg.mailing_list(contacts, SEND, "x")
    tg.write_contact_list(good, path)
    before = path.read_bytes()
    bad = good.assign(reason_codes=[1, "a"] * (len(good) // 2))  # mixed types: Arrow refuses
    with pytest.raises(Exception, match="reason_codes|Conversion failed|int"):
        tg.write_contact_list(bad, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["list.parquet"]


def test_unknown_extension_is_refused(contacts, tmp_path):
    with pytest.raises(ValueError, match=r"\.csv, \.parquet, \.xlsx"):
        tg.write_contact_list(tg.mailing_list(contacts, SEND, "x"), tmp_path / "list.txt")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- command line
@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--out", "list.txt", "argument --out: cannot write the contact list"),
        ("--holdout", "1", "argument --holdout: hold-out share 1 must be"),
        ("--send-date", "soon", "argument --send-date: 'soon' is not a date"),
    ],
)
def test_target_cli_refuses_bad_options_before_fitting(tmp_path, capsys, option, value, says):
    from crm_models.cli import main

    args = ["target", "demo", "--budget", "10", "--out", str(tmp_path / "list.csv")]
    value = str(tmp_path / value) if option == "--out" else value
    with pytest.raises(SystemExit) as exc:
        main([*args, option, value])
    assert exc.value.code == 2 and says in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_target_cli_writes_excel_with_campaign_columns(tmp_path, capsys):
    from crm_models.cli import main

    out = tmp_path / "lists" / "july.xlsx"
    args = ["target", "demo", "--budget", "60", "--model", "two_model_logistic", "--json"]
    options = ["--holdout", "0.25", "--seed", "3", "--send-date", "2025-07-04"]
    options += ["--value-model", "pareto_nbd"]  # the lifetime-value term's model, as asked
    assert main([*args, *options, "--campaign-id", "july-push", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    listed = pd.read_excel(out)
    assert summary["contacts"] == len(listed) == 60  # existing keys keep their meaning
    assert (
        (summary["mailed"], summary["held_out"])
        == (45, 15)
        == (
            int((listed["action"] == "mail").sum()),
            int(listed["holdout"].sum()),
        )
    )
    assert summary["campaign_id"] == "july-push" and summary["send_date"] == "2025-07-04"
    assert summary["clv_term"].startswith("Pareto/NBD + Gamma-Gamma")
    assert (listed["campaign_id"] == "july-push").all()
    assert (listed["send_date"] == pd.Timestamp("2025-07-04")).all()
    mailed = listed.loc[~listed["holdout"], "expected_incremental_profit"].sum()
    assert summary["expected_incremental_profit_mailed"] == pytest.approx(mailed)
    assert summary["expected_incremental_profit"] == pytest.approx(
        listed["expected_incremental_profit"].sum()
    )
