"""The targeting report's steps on an engine source equal the in-memory path's: the campaign
truth, the permission tables (only the columns the rules read leave the engine), the usual
channel, and the report's contact list from the scores to the mailing list, on the demo
registered on DuckDB and on a folder read out of core."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_models import targeting as tg
from crm_models.data.dataset import Dataset
from crm_models.data.loading import load_dataset
from crm_models.data.truth import UPLIFT_COLUMNS
from crm_models.engine import as_source, open_dataset
from crm_models.engine.settings import default_settings
from crm_models.features import resolve_as_of
from crm_models.targeting.model import _usual_channel
from crm_models.targeting.policy import PERMISSION_COLUMNS

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def demo_duckdb(demo):
    return as_source(demo, "duckdb")


@pytest.fixture(scope="module")
def folder_pair(folder):
    """The simulated folder loaded into memory and read out of core by DuckDB."""
    return load_dataset(folder), open_dataset(folder, settings=default_settings("duckdb"))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order: a folder's scan order is not the loaded table's."""
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def test_true_uplift_is_the_same_from_a_source(demo, demo_duckdb, folder_pair):
    truth = tg.true_uplift(demo)
    assert len(truth) > 10_000 and list(truth.columns) == UPLIFT_COLUMNS
    pd.testing.assert_frame_equal(truth, tg.true_uplift(demo_duckdb))
    loaded, src = folder_pair  # a folder carries no truth folder in its info, either way
    assert tg.true_uplift(loaded) is None and tg.true_uplift(src) is None


def test_campaign_data_is_the_same_from_a_source(demo_data, demo_duckdb):
    engine = tg.campaign_data(demo_duckdb)
    assert len(demo_data.rows) > 20_000 and demo_data.rows["responded"].sum() > 0
    # the same rows in the same order; text columns may differ only in their missing marker
    pd.testing.assert_frame_equal(demo_data.rows, engine.rows, check_dtype=False)
    assert engine.outcomes == demo_data.outcomes and engine.notes == demo_data.notes
    assert (engine.arms, engine.control) == (demo_data.arms, demo_data.control)


def test_permission_tables_bring_only_the_rule_columns_and_the_same_rows(demo, demo_duckdb):
    customers, campaigns = tg.permission_tables(demo)
    assert list(customers.columns) == PERMISSION_COLUMNS["customers"]
    assert list(campaigns.columns) == PERMISSION_COLUMNS["campaigns"]
    assert (len(customers), len(campaigns)) == (len(demo.customers), len(demo.campaigns))
    assert not customers["opt_in"].all() and customers["opt_out_date"].notna().any()
    engine = tg.permission_tables(demo_duckdb)
    pd.testing.assert_frame_equal(customers, engine[0])
    pd.testing.assert_frame_equal(campaigns, engine[1])


def test_permission_tables_of_data_without_campaigns_or_consent(demo):
    bare = Dataset(
        "bare",
        transactions=demo.transactions,
        customers=demo.customers[["customer_id", "region"]],
        fingerprint="-",
    )
    for ds in (bare, as_source(bare, "duckdb")):
        customers, campaigns = tg.permission_tables(ds)
        assert list(customers.columns) == ["customer_id"] and campaigns is None


def test_the_usual_channel_is_the_same_from_a_source(demo, demo_duckdb):
    channel = demo.campaigns["channel"].value_counts()
    assert _usual_channel(demo) == channel.idxmax() == _usual_channel(demo_duckdb)
    no_channel = Dataset(
        "x", transactions=demo.transactions, campaigns=demo.campaigns.drop(columns="channel")
    )
    assert _usual_channel(no_channel) is None
    assert _usual_channel(as_source(no_channel, "duckdb")) is None


def _report_list(ds, budget=None):
    """The report's contact-list steps (notebooks/04_response_and_targeting.py), quick."""
    data = tg.campaign_data(ds)
    as_of = resolve_as_of(ds, None)
    model = tg.TargetingModel("two_model_logistic", max_fit_rows=2_000, sample_seed=3)
    model.fit(ds, data)
    features = tg.customer_features(ds, as_of, model.response_window_days)
    scores = model.score(ds, as_of, features)
    send = as_of + pd.Timedelta(days=1)
    policy = tg.ContactPolicy(cost_per_contact={"email": 0.1, "sms": 0.05, "post": 0.8})
    customers, campaigns = tg.permission_tables(ds)
    result = tg.budgeted_contact_list(
        scores, model.arms_, policy, customers, campaigns, send, budget
    )
    mailing = tg.mailing_list(result.contacts, send, tg.default_campaign_id(ds.name, send))
    return scores, result, mailing


def test_the_reports_contact_list_is_the_same_out_of_core(folder_pair):
    (scores, result, mailing), (e_scores, e_result, e_mailing) = map(_report_list, folder_pair)
    pd.testing.assert_frame_equal(scores, e_scores, rtol=1e-9)
    pd.testing.assert_frame_equal(result.decisions, e_result.decisions, rtol=1e-9)
    pd.testing.assert_frame_equal(result.comparison, e_result.comparison, rtol=1e-9)
    pd.testing.assert_frame_equal(result.exclusions, e_result.exclusions)
    pd.testing.assert_frame_equal(mailing, e_mailing, rtol=1e-9)
    s, e = result.summary, e_result.summary
    assert s["contacts"] == e["contacts"] > 0 and s["by_arm"] == e["by_arm"]
    assert s["excluded_by_permission_rules"] == e["excluded_by_permission_rules"] > 0
    assert s["expected_incremental_profit"] == pytest.approx(e["expected_incremental_profit"])
    # the frequency cap and consent read the same rows from the engine as from memory
    for loaded, engine in zip(*map(tg.permission_tables, folder_pair), strict=True):
        pd.testing.assert_frame_equal(_sorted(loaded), _sorted(engine))
