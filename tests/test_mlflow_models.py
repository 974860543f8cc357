"""Report models as MLflow pyfunc models, a movable tracking store, and unique metric keys.

Real data: the 2,357-customer CDNOW sample (Fader, Hardie & Lee 2005) shipped with the package;
the look-alike model on Online Retail II and the targeting model on Hillstrom's e-mail test
(../shared/data, skipped where absent).
"""

from __future__ import annotations

import json
import shutil
from functools import partial

import numpy as np
import pandas as pd
import pytest

from crm_models import segments
from crm_models import targeting as tg
from crm_models import value as clv
from crm_models.data.loading import load_dataset
from crm_models.features import customer_view, resolve_as_of
from crm_models.reporting.models import (
    EXAMPLE_FILE,
    REGISTER_ENV,
    CustomerScorer,
    registered_name,
    stage_scorer,
)
from crm_models.reporting.tracking import RUN_FILE, ReportRun, relocate_store

VALUE_COLUMNS = ["frequency", "recency", "T", "monetary_value"]
# a fresh MLflow store (schema creation) and two logged models: 20-50 s on a shared machine
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def cdnow():
    return load_dataset("cdnow_sample")


@pytest.fixture(scope="module")
def view(cdnow) -> pd.DataFrame:
    """Customer view at the end of the 39-week calibration period (weeks)."""
    return customer_view(cdnow, as_of="1997-09-30")


@pytest.fixture(scope="module")
def value_models(view):
    base = clv.buyers(view)
    return clv.BetaGeoModel().fit(base), clv.GammaGammaModel().fit(base)


@pytest.fixture(scope="module")
def clustering(view):
    return segments.segment_customers(view, quick=True, random_state=0).clustering


def _value_scorer(models, horizon=52.0):
    bg, gg = models
    return partial(clv.customer_value, bg, gg, horizon=horizon, annual_discount_rate=0.1)


@pytest.fixture(scope="module")
def logged(tmp_path_factory, cdnow, view, value_models, clustering):
    """One report run in a fresh SQLite store ``<tmp>/mlruns`` with both kinds of model logged
    (and registered); yields ``(store folder, run.json record)``."""
    import mlflow

    tmp = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv(REGISTER_ENV, "1")
        mp.delenv("CRM_MODELS_TRACKING", raising=False)
        base = clv.buyers(view)
        run = ReportRun("value_retention", cdnow, params={"quick": True}, output_dir=tmp / "out")
        run.metric("customers", len(base))
        run.table("sizes", pd.DataFrame({"customers": [len(base)]}))
        run.model(
            "customer_value",
            _value_scorer(value_models),
            base[VALUE_COLUMNS],
            metadata={"time_unit": "W"},
        )
        behaviour = ["orders", "revenue", "days_since_last", *clustering.features_]
        example = view.loc[clustering.labels_.index, view.columns.intersection(behaviour)]
        run.model("segmentation_model", clustering.predict, example)
        assert run.finish()
        mlflow.set_tracking_uri(uri)
        yield tmp / "mlruns", json.loads((tmp / "out" / RUN_FILE).read_text())
        mlflow.set_tracking_uri(previous)


@SLOW
def test_value_model_scores_new_customers_like_the_package(cdnow, view, value_models, logged):
    import mlflow

    _, record = logged
    base = clv.buyers(view)
    model = mlflow.pyfunc.load_model(record["model_uris"]["customer_value"])
    inputs = [c.name for c in model.metadata.get_input_schema().inputs]
    assert inputs == ["customer_id", *VALUE_COLUMNS]
    assert model.metadata.metadata["time_unit"] == "W"
    # buyers of the customer view, extra columns ignored
    got = model.predict(base).set_index("customer_id")
    want = clv.customer_value(*value_models, base, horizon=52.0, annual_discount_rate=0.1)
    columns = ["p_alive", "expected_purchases", "expected_spend", "clv"]
    pd.testing.assert_frame_equal(got[columns], want[columns], check_exact=False, rtol=1e-12)
    # ids as a column work too; the same customer gets the same numbers in a small batch
    few = base[VALUE_COLUMNS].iloc[[5, 1]].reset_index()
    small = model.predict(few).set_index("customer_id")
    pd.testing.assert_frame_equal(small[columns], want.loc[small.index, columns], rtol=1e-12)
    # registered under a stable name when asked
    reg = mlflow.pyfunc.load_model(f"models:/{registered_name(cdnow.name, 'customer_value')}/1")
    assert np.allclose(reg.predict(few)["clv"], small["clv"])


