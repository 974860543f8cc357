"""A dataset knows its currency (ISO 4217), and money is shown in it everywhere.

Where the currency comes from: ``options.currency`` in ``mapping.json``, ``--currency`` on the
command line, or the recognised file (Online Retail in pounds, CDNOW and Hillstrom in dollars,
the simulated demo in dollars).  A folder that states none has no currency, and its amounts are
shown without a sign.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from crm_models import plotting
from crm_models.cli import main
from crm_models.data.contract import DataError
from crm_models.data.currency import CURRENCIES
from crm_models.data.loading import load_dataset
from crm_models.plotting import money, money_title, use_currency


@pytest.fixture(autouse=True)
def no_currency():
    """Every test starts, and leaves, with no report currency set."""
    use_currency(None)
    yield
    use_currency(None)


def _shop(folder, currency=None, **options):
    """A small contract folder: 60 lines of 20 customers over 2024, optionally a mapping.json
    stating ``options`` (``currency`` among them)."""
    rng = np.random.default_rng(5)
    n = 60
    folder.mkdir()
    pd.DataFrame(
        {
            "customer_id": rng.integers(1, 21, n),
            "order_id": np.arange(1, n + 1),
            "order_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 360, n), unit="D"),
            "amount": rng.gamma(2.0, 40.0, n).round(2),
        }
    ).to_csv(folder / "transactions.csv", index=False)
    if currency is not None:
        options["currency"] = currency
    if options:
        (folder / "mapping.json").write_text(json.dumps({"options": options}))
    return folder


def _online_retail_csv(path):
    """A tiny file shaped like UCI Online Retail (its column names; a cancellation line)."""
    pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "536366", "C536379"],
            "StockCode": ["85123A", "71053", "22633", "85123A"],
            "Description": ["WHITE HANGING HEART", "WHITE METAL LANTERN", "HAND WARMER", "D"],
            "Quantity": [6, 6, 6, -1],
            "InvoiceDate": ["2010-12-01 08:26", "2010-12-01 08:26", "2010-12-01 08:28"]
            + ["2010-12-01 09:41"],
            "UnitPrice": [2.55, 3.39, 1.85, 2.55],
            "CustomerID": [17850, 17850, 17850, 17850],
            "Country": ["United Kingdom"] * 4,
        }
    ).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- money()
@pytest.mark.parametrize(
    ("currency", "value", "decimals", "text"),
    [
        ("USD", 1234567, 0, "$1,234,567"),
        ("GBP", 1234, 0, "£1,234"),
        ("GBP", -1234, 0, "-£1,234"),
        ("EUR", 5.5, 2, "€5.50"),
        ("JPY", 1234, 0, "¥1,234"),
        ("INR", 1234, 0, "₹1,234"),
        ("CHF", 1234, 0, "1,234 CHF"),
        ("CHF", -1234, 0, "-1,234 CHF"),
        ("SEK", 0.5, 2, "0.50 SEK"),
        (None, 1234, 0, "1,234"),
        (None, -1234.5, 2, "-1,234.50"),
    ],
)
def test_money_is_written_in_the_currency(currency, value, decimals, text):
    assert money(value, decimals, currency=currency) == text
    use_currency(currency)
    assert money(value, decimals) == text  # the report's currency, once set


def test_money_signs_gains_and_says_na():
    assert money(12, currency="GBP", signed=True) == "+£12"
    assert money(-12, currency="GBP", signed=True) == "-£12"
    assert money(0, currency="GBP", signed=True) == "£0"
    assert money(math.nan, currency="GBP") == "n/a"
    assert money(None) == "n/a"


def test_no_stated_currency_never_shows_a_dollar():
    assert plotting.current_currency() is None
    assert money(1234) == "1,234" and money_title("revenue") == "revenue"


def test_an_explicit_currency_wins_over_the_reports():
    use_currency("GBP")
    assert money(10, currency="EUR") == "€10"
    assert money(10, currency=None) == "10"
    assert money(10) == "£10"


def test_axis_titles_carry_the_currency():
    use_currency("GBP")
    assert money_title("revenue") == "revenue (£)"
    use_currency("NOK")
    assert money_title("revenue") == "revenue (NOK)"


def test_unknown_currency_is_refused_with_the_known_codes():
    with pytest.raises(ValueError, match=r"'XYZ' is not a known ISO 4217 currency code.*GBP"):
        use_currency("XYZ")
    with pytest.raises(ValueError, match=r"write it in capitals: GBP"):
        money(1, currency="gbp")


def test_the_table_of_currencies():
    assert all(len(c) == 3 and c.isupper() and c.isalpha() for c in CURRENCIES)
    assert {k: CURRENCIES[k] for k in ("USD", "EUR", "GBP", "JPY", "INR")} == {
        "USD": "$",
        "EUR": "€",
        "GBP": "£",
        "JPY": "¥",
        "INR": "₹",
    }
    assert {"CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK", "CNY", "BRL"} <= set(CURRENCIES)


# --------------------------------------------------------------------------- where it comes from
def test_mapping_json_states_the_currency(tmp_path):
    ds = load_dataset(_shop(tmp_path / "shop", "EUR"))
    assert ds.currency == "EUR"
    plain = load_dataset(_shop(tmp_path / "plain"))
    assert plain.currency is None
    assert ds.fingerprint == plain.fingerprint  # the same tables: the currency is not hashed


@pytest.mark.parametrize(
    ("value", "shown"),
    [("Pound", "'Pound'"), ("gbp", "'gbp' .*write it in capitals: GBP"), (978, "978")],
)
def test_a_bad_currency_in_mapping_json_is_refused(tmp_path, value, shown):
    folder = _shop(tmp_path / "shop", value)
    with pytest.raises(DataError) as err:
        load_dataset(folder)
    (problem,) = err.value.problems
    assert problem.file == "mapping.json, key options.currency"
    assert re.search(shown, problem.issue) and "not a known ISO 4217 currency code" in problem.issue


def test_validate_names_mapping_json_and_the_key(tmp_path, capsys):
    folder = _shop(tmp_path / "shop", "EURO")
    assert main(["data", "validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "mapping.json, key options.currency: 'EURO' is not a known ISO 4217" in err
    assert "EUR" in err


def test_currency_option_beside_the_other_options(tmp_path):
    ds = load_dataset(_shop(tmp_path / "shop", "CHF", duplicates="drop"))
    assert ds.currency == "CHF"


def test_summary_json_carries_the_currency(tmp_path, capsys):
    stated, plain = _shop(tmp_path / "stated", "EUR"), _shop(tmp_path / "plain")
    assert main(["data", "summary", str(stated), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] == "EUR"
    assert main(["data", "summary", str(plain), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] is None


def test_currency_flag_overrides_the_dataset(tmp_path, capsys):
    folder = _shop(tmp_path / "shop", "EUR")
    assert main(["data", "summary", str(folder), "--currency", "SEK", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] == "SEK"
    assert main(["data", "summary", "cdnow_sample", "--currency", "GBP", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] == "GBP"


@pytest.mark.parametrize(
    "verb",
    [
        ["data", "validate"],
        ["data", "summary"],
        ["view"],
        ["clv", "fit"],
        ["segment"],
        ["uplift"],
        ["target"],
        ["forecast"],
    ],
)
def test_currency_flag_on_every_dataset_verb(verb, capsys):
    with pytest.raises(SystemExit):
        main([*verb, "--help"])
    assert "--currency CODE" in capsys.readouterr().out


def test_a_bad_currency_flag_is_refused(tmp_path, capsys):
    folder = _shop(tmp_path / "shop")
    with pytest.raises(SystemExit) as exit_:
        main(["data", "summary", str(folder), "--currency", "pounds"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --currency: 'pounds' is not a known ISO 4217 currency code" in err


def test_online_retail_is_in_pounds(tmp_path):
    ds = load_dataset(_online_retail_csv(tmp_path / "retail.csv"))
    assert ds.name == "online_retail" and ds.currency == "GBP"


def test_real_online_retail_is_in_pounds(shared_data, tmp_path):
    """The first 2,000 lines of the real UCI file (../shared/data/online_retail/SOURCE.md: a
    UK-based retailer, prices in sterling)."""
    source = shared_data / "online_retail" / "online_retail.csv"
    if not source.is_file():
        pytest.skip(f"{source} not found (see ../shared/data/online_retail/SOURCE.md)")
    pd.read_csv(source, nrows=2000, dtype=str).to_csv(tmp_path / "retail.csv", index=False)
    ds = load_dataset(tmp_path / "retail.csv")
    assert ds.currency == "GBP"
    use_currency(ds.currency)
    assert money(ds.transactions["amount"].sum()).startswith("£")


def test_cdnow_and_hillstrom_are_in_dollars(tmp_path):
    assert load_dataset("cdnow_sample").currency == "USD"
    rng = np.random.default_rng(1)
    n = 30
    segment = np.array(["Mens E-Mail", "Womens E-Mail", "No E-Mail"])[np.arange(n) % 3]
    pd.DataFrame(
        {
            "recency": rng.integers(1, 12, n),
            "history_segment": "1) $0 - $100",
            "history": rng.gamma(2, 50, n).round(2),
            "mens": rng.integers(0, 2, n),
            "womens": rng.integers(0, 2, n),
            "zip_code": "Urban",
            "newbie": rng.integers(0, 2, n),
            "channel": "Web",
            "segment": segment,
            "visit": rng.integers(0, 2, n),
            "conversion": 0,
            "spend": 0.0,
        }
    ).to_csv(tmp_path / "hillstrom.csv", index=False)
    assert load_dataset(tmp_path / "hillstrom.csv").currency == "USD"


def test_simulated_demo_is_in_dollars(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_MODELS_DATA", str(tmp_path))
    assert load_dataset("demo", n_customers=300, seed=3).currency == "USD"


# --------------------------------------------------------------------------- engine sources
def test_engine_sources_carry_the_currency(tmp_path):
    from crm_models.engine import Source, default_settings, open_dataset

    folder = _shop(tmp_path / "shop", "DKK")
    settings = default_settings("duckdb")
    source = open_dataset(folder, settings=settings)
    assert isinstance(source, Source) and source.currency == "DKK"  # read out of core
    ds = load_dataset(folder)
    assert Source.from_dataset(ds, settings, "duckdb").currency == "DKK"
    plain = open_dataset(_shop(tmp_path / "plain"), settings=settings)
    assert isinstance(plain, Source) and plain.currency is None


# --------------------------------------------------------------------------- outputs
def test_clv_fit_json_carries_the_currency(capsys):
    assert main(["clv", "fit", "cdnow_sample", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] == "USD"


def test_forecast_json_carries_the_currency_of_revenue(tmp_path, capsys):
    args = ["forecast", "cdnow_sample", "--quick", "--horizon", "2", "--json"]
    assert main([*args, "--currency", "GBP"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] == "GBP"
    assert main([*args, "--measure", "orders"]) == 0
    assert "currency" not in json.loads(capsys.readouterr().out)  # orders are not money


def test_target_json_carries_the_currency(tmp_path, capsys):
    out = tmp_path / "list.csv"
    args = ["target", "demo", "--budget", "20", "--model", "two_model_logistic"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] == "USD"


def test_uplift_json_carries_the_currency_of_money_outcomes(shared_data, capsys):
    path = str(shared_data / "hillstrom" / "hillstrom.csv")
    args = ["uplift", path, "--outcome", "spend", "--model", "two_model_logistic"]
    assert main([*args, "--bootstrap", "5", "--repeats", "0", "--currency", "CAD", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["currency"] == "CAD"


def test_report_start_sets_the_currency_and_records_it(tmp_path, monkeypatch):
    """``start_report`` shows money in the dataset's currency and the run records it (the
    MLflow ``currency`` parameter is logged from the run record)."""
    from crm_models.reporting import start_report

    monkeypatch.setenv("CRM_MODELS_TRACKING", "off")
    folder = _shop(tmp_path / "shop", "GBP")
    namespace = {
        "In": [f"dataset = {str(folder)!r}\noutput_dir = {str(tmp_path / 'run')!r}"],
        "dataset": str(folder),
        "output_dir": str(tmp_path / "run"),
    }
    ds, _, run = start_report("customer_base", namespace)
    assert plotting.current_currency() == "GBP" and money(-1234) == "-£1,234"
    run.headline("revenue", 1234.0, fmt=money)
    run.finish()
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["currency"] == "GBP" and record["headlines"][0]["display"] == "£1,234"


def test_report_run_logs_currency_to_mlflow(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from crm_models.reporting.tracking import ReportRun

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("CRM_MODELS_TRACKING", raising=False)
    ds = load_dataset(_shop(tmp_path / "shop", "EUR"))
    run = ReportRun("customer_base", ds, params={"dataset": "shop"}, output_dir=tmp_path / "r")
    logged = run.finish()
    assert MlflowClient(tracking_uri=uri).get_run(logged).data.params["currency"] == "EUR"


def test_charts_and_sentences_follow_the_currency():
    from crm_models.charts import revenue, targeting, value

    use_currency("GBP")
    nlv = pd.DataFrame(
        {"revenue": [100.0, 120.0], "partial": [False, True]},
        index=pd.PeriodIndex(["2024-01", "2024-02"], freq="M"),
    )
    assert revenue.revenue_bars(nlv, "month").layout.yaxis.title.text == "revenue (£)"
    assert targeting.signed_format(rate=False)(1.5) == "£1.50"
    average = {"purchases_per_year": 2.0, "leave_probability": 0.3, "spend_per_purchase": 12.5}
    text = value.average_customer_text(average)
    assert "£12.50" in text and "$" not in text
    use_currency(None)
    assert revenue.revenue_bars(nlv, "month").layout.yaxis.title.text == "revenue"
    assert targeting.signed_format(rate=False)(1.5) == "1.50"
