"""The ``crm-models`` command line: parse, call one package function, print.

Every command exits 0 on success and non-zero with a one-line reason on failure
(data problems are listed one per line after it).  ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from crm_models import __version__
from crm_models.data.contract import DataError
from crm_models.data.database import redact_url


def _dataset_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument("--as-of", help="as-of date (YYYY-MM-DD); default: last date in the data")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="TABLE.COLUMN=SOURCE",
        help="map a source column onto a contract column (repeatable)",
    )
    p.add_argument(
        "--date-format",
        metavar="FMT",
        help="strftime pattern of every text date column, e.g. %%d/%%m/%%Y (a table's "
        "date_format in mapping.json wins); default: one format inferred per column",
    )
    _currency_arg(p)


def _currency_code(code: str) -> str:
    """``--currency``'s value, refused (with the known codes) unless it is one."""
    from crm_models.data.currency import currency_issue

    issue = currency_issue(code)
    if issue is not None:
        raise argparse.ArgumentTypeError(issue)
    return code


def _day(text: str):
    """A date option's value as a day (midnight), refused unless it reads as a date."""
    import pandas as pd

    try:
        return pd.Timestamp(text).normalize()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _currency_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--currency",
        type=_currency_code,
        metavar="CODE",
        help="ISO 4217 code of the amounts (GBP, EUR, ...); overrides the dataset's own "
        "(mapping.json options.currency, or the one a recognised file is in)",
    )


def _engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine`` and its settings, on every command that reads a dataset."""
    from crm_models.engine import ENGINES

    g = p.add_argument_group("engine (where the heavy aggregation runs)")
    g.add_argument(
        "--engine",
        choices=ENGINES,
        help="auto (default): pandas for small data, DuckDB out of core for large files; "
        "pandas, duckdb or spark (pip install 'crm-models[spark]')",
    )
    g.add_argument("--memory-limit", metavar="SIZE", help="DuckDB memory cap, e.g. 8GB")
    g.add_argument("--spark-master", metavar="URL", help="Spark master (default local[2])")


def _leaf_parsers(parser: argparse.ArgumentParser):
    """Every parser that runs a command (the leaves of the sub-command tree)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield parser
    for action in actions:
        for child in dict.fromkeys(action.choices.values()):
            yield from _leaf_parsers(child)


def _open(args: argparse.Namespace, spec: str):
    """What the user named, through the one way in (:func:`crm_models.engine.open_dataset`):
    an engine source or a loaded Dataset, its contract checked either way (out of core by
    the engine: every problem at once, exit 2, as on load)."""
    from crm_models.data.mapping import Mapping
    from crm_models.engine import Source, aggregates, open_dataset
    from crm_models.progress import stage

    pairs, date_format = getattr(args, "map", None), getattr(args, "date_format", None)
    mapping = Mapping.from_pairs(pairs or [], date_format) if pairs or date_format else None
    with stage(f"opening {redact_url(str(spec))}"):
        ds = open_dataset(spec, mapping=mapping, as_of=args.as_of)
        if isinstance(ds, Source) and ds.fingerprint is None:  # read out of core
            ds = aggregates.checked(ds)
    for warning in ds.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if getattr(args, "currency", None):
        ds.currency = args.currency
    return ds


def _simulate_args(p: argparse.ArgumentParser, partitioned: bool) -> None:
    """Options of ``simulate`` and ``data simulate`` (partitioned adds --chunk-customers)."""
    p.add_argument("--customers", type=int, default=20_000, help="customers (20,000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    p.add_argument("--out", required=True, help="output folder")
    if partitioned:
        p.add_argument(
            "--chunk-customers",
            type=int,
            help="customers simulated and written at a time; peak memory grows with it "
            "(default 250,000: about 1 GB)",
        )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate, partitioned=partitioned, chunk_customers=None)


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))
    else:
        for key, value in obj.items():
            if isinstance(value, list):
                print(f"{key}:")
                for item in value:
                    print(f"  - {item}")
            else:
                print(f"{key}: {value}")