@SLOW
def test_segmentation_model_scores_like_the_package(view, clustering, logged):
    import mlflow

    _, record = logged
    model = mlflow.pyfunc.load_model(record["model_uris"]["segmentation_model"])
    got = model.predict(view).set_index("customer_id")["cluster"]
    pd.testing.assert_series_equal(got, clustering.labels_, check_names=False, check_dtype=False)


@SLOW
def test_models_and_artifacts_load_after_the_store_moves(cdnow, view, value_models, logged):
    import mlflow

    store, record = logged
    moved = store.parent / "elsewhere" / "mlruns"
    shutil.copytree(store, moved)
    hidden = store.rename(store.with_name("mlruns-hidden"))  # nothing may point at it now
    try:
        uri = f"sqlite:///{moved / 'mlflow.db'}"
        assert relocate_store(uri) > 0
        assert relocate_store(uri) == 0  # in place now
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(uri)
        assert client.get_run(record["run_id"]).info.artifact_uri.startswith(moved.as_uri())
        table = client.download_artifacts(record["run_id"], "tables/sizes.csv", str(moved.parent))
        base = clv.buyers(view)
        assert pd.read_csv(table)["customers"].tolist() == [len(base)]
        want = clv.customer_value(*value_models, base, horizon=52.0, annual_discount_rate=0.1)
        for model_uri in (
            record["model_uris"]["customer_value"],
            f"runs:/{record['run_id']}/customer_value",
            f"models:/{registered_name(cdnow.name, 'customer_value')}/1",
        ):
            got = mlflow.pyfunc.load_model(model_uri).predict(base.head(20))
            assert np.allclose(got["clv"], want["clv"].head(20), rtol=1e-12), model_uri
    finally:
        hidden.rename(store)
        mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")


@pytest.fixture(scope="module")
def retail(shared_data):
    """Online Retail II as of its last day, its customer view and the look-alike model."""
    ds = load_dataset(shared_data / "online_retail" / "online_retail.csv")
    as_of = resolve_as_of(ds, None)
    view = customer_view(ds, as_of=as_of)
    return view, segments.lookalike(ds, as_of=as_of, quick=True, views={as_of: view})


@pytest.fixture(scope="module")
def hillstrom(shared_data):
    """Hillstrom's e-mail test, the targeting model fitted on it and its customer features."""
    ds = load_dataset(shared_data / "hillstrom" / "hillstrom.csv")
    model = tg.TargetingModel().fit(ds)
    return ds, model, tg.customer_features(ds, None, model.response_window_days)


@pytest.fixture(scope="module")
def logged_reports(tmp_path_factory, retail, hillstrom):
    """The look-alike and targeting models logged as the notebooks log them, in a fresh store;
    yields the run.json record."""
    import mlflow

    tmp = tmp_path_factory.mktemp("reports")
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    view, look = retail
    ds, model, features = hillstrom
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv(REGISTER_ENV, raising=False)
        mp.delenv("CRM_MODELS_TRACKING", raising=False)
        run = ReportRun("targeting", ds, params={"quick": True}, output_dir=tmp / "out")
        run.model(
            "lookalike_model",
            look.model.predict,
            view.loc[look.scored.index, look.model.columns],
            metadata={"outcome": look.counts["outcome"], "horizon_days": look.horizon_days},
        )
        run.model("targeting_model", model.predict, features[model.feature_columns_])
        assert run.finish()
        mlflow.set_tracking_uri(uri)
        yield json.loads((tmp / "out" / RUN_FILE).read_text())
        mlflow.set_tracking_uri(previous)


