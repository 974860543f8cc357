"""Can the data be trusted: contract problems, warnings and headline counts of a source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from crm_models.data.contract import SCHEMAS, DataError, Problem
from crm_models.data.privacy import quote_value
from crm_models.data.quality import (
    MIN_MODEL_CUSTOMERS,
    NO_CONTROL,
    NO_RESPONSE,
    NO_SALES,
    too_few_buyers,
)
from crm_models.engine.aggregates._common import count_if, load_ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from crm_models.engine.sources import Source


_CAST_ISSUE = {"date": "unparseable date", "number": "not a number", "bool": "not a yes/no value"}


def _examples(src: Source, t: ir.Table, bad: ir.BooleanValue, cols: list[str]) -> list[str]:
    rows = src.execute(t.filter(bad).select(*cols).limit(3))
    return [", ".join(f"{c}={quote_value(r[c])}" for c in cols) for _, r in rows.iterrows()]


def validation_problems(src: Source, duplicates: str = "error") -> list:
    """Every contract problem of an out-of-core source, counted in the engine: missing
    required columns, missing values, values that do not parse, ids that look like e-mail
    addresses (hashed only on the in-memory path) and exact duplicate lines."""

    problems: list[Problem] = []
    for name, t in src.tables.items():
        file = src.files.get(name, name)
        raw = src.raw.get(name, t)
        specs = {c.name: c for c in SCHEMAS[name]}
        for spec in specs.values():
            if spec.required and spec.name not in t.columns:
                found = ", ".join(t.columns)
                problems.append(
                    Problem(file, spec.name, f"required column missing (found: {found})", 0)
                )
        checks = []
        for col in t.columns:
            spec = specs.get(col)
            if spec is None:
                continue
            before = raw[col]
            if before.type().is_string():
                before = before.strip().nullif("")
            cast = t[col].type()
            value = before if before.type() == cast else before.try_cast(cast)
            if spec.required and not (name == "transactions" and col == "customer_id"):
                checks.append((col, "missing value", before.isnull()))
            if spec.kind in _CAST_ISSUE:
                checks.append((col, _CAST_ISSUE[spec.kind], before.notnull() & value.isnull()))
            if spec.kind == "id" and str(value.type()).startswith("string"):
                checks.append(
                    (
                        col,
                        "ids look like e-mail addresses (use --engine pandas)",
                        value.contains("@"),
                    )
                )
        if not checks:
            continue
        counts = src.execute(
            raw.aggregate(**{f"c{i}": count_if(bad) for i, (_, _, bad) in enumerate(checks)})
        )
        for i, (col, issue, bad) in enumerate(checks):
            n = int(counts[f"c{i}"].iloc[0] or 0)
            if n:
                problems.append(Problem(file, col, issue, n, _examples(src, raw, bad, [col])))
        if name == "transactions" and duplicates == "error":
            dup = int(src.execute(t.count()) - src.execute(t.distinct().count()))
            if dup:
                problems.append(
                    Problem(
                        file,
                        None,
                        "duplicate lines (set duplicates: drop or keep in mapping.json)",
                        dup,
                    )
                )
    return problems


def source_summary(src: Source) -> dict[str, Any]:
    """Headline counts of a source, computed in the engine (the keys and contract definitions
    of :func:`crm_models.data.loading.dataset_summary`)."""
    ibis = load_ibis()
    out: dict[str, Any] = {
        "name": src.name,
        "source": src.location,
        "engine": src.engine,
        **({"fingerprint": src.fingerprint} if src.fingerprint else {}),
        "tables": {n: int(src.execute(t.count())) for n, t in src.tables.items()},
    }
    if src.has("transactions"):
        tx = src.table("transactions")
        net = tx.group_by("order_id").aggregate(net=tx.amount.sum())
        orders = src.execute(
            net.aggregate(orders=count_if(net.net > 0), return_orders=count_if(net.net < 0))
        ).iloc[0]
        row = src.execute(
            tx.aggregate(
                customers=tx.customer_id.nunique(),
                revenue=tx.amount.sum(),
                returns=ibis.ifelse(tx.amount < 0, tx.amount, 0.0).sum(),
                anonymous_lines=count_if(tx.customer_id.isnull()),
                first_date=tx.order_date.min(),
                last_date=tx.order_date.max(),
            )
        ).iloc[0]
        out.update(
            customers=int(row["customers"]),
            transactions=out["tables"]["transactions"],
            orders=int(orders["orders"] or 0),
            return_orders=int(orders["return_orders"] or 0),
            revenue=round(float(row["revenue"]), 2),
            returns=round(abs(float(row["returns"])), 2),
            anonymous_lines=int(row["anonymous_lines"] or 0),
            first_date=str(pd.Timestamp(row["first_date"]).date()),
            last_date=str(pd.Timestamp(row["last_date"]).date()),
        )
    else:
        customers = src.table("customers")
        out.update(
            customers=int(src.execute(customers.customer_id.nunique()))
            if customers is not None
            else 0,
            transactions=0,
            orders=0,
            revenue=0.0,
            first_date=None,
            last_date=None,
        )
    if src.has("campaigns"):
        c = src.table("campaigns")
        row = src.execute(
            c.aggregate(
                campaigns=c.campaign_id.nunique(),
                contacts=count_if(c.treated.fill_null(False)),
                first=c.sent_date.min(),
                last=c.sent_date.max(),
            )
        ).iloc[0]
        out["campaigns"] = int(row["campaigns"])
        out["campaign_contacts"] = int(row["contacts"])
        out["first_date"] = out["first_date"] or str(pd.Timestamp(row["first"]).date())
        out["last_date"] = out["last_date"] or str(pd.Timestamp(row["last"]).date())
    out["cleaning"] = list(src.notes)
    return out


def first_line_date(src: Source, as_of: pd.Timestamp) -> pd.Timestamp | None:
    """Date of the first transaction line (anonymous lines included) up to the as-of day."""
    ibis = load_ibis()
    tx = src.table("transactions")
    first = src.execute(
        tx.filter(tx.order_date < ibis.timestamp(as_of + pd.Timedelta(days=1))).order_date.min()
    )
    return None if first is None or pd.isna(first) else pd.Timestamp(first)


def source_warnings(src: Source) -> list[Problem]:
    """The warnings of :mod:`crm_models.data.quality` that an engine counts cheaply: a
    transactions table without a positive amount, too few customers with an order, campaigns
    without a control group or without a response (the percentile rules need the data in
    memory: ``--engine pandas``)."""
    out: list[Problem] = []
    if src.has("transactions"):
        tx = src.table("transactions")
        file = src.files.get("transactions", "transactions")
        row = src.execute(
            tx.aggregate(
                lines=tx.count(),
                sales=count_if(tx.amount > 0),
                zeros=count_if(tx.amount == 0),
            )
        ).iloc[0]
        buyers = int(src.execute(tx.filter(tx.amount > 0).customer_id.nunique()) or 0)
        lines, sales = int(row["lines"]), int(row["sales"] or 0)
        if lines and not sales:
            what = "all amounts are zero" if int(row["zeros"] or 0) == lines else "only returns"
            issue = f"{what}: {NO_SALES}"
            out.append(Problem(file, "amount", issue, lines))
        if 0 < buyers < MIN_MODEL_CUSTOMERS:
            out.append(Problem(file, "customer_id", too_few_buyers(buyers), lines))
    if src.has("campaigns"):
        c = src.table("campaigns")
        file = src.files.get("campaigns", "campaigns")
        per = c.group_by("campaign_id").aggregate(
            rows=c.count(),
            control=count_if(~c.treated.fill_null(True)),
            responses=count_if(c.responded.fill_null(False)),
        )
        for issue, bad in ((NO_CONTROL, per.control == 0), (NO_RESPONSE, per.responses == 0)):
            hits = per.filter(bad)
            hit = src.execute(hits.aggregate(n=hits.rows.sum(), k=hits.count())).iloc[0]
            if int(hit["k"] or 0):
                out.append(Problem(file, "campaign_id", issue, int(hit["n"])))
    return out


def checked(src: Source) -> Source:
    """An out-of-core source once the engine found no contract problem (the checks loading
    runs, :func:`validation_problems`: every problem at once in a
    :class:`~crm_models.data.contract.DataError`), with its :func:`source_warnings`."""
    problems = validation_problems(src)
    if problems:
        raise DataError(problems)
    src.warnings = source_warnings(src)
    return src