def _basket_file(spec: str) -> dict | None:
    """The summary of a basket file (e.g. Groceries: no customers, one basket per line), or
    None when ``spec`` names a dataset."""
    from crm_models.data.basket_files import basket_file_summary
    from crm_models.data.loading import is_basket_file

    path = Path(spec)
    return basket_file_summary(path) if path.is_file() and is_basket_file(path) else None


def cmd_validate(args: argparse.Namespace) -> int:
    from crm_models.data.loading import dataset_summary
    from crm_models.engine import Source, aggregates

    baskets = _basket_file(args.path)
    if baskets is not None:
        _print({"valid": True, **baskets, "problems": [], "warnings": []}, args.json)
        return 0
    ds = _open(args, args.path)  # out of core: the engine checked the contract
    if isinstance(ds, Source):
        summary = aggregates.source_summary(ds)
    else:
        summary = dataset_summary(ds)
    _print(
        {
            "valid": True,
            "dataset": ds.name,
            "tables": summary["tables"],
            "problems": [],
            "warnings": [w.to_dict() if args.json else str(w) for w in ds.warnings],
            "cleaning": summary["cleaning"],
        },
        args.json,
    )
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from crm_models.data.loading import dataset_summary
    from crm_models.engine import Source, aggregates

    baskets = _basket_file(args.dataset)
    if baskets is not None:
        _print(baskets, args.json)
        return 0
    ds = _open(args, args.dataset)
    summary = aggregates.source_summary(ds) if isinstance(ds, Source) else dataset_summary(ds)
    _print({**summary, "currency": ds.currency}, args.json)
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    from crm_models.features import customer_view
    from crm_models.progress import stage
    from crm_models.table_files import write_csv

    ds = _open(args, args.dataset)
    with stage("building the customer view"):
        view = customer_view(ds, as_of=args.as_of, time_unit=args.unit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        write_csv(view, out, index=True)
    elif out.suffix == ".parquet":
        view.to_parquet(out)
    else:
        raise ValueError(f"--out must end in .parquet or .csv, not {out.name!r}")
    _print({"customers": len(view), "as_of": view.attrs["as_of"], "out": str(out)}, args.json)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """``simulate`` (chunked, partitioned Parquet) and ``data simulate`` (in memory, a file a
    table): one handler, so both take the same options and print alike."""
    from crm_models.data.simulate import simulate_retailer
    from crm_models.progress import stage

    if args.partitioned:
        from crm_models.data.simulate_parquet import write_partitioned

        chunk = args.chunk_customers
        chunking = {} if chunk is None else {"chunk_customers": chunk}
        manifest = write_partitioned(args.out, args.customers, seed=args.seed, **chunking)
        manifest.pop("parts")
        _print({"out": str(Path(args.out)), **manifest}, args.json)
        return 0
    with stage(f"simulating {args.customers:,} customers"):
        sim = simulate_retailer(n_customers=args.customers, seed=args.seed)
    folder = sim.write(args.out)
    _print(
        {
            "out": str(folder),
            **{
                t: len(getattr(sim, t))
                for t in ("transactions", "customers", "campaigns", "products")
            },
        },
        args.json,
    )
    return 0


def cmd_reports_build(args: argparse.Namespace) -> int:
    from crm_models.reporting import ReportsFailed, build_reports, parse_params

    kwargs = {
        "datasets": args.dataset or ("demo", "cdnow"),
        "only": args.only,
        "quick": args.quick,
        "params": parse_params(args.param),
        "cell_timeout": args.cell_timeout,
    }
    if args.out:
        kwargs["out"] = args.out
    try:
        result, failure = build_reports(**kwargs), None
    except ReportsFailed as exc:
        result, failure = exc.result, exc
    summary = {
        "index": str(result.index_path),
        "reports": len(result.published),
        "not_applicable": len(result.not_applicable),
        "failed": len(result.failed) + len(result.problems),
        "failures": [f"{e.dataset}/{e.slug}: {e.reason}" for e in result.failed] + result.problems,
        "elapsed_s": round(result.elapsed, 1),
    }
    _print(summary, args.json)
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def cmd_reports_site(args: argparse.Namespace) -> int:
    from crm_models.paths import reports_dir
    from crm_models.reporting.publish import export_site

    files = export_site(args.reports or reports_dir(), args.out)
    _print({"site": str(args.out), "files": len(files)}, args.json)
    return 0


def cmd_clv_fit(args: argparse.Namespace) -> int:
    from crm_models.features import resolve_as_of
    from crm_models.progress import stage
    from crm_models.value import auto_comparison, fit_and_validate, purchase_model_for
    from crm_models.value.validation import default_calibration_end

    auto = args.model == "auto"
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()] or None
    if covariates and not auto:
        raise ValueError("--covariates needs --model auto (only the stacked model uses them)")
    # an engine source sums the lines out of core (auto: the purchase days too)
    ds = _open(args, args.dataset)
    choice: dict = {}
    cal_end = args.calibration_end
    if auto:
        holdout_end = resolve_as_of(ds, args.holdout_end)
        cal_end = cal_end or default_calibration_end(ds, holdout_end)
        with stage("choosing the model on an inner split and comparing on the holdout"):
            choice = auto_comparison(ds, cal_end, holdout_end, args.period, covariates)
    # auto: parameters, intervals and fit checks are those of the chosen model's BTYD purchase
    # model (BG/NBD under a naive or stacked forecast; key purchase_model)
    model = purchase_model_for(choice["model_chosen"]) if auto else args.model
    with stage(f"fitting {model} and scoring the holdout"):
        result = fit_and_validate(ds, cal_end, args.holdout_end, model=model, time_unit=args.period)
    out = result.to_dict()
    if auto:
        out.update(choice, purchase_model=out["model"])
    _print({**out, "currency": ds.currency}, args.json)
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from crm_models.features import customer_view
    from crm_models.progress import stage
    from crm_models.segments import segment_customers
    from crm_models.table_files import write_csv

    ds = _open(args, args.dataset)
    with stage("building the customer view"):
        view = customer_view(ds, as_of=args.as_of)
    with stage("scoring RFM and choosing stable clusters"):
        result = segment_customers(view, quick=args.quick, random_state=args.seed)
    summary = result.to_dict()
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        table = result.to_frame()
        if out.suffix == ".parquet":
            table.to_parquet(out)
        elif out.suffix == ".csv":
            write_csv(table, out, index=True)
        else:
            raise ValueError(f"--out must end in .csv or .parquet, not {out.name!r}")
        summary["out"] = str(out)
    if not args.json:
        summary["rfm_segments"] = [
            f"{k}: {v['customers']:,} customers, {v['revenue_share']:.1%} of revenue"
            for k, v in summary["rfm_segments"].items()
        ]
        summary["clusters"] = [
            f"{k}: {v['customers']:,} customers, {v['revenue_share']:.1%} of revenue"
            for k, v in summary["clusters"].items()
        ]
    _print(summary, args.json)
    return 0