@SLOW
def test_lookalike_model_scores_the_prospects_table(retail, logged_reports):
    import mlflow

    view, look = retail
    model = mlflow.pyfunc.load_model(logged_reports["model_uris"]["lookalike_model"])
    assert model.metadata.metadata == {"outcome": "high_value", "horizon_days": "180"}
    # the customer view of the scored customers (extra columns ignored) gives the report's table
    got = model.predict(view.loc[look.scored.index]).set_index("customer_id")["probability"]
    pd.testing.assert_series_equal(got, look.scored["probability"], rtol=1e-12)
    # a small batch, ids as a column: the same customers get the same probabilities
    few = view.loc[look.scored.index[[40, 3, 7]], look.model.columns].reset_index()
    small = model.predict(few).set_index("customer_id")["probability"]
    pd.testing.assert_series_equal(small, look.scored.loc[small.index, "probability"], rtol=1e-12)


@SLOW
def test_targeting_model_scores_new_customers_like_the_contact_list(hillstrom, logged_reports):
    import mlflow

    ds, model, features = hillstrom
    logged = mlflow.pyfunc.load_model(logged_reports["model_uris"]["targeting_model"])
    outputs = [c.name for c in logged.metadata.get_output_schema().inputs]
    columns = ["uplift_mens_email", "uplift_womens_email", "p_control", "value"]
    assert outputs == ["customer_id", *columns]
    # what the contact list is built from (TargetingModel.score), per customer and offer
    want = model.score(ds)[columns]
    got = logged.predict(features).set_index("customer_id")
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)
    few = features.iloc[[11, 2, 5]].reset_index()
    small = logged.predict(few).set_index("customer_id")
    pd.testing.assert_frame_equal(small, want.loc[small.index], rtol=1e-12)


def test_scorer_names_the_missing_columns(value_models, view):
    scorer = CustomerScorer(_value_scorer(value_models), VALUE_COLUMNS)
    with pytest.raises(ValueError, match=r"needs columns \['monetary_value'\].*3 rows"):
        scorer(clv.buyers(view)[["frequency", "recency", "T"]].head(3))


def test_a_category_column_is_logged_as_text(tmp_path, view, clustering):
    """MLflow refuses pandas categories (the view's lifecycle_stage) against any schema type."""
    behaviour = ["orders", "revenue", "days_since_last", *clustering.features_, "lifecycle_stage"]
    example = view.loc[clustering.labels_.index, view.columns.intersection(behaviour)]
    stage_scorer(tmp_path, clustering.predict, example)
    staged = pd.read_pickle(tmp_path / EXAMPLE_FILE)["input"].set_index("customer_id")
    assert staged["lifecycle_stage"].dtype == object
    want = example.loc[staged.index, "lifecycle_stage"].astype(object)
    pd.testing.assert_series_equal(staged["lifecycle_stage"], want)


def test_an_example_with_personal_data_is_refused(tmp_path, view, clustering):
    """The input example is stored with the model: an e-mail column never goes with it."""
    from crm_models.data.privacy import PersonalDataError

    behaviour = ["orders", "revenue", "days_since_last", *clustering.features_]
    example = view.loc[clustering.labels_.index, view.columns.intersection(behaviour)].copy()
    example["email"] = [f"c{i}@example.com" for i in range(len(example))]
    with pytest.raises(PersonalDataError):
        stage_scorer(
            tmp_path, lambda frame: clustering.predict(frame.drop(columns="email")), example
        )
    assert not any(tmp_path.iterdir()), "nothing of the model is written"


def test_a_metric_key_means_one_thing_in_a_run(tmp_path):
    run = ReportRun("value_retention", "shop", output_dir=tmp_path, track=False)
    run.metric("bgnbd_log_likelihood", -9582.4)
    run.metric("bgnbd_log_likelihood", -9582.4)  # the same figure again is harmless
    run.metric("holdout_mae", 0.5, step=1)
    run.metric("holdout_mae", 0.6, step=2)  # a series
    with pytest.raises(ValueError, match="'bgnbd_log_likelihood'.*-9582.4.*own name"):
        run.metric("bgnbd_log_likelihood", -3770.1)
    with pytest.raises(ValueError, match="'bgnbd_log_likelihood'"):
        run.headline("bgnbd_log_likelihood", -1.0)
    run.headline("customers", 10)
    with pytest.raises(ValueError, match="'customers'"):
        run.metric("customers", 11)
    run.finish()
    saved = json.loads((tmp_path / RUN_FILE).read_text())
    assert saved["metrics"]["bgnbd_log_likelihood"] == -9582.4
    assert [h["value"] for h in saved["headlines"]] == [10]
