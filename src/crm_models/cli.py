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
from crm_models.contract import DataError


def _dataset_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument("--as-of", help="as-of date (YYYY-MM-DD); default: last date in the data")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="TABLE.COLUMN=SOURCE",
        help="map a source column onto a contract column (repeatable)",
    )


def _load(args: argparse.Namespace, spec: str, *, validate_as_of: bool = False):
    from crm_models.datasets import Mapping, load_dataset
    from crm_models.progress import stage

    mapping = Mapping.from_pairs(args.map) if getattr(args, "map", None) else None
    with stage(f"loading {spec}"):
        return load_dataset(spec, mapping=mapping, as_of=args.as_of if validate_as_of else None)


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


def cmd_validate(args: argparse.Namespace) -> int:
    from crm_models.datasets import dataset_summary

    ds = _load(args, args.path, validate_as_of=True)
    summary = dataset_summary(ds)
    _print(
        {
            "valid": True,
            "dataset": ds.name,
            "tables": summary["tables"],
            "cleaning": summary["cleaning"],
        },
        args.json,
    )
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from crm_models.datasets import dataset_summary

    _print(dataset_summary(_load(args, args.dataset)), args.json)
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    from crm_models.features import customer_view
    from crm_models.progress import stage

    ds = _load(args, args.dataset)
    with stage("building the customer view"):
        view = customer_view(ds, as_of=args.as_of, time_unit=args.unit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        view.to_csv(out)
    elif out.suffix == ".parquet":
        view.to_parquet(out)
    else:
        raise ValueError(f"--out must end in .parquet or .csv, not {out.name!r}")
    _print({"customers": len(view), "as_of": view.attrs["as_of"], "out": str(out)}, args.json)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from crm_models.progress import stage
    from crm_models.simulate import simulate_retailer

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
    from crm_models.reporting import build_reports, parse_params

    kwargs = {
        "datasets": args.dataset or ("demo", "cdnow"),
        "only": args.only,
        "quick": args.quick,
        "params": parse_params(args.param),
        "cell_timeout": args.cell_timeout,
    }
    if args.out:
        kwargs["out"] = args.out
    result = build_reports(**kwargs)
    summary = {
        "index": str(result.index_path),
        "reports": len(result.published),
        "not_applicable": len(result.not_applicable),
        "elapsed_s": round(result.elapsed, 1),
    }
    _print(summary, args.json)
    return 0


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
    p.add_argument("--map", action="append", default=[], metavar="TABLE.COLUMN=SOURCE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_summary, as_of=None)
    p = dsub.add_parser(
        "simulate", help="write a simulated retailer (with ground truth) to a folder"
    )
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("view", help="the single customer view (one row per customer) to a file")
    p.add_argument("dataset", help="dataset name, folder or recognised file")
    _dataset_args(p)
    p.add_argument("--unit", choices=["W", "D"], default="W", help="time unit of recency and T")
    p.add_argument("--out", required=True, help="output .parquet or .csv")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_view)

    # -- analysis commands (one block per analysis module) --
    # [clv commands]
    # [segment commands]
    # [basket commands]
    # [targeting commands]
    # [forecast commands]

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DataError as err:
        print(
            f"error: {len(err.problems)} data problem(s) in {getattr(args, 'path', None) or getattr(args, 'dataset', '')}",
            file=sys.stderr,
        )
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {"valid": False, "problems": [p.to_dict() for p in err.problems]}, indent=2
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