def _memory_budget(text: str) -> int:
    """``--memory-budget`` as bytes ("2GB", "500MB")."""
    from crm_models.baskets import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_basket(args: argparse.Namespace) -> int:
    from crm_models.baskets import as_baskets, basket_summary
    from crm_models.progress import stage

    # an engine Source with --engine duckdb|spark (or auto, large): only the (basket, item)
    # pairs leave the engine; a basket file loads as baskets only
    loaded = _open(args, args.dataset)
    with stage("collecting baskets"):
        baskets = as_baskets(loaded, level=args.level)
    with stage(f"mining rules in {baskets.n_baskets:,} baskets"):
        result = basket_summary(
            baskets,
            args.min_support,
            args.min_confidence,
            args.min_len,
            args.max_len,
            memory_budget=args.memory_budget,
        )
    if not args.json:
        result["top_rules"] = [
            f"{{{', '.join(r['antecedents'])}}} => {{{', '.join(r['consequents'])}}}  "
            f"support {r['support']:.4f}  confidence {r['confidence']:.3f}  "
            f"lift {r['lift']:.2f}  count {r['count']}"
            for r in result["top_rules"]
        ]
        if not result["rules"]:
            result["hint"] = "no rules at these thresholds: lower --min-support or confidence"
    _print(result, args.json)
    return 0


def _max_fit_rows_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-fit-rows",
        type=int,
        metavar="N",
        help="fit the models on a stratified sample of N campaign rows when there are more "
        "(65,000, targeting.MAX_FIT_ROWS; 0: every row); the output says when it did",
    )


def cmd_uplift(args: argparse.Namespace) -> int:
    from crm_models.progress import stage
    from crm_models.targeting import is_rate_outcome, uplift_summary

    ds = _open(args, args.dataset)  # an engine Source with --engine duckdb|spark (or auto, large)
    with stage(f"fitting and testing uplift models for {args.outcome}"):
        result = uplift_summary(
            ds,
            outcome=args.outcome,
            arms=args.arm,
            model=args.model,
            test_size=args.test_size,
            seed=args.seed,
            n_boot=args.bootstrap,
            repeats=args.repeats,
            max_fit_rows=args.max_fit_rows,
        )
    if not is_rate_outcome(args.outcome):  # effects are amounts of money
        result["currency"] = ds.currency
    if not args.json:
        result["arms"] = [
            f"{name}: {a['customers']:,} customers, rate {a['response_rate']:.4f}, "
            f"ATE {a['ate']:+.4f}; test: uplift@30% {a['uplift_at_30']:+.4f} "
            f"(95% {a['uplift_at_30_ci'][0]:+.4f} .. {a['uplift_at_30_ci'][1]:+.4f}), "
            f"baseline {a['baseline_uplift_at_30']:+.4f}, Qini {a['qini_auc']:.3f}, "
            f"AUUC {a['auuc']:.3f}"
            for name, a in result["arms"].items()
        ]
    _print(result, args.json)
    return 0


def cmd_target(args: argparse.Namespace) -> int:
    from crm_models.progress import stage
    from crm_models.targeting import (
        ContactPolicy,
        arm_label,
        build_contact_list,
        check_holdout,
        check_list_path,
        default_campaign_id,
        holdout_summary,
        mailing_list,
        write_contact_list,
    )

    if args.budget is None and args.budget_amount is None:
        args.target_parser.error(
            "the following arguments are required: --budget (or --budget-amount)"
        )
    for option, check, value in (
        ("--out", check_list_path, args.out),
        ("--holdout", check_holdout, args.holdout),
    ):
        try:
            check(value)
        except ValueError as err:  # before the model is fitted: nothing written, exit 2
            args.target_parser.error(f"argument {option}: {err}")
    ds = _open(args, args.dataset)  # an engine Source with --engine duckdb|spark (or auto, large)
    policy = ContactPolicy(
        budget=args.budget,
        budget_money=args.budget_amount,
        cost_per_contact=args.cost_per_contact,
        max_contacts=args.max_contacts,
        window_days=args.window_days,
        channels=tuple(args.channel) if args.channel else None,
        margin=args.margin,
        clv_weight=args.clv_weight,
        send_date=args.send_date,
    )
    with stage("fitting the targeting model and choosing whom to contact"):
        result, _ = build_contact_list(
            ds,
            policy,
            learner=args.model,
            as_of=args.as_of,
            max_fit_rows=args.max_fit_rows,
            value_model=args.value_model,
        )
    send = result.summary["send_date"]
    campaign = args.campaign_id or default_campaign_id(ds.name, send)
    contacts = result.contacts.assign(arm=result.contacts["arm"].map(lambda a: arm_label(ds, a)))
    mailing = mailing_list(contacts, send, campaign, args.holdout, args.seed)
    out = write_contact_list(mailing, args.out)
    summary = {"out": str(out), **result.summary, "currency": ds.currency}
    summary.update(campaign_id=campaign, seed=args.seed, **holdout_summary(mailing))
    summary["by_arm"] = {arm_label(ds, k): v for k, v in summary["by_arm"].items()}
    summary["comparison"] = result.comparison.round(2).to_dict(orient="records")
    if not args.json:
        summary["comparison"] = [
            f"{r['strategy']}: {r['contacts']:,} contacts, expected incremental profit "
            f"{r['expected_incremental_profit']:,.2f}"
            for r in summary["comparison"]
        ]
    _print(summary, args.json)
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from crm_models.forecast import forecast_sales, segment_forecasts
    from crm_models.progress import stage
    from crm_models.value import value_model_choice

    ds = _open(args, args.dataset)  # an engine Source with --engine duckdb|spark (or auto, large)
    kw = dict(horizon=args.horizon, windows=args.backtest_windows, step=args.step)
    choice, bottom_up = None, {}
    if ds.has("transactions"):  # the bottom-up forecast's customer model (auto: the rule's)
        choice = value_model_choice(ds, args.value_model, None, args.as_of)
        bottom_up["purchase_model"] = choice["model_chosen"]
    with stage(f"backtesting and forecasting {args.measure} per {args.freq}"):
        result = forecast_sales(
            ds, args.measure, args.freq, as_of=args.as_of, quick=args.quick, **kw, **bottom_up
        )
    out = result.to_dict()
    if choice is not None and "bottom_up" in out:
        out["bottom_up_value_model"] = {k: choice[k] for k in ("model_chosen", "choice_rule")}
    if args.measure == "revenue":
        out["currency"] = ds.currency
    if args.by:
        table = segment_forecasts(
            ds,
            args.by,
            args.measure,
            args.freq,
            as_of=args.as_of,
            quick=args.quick,
            n_jobs=None,
            **kw,
        )
        out["by"] = {
            str(level): {k: (None if v != v else v) for k, v in row.items()}
            for level, row in table.to_dict(orient="index").items()
        }
    if not args.json:
        out["forecast"] = [
            f"{f['date']}: {f['mean']:,.0f} (80%: {f['lower_80']:,.0f} to {f['upper_80']:,.0f};"
            f" 95%: {f['lower_95']:,.0f} to {f['upper_95']:,.0f})"
            for f in out["forecast"]
        ]
        out["backtest"] = [
            f"{name}: MASE {m['mase']:.3f}, sMAPE {m['smape']:.3f}, "
            f"coverage 80% {m['coverage_80']:.2f}, 95% {m['coverage_95']:.2f}"
            for name, m in out["backtest"].items()
        ]
        out.pop("bottom_up", None)
        if "by" in out:
            out["by"] = [
                f"{level}: {r['model']}, next {r.get('next_period', float('nan')):,.0f}"
                for level, r in out["by"].items()
            ]
    _print(out, args.json)
    return 0


def _value_model_option(p: argparse.ArgumentParser, what: str, default: str = "auto") -> None:
    from crm_models.value import VALUE_MODELS

    p.add_argument(
        "--value-model",
        choices=VALUE_MODELS,
        default=default,
        help=f"{what} (default {default}); auto applies the choice rule of clv fit --model auto",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-models", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"crm-models {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="check and describe datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("validate", help="check a dataset against the contract; list every problem")
    p.add_argument("path", help="dataset name, folder or recognised file")
    _dataset_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)
    p = dsub.add_parser("summary", help="headline counts of a dataset")
    p.add_argument("dataset", help="dataset name (demo, cdnow, cdnow_sample), folder or file")
    _dataset_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_summary)
    p = dsub.add_parser(
        "simulate", help="write a simulated retailer (with ground truth) to a folder"
    )
    _simulate_args(p, partitioned=False)

    p = sub.add_parser(
        "simulate",
        help="write a simulated retailer of any size as partitioned Parquet, chunk by chunk",
    )
    _simulate_args(p, partitioned=True)

    p = sub.add_parser("view", help="the single customer view (one row per customer) to a file")
    p.add_argument("dataset", help="dataset name, folder or recognised file")
    _dataset_args(p)
    p.add_argument("--unit", choices=["W", "D"], default="W", help="time unit of recency and T")
    p.add_argument("--out", required=True, help="output .parquet or .csv")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_view)

    # -- analysis commands (one block per analysis module) --
    # [clv commands]
    clv = sub.add_parser("clv", help="customer lifetime value models")
    csub = clv.add_subparsers(dest="clv_command", required=True)
    p = csub.add_parser(
        "fit", help="fit BG/NBD or Pareto/NBD on a calibration period and score the holdout"
    )
    p.add_argument("dataset", help="dataset name, folder or recognised file")
    p.add_argument("--calibration-end", help="last day of the calibration period (YYYY-MM-DD)")
    p.add_argument("--holdout-end", help="last day of the holdout (default: last date in data)")
    p.add_argument(
        "--model",
        choices=["bgnbd", "pareto_nbd", "auto"],
        default="bgnbd",
        help="auto: choose among BG/NBD, Pareto/NBD, the naive rate and the stacked model by "
        "MAE on an inner split of the calibration period; adds model_chosen and comparison",
    )
    p.add_argument(
        "--covariates",
        default="",
        help="COL,... customer attributes (customers table) for the stacked model (with auto)",
    )
    p.add_argument("--period", choices=["W", "D"], default="W", help="time unit (weeks)")
    _dataset_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_clv_fit)

    # [segment commands]
    p = sub.add_parser(
        "segment", help="RFM segments and stable behavioural clusters of every customer"
    )
    p.add_argument("dataset", help="dataset name, folder or recognised file")
    _dataset_args(p)
    p.add_argument("--out", help="customer -> segment table (.csv or .parquet)")
    p.add_argument("--quick", action="store_true", help="fewer bootstrap refits (faster)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same segments)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_segment)

    # [basket commands]
    p = sub.add_parser(
        "basket", help="association rules of baskets (as arules apriori) from data or a basket file"
    )
    p.add_argument(
        "dataset",
        help="dataset name, folder, recognised file, or a basket file (one basket per line, "
        "items separated by commas, e.g. Groceries)",
    )
    _dataset_args(p)
    p.add_argument("--level", choices=["product", "category"], default="product")
    p.add_argument(
        "--min-support",
        type=float,
        help="default: chosen from the data, the lowest of 0.5, 0.2, 0.1, 0.05, ... 0.0001 whose "
        "itemsets fit --memory-budget, never under 20 baskets (the JSON says which and why)",
    )
    p.add_argument("--min-confidence", type=float, default=0.8, help="default 0.8 (as arules)")
    p.add_argument("--min-len", type=int, default=1, help="items in the rule, both sides (1)")
    p.add_argument("--max-len", type=int, default=10, help="items in the rule, both sides (10)")
    p.add_argument(
        "--memory-budget",
        type=_memory_budget,
        default="1GB",
        help="memory the itemsets and rules may take on top of the data, e.g. 2GB (default 1GB); "
        "over it mining stops with an error naming the support that fits",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_basket)

    # [targeting commands]
    p = sub.add_parser(
        "uplift", help="fit uplift models on campaign data and test them on a held-out part"
    )
    p.add_argument("dataset", help="dataset name, folder or recognised file (e.g. hillstrom.csv)")
    p.add_argument("--outcome", default="responded", help="outcome column (default responded)")
    p.add_argument("--arm", action="append", help="arm(s) to evaluate (default: every arm)")
    p.add_argument("--model", help="uplift model (default: chosen on a validation part)")
    p.add_argument("--test-size", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (200)")
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="further train/test splits for the 90%% Qini and uplift@30%% intervals (5; 0: none)",
    )
    _max_fit_rows_arg(p)
    _dataset_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_uplift)

    p = sub.add_parser("target", help="the profit-optimal contact list under a budget (CSV)")
    p.add_argument("dataset", help="dataset name, folder or recognised file")
    _dataset_args(p)
    p.add_argument(
        "--budget",
        type=int,
        help="maximum number of contacts (required unless --budget-amount is given)",
    )
    p.add_argument(
        "--budget-amount",
        type=float,
        metavar="X",
        help="maximum total contact cost in money (with --budget, both hold)",
    )
    p.add_argument("--cost-per-contact", type=float, default=0.5)
    p.add_argument(
        "--clv-weight",
        type=float,
        default=0.5,
        help="weight of the lifetime-value gain a response brings (0.5; 0 switches it off)",
    )
    p.add_argument("--max-contacts", type=int, default=2, help="cap: contacts in the window (2)")
    p.add_argument("--window-days", type=int, default=30, help="cap window in days (30)")
    p.add_argument("--channel", action="append", help="channel(s) this send may use")
    p.add_argument("--margin", type=float, default=1.0, help="profit share of response value")
    p.add_argument(
        "--model",
        default="auto",
        help="uplift model (default auto: the cross-fitted choice, or the two-model logistic "
        "baseline when it does not beat it; any model name of `uplift --model` also works)",
    )
    p.add_argument(
        "--out",
        default="contact_list.csv",
        help="list to write, as .csv, .parquet or .xlsx by its extension (contact_list.csv)",
    )
    p.add_argument(
        "--holdout",
        type=float,
        default=0.1,
        metavar="SHARE",
        help="share of the selected customers kept back as a control group, not mailed, so "
        "that the campaign can be measured (0.1; 0 mails everyone)",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the hold-out draw (42)")
    _value_model_option(p, "the lifetime-value term's model")
    _max_fit_rows_arg(p)
    p.add_argument(
        "--campaign-id",
        help="campaign id on every row (default <dataset>-<send date as YYYYMMDD>)",
    )
    p.add_argument(
        "--send-date",
        type=_day,
        help="planned send date, YYYY-MM-DD (default the day after the as-of day); "
        "opt-outs and the frequency cap are checked on it",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_target, target_parser=p)

    # [forecast commands]
    p = sub.add_parser(
        "forecast", help="backtested sales forecast with 80%% and 95%% intervals (and bottom-up)"
    )
    p.add_argument("dataset", help="dataset name, folder or recognised file")
    _dataset_args(p)
    p.add_argument("--measure", choices=["revenue", "orders", "customers"], default="revenue")
    p.add_argument("--freq", choices=["W", "M", "Q"], default="M", help="weeks, months, quarters")
    p.add_argument("--horizon", type=int, help="periods ahead (default 3 M, 13 W, 2 Q)")
    p.add_argument("--by", help="also forecast every level of this column (category, region, ...)")
    p.add_argument("--backtest-windows", type=int, help="rolling origins (default 6 M, 4 W)")
    p.add_argument("--step", type=int, help="periods between origins (default 1 M, 4 W)")
    p.add_argument("--quick", action="store_true", help="fewer models and windows (faster)")
    # bgnbd by default: forecast also runs out of core (--engine), where the comparison of
    # auto cannot run, and gives the same JSON on every engine
    _value_model_option(p, "the bottom-up forecast's customer model", "bgnbd")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_forecast)

    reports = sub.add_parser("reports", help="regenerate the HTML reports")
    rsub = reports.add_subparsers(dest="reports_command", required=True)
    p = rsub.add_parser("build", help="execute the notebooks and publish HTML reports")
    p.add_argument(
        "--dataset", action="append", help="dataset(s) to report on (default: demo and cdnow)"
    )
    p.add_argument("--only", action="append", help="build only this report (slug, repeatable)")
    p.add_argument("--quick", action="store_true", help="small, fast runs (tests, previews)")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="notebook parameter override (repeatable)",
    )
    p.add_argument("--out", help="output folder (default: reports/)")
    p.add_argument(
        "--cell-timeout", type=int, default=None, help="seconds before a notebook cell is stopped"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reports_build)
    p = rsub.add_parser(
        "site",
        help="copy only what readers may see (index and report pages) into a folder to publish",
    )
    p.add_argument("--out", required=True, help="folder for the site (created; must be empty)")
    p.add_argument("--reports", help="the build's output folder (default: reports/)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reports_site)
    for leaf in _leaf_parsers(parser):
        if leaf.get_default("func") not in (cmd_simulate, cmd_reports_site):
            _engine_args(leaf)
    return parser


def main(argv: list[str] | None = None) -> int:
    # MLflow's INFO lines (creating tables, validating an input example) are not for report
    # readers; MLFLOW_LOGGING_LEVEL=INFO brings them back
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    args = build_parser().parse_args(argv)
    try:
        if not hasattr(args, "engine"):
            return args.func(args)
        from crm_models.engine import configured

        with configured(args.engine, args.memory_limit, args.spark_master):
            return args.func(args)
    except DataError as err:
        print(
            f"error: {len(err.problems)} data problem(s) in {redact_url(str(getattr(args, 'path', None) or getattr(args, 'dataset', '')))}",
            file=sys.stderr,
        )
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {
                        "valid": False,
                        "problems": [p.to_dict() for p in err.problems],
                        "warnings": [],
                    },
                    indent=2,
                )
            )
        return 2
    except Exception as err:  # one line for schedulers; CRM_MODELS_DEBUG=1 shows the traceback
        if os.environ.get("CRM_MODELS_DEBUG"):
            raise
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"error: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
