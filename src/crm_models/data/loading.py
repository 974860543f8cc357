"""Where data comes from: built-in datasets, contract folders and known public files.

Everywhere a dataset is named, crm-models accepts

* a built-in name: ``demo`` (the simulated retailer of :mod:`crm_models.data.simulate`, generated on
  first use and cached under ``data/``), ``cdnow`` (the real CDNOW master log shipped with
  lifetimes), ``cdnow_sample`` (the 2,357-customer sample of Fader, Hardie & Lee 2005);
* a folder following the contract (``transactions``, ``customers``, ``campaigns``, ``products``
  as ``.csv``, ``.csv.gz`` or ``.parquet``, or as a folder of Parquet parts; an optional
  ``mapping.json`` renames columns and sets policies);
* a single file in a recognised public format, recognised from its columns: UCI Online Retail
  (csv or xlsx), the Hillstrom e-mail test (csv), CDNOW master or sample (txt).

Every path goes through :func:`crm_models.data.contract.conform`, so the same checks and cleaning
apply to all of them, and the result is one :class:`~crm_models.data.dataset.Dataset`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from crm_models.data.basket_files import (
    basket_table,
    has_ragged_lines,
    read_basket_lines,
)
from crm_models.data.contract import (
    SCHEMAS,
    ConformOptions,
    DataError,
    Problem,
    RawTable,
    column_list,
    conform,
)
from crm_models.data.database import DatabaseSource, load_database
from crm_models.data.dataset import TABLES, CleaningNote, Dataset, UnsupportedData
from crm_models.data.mapping import Mapping, quote_path, resolve_inside
from crm_models.data.quality import dataset_warnings
from crm_models.data.simulate import simulate_retailer, simulator_version
from crm_models.paths import data_dir

BUILTIN = ("demo", "cdnow", "cdnow_sample")
_EXTENSIONS = (".parquet", ".csv", ".csv.gz", ".tsv", ".xlsx")


def load_dataset(
    spec: str | os.PathLike,
    *,
    as_of: str | pd.Timestamp | None = None,
    mapping: Mapping | None = None,
    n_customers: int | None = None,
    seed: int | None = None,
) -> Dataset:
    """Load a dataset by built-in name, folder or recognised file, validated and cleaned.

    ``as_of`` opens the dataset as known at the end of that day: later orders, campaigns sent
    later, customers who signed up later and later opt-outs are set aside (counted in the
    cleaning log) and every analysis takes that day as its default as-of date.  Events after
    *today* are a problem either way.  ``ds.warnings`` lists what is suspicious but usable
    (:mod:`crm_models.data.quality`).  ``n_customers``/``seed`` size the simulated ``demo``
    retailer.
    """
    options = ConformOptions(as_of=pd.Timestamp(as_of) if as_of is not None else None)
    ds = _load(spec, options, mapping, n_customers, seed)
    ds.as_of = options.as_of
    ds.warnings = dataset_warnings(ds)
    return ds


def _load(
    spec: str | os.PathLike,
    options: ConformOptions,
    mapping: Mapping | None,
    n_customers: int | None,
    seed: int | None,
) -> Dataset:
    name = str(spec)
    if name == "demo":
        return _load_demo(options, n_customers or 20_000, 42 if seed is None else seed)
    if name in ("cdnow", "cdnow_sample"):
        return _load_cdnow(_lifetimes_file(name), name, options)
    if name.lower().startswith(("postgresql://", "postgres://")):
        return load_database(DatabaseSource.from_spec(name, mapping), options)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(
            f"no dataset {name!r}: not a built-in name ({', '.join(BUILTIN)}) nor an existing path"
        )
    if path.is_dir():
        return _load_folder(path, options, mapping)
    return _load_file(path, options, mapping)


# --- built-in datasets ---------------------------------------------------------------------


def _lifetimes_file(name: str) -> Path:
    """The CDNOW file shipped inside lifetimes, found without importing lifetimes (slow, and it
    silences FutureWarnings process-wide)."""
    fname = "CDNOW_master.txt" if name == "cdnow" else "CDNOW_sample.txt"
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the lifetimes package (which ships the CDNOW data) is not installed"
        )
    return Path(spec.submodule_search_locations[0]) / "datasets" / fname


def _load_demo(options: ConformOptions, n_customers: int, seed: int) -> Dataset:
    name = "demo" if (n_customers, seed) == (20_000, 42) else f"demo-{n_customers}-{seed}"
    folder = data_dir() / name
    version = simulator_version()
    stamp = folder / "SIMULATOR_VERSION"
    if not stamp.exists() or stamp.read_text().strip() != version:
        tmp = folder.with_name(f".{name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        simulate_retailer(n_customers=n_customers, seed=seed).write(tmp)
        (tmp / "SIMULATOR_VERSION").write_text(version)
        stale = folder.with_name(f".{name}.{os.getpid()}.stale")
        try:
            if folder.exists():
                folder.replace(stale)
            tmp.replace(folder)
        except OSError:  # another process cached it first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)
    ds = _load_folder(folder, options, None)
    ds.name = name
    ds.info["truth_dir"] = str(folder / "truth")
    return ds


def _load_cdnow(path: Path, name: str, options: ConformOptions) -> Dataset:
    """CDNOW master (header line) or sample (no header, master and sample ids) text files."""
    with open(path, encoding="ascii", errors="strict") as fh:
        first = fh.readline().split()
    has_header = not first[0].isdigit()
    raw = pd.read_csv(path, sep=r"\s+", header=None, skiprows=1 if has_header else 0, dtype=str)
    if raw.shape[1] == 5:  # sample: master id, sample id, date, cds, dollars
        raw = raw.iloc[:, 1:]
        name = "cdnow_sample" if name == "cdnow" and path.name != "CDNOW_master.txt" else name
    raw.columns = ["customer_id", "order_date", "quantity", "amount"]
    raw["customer_id"] = raw["customer_id"].astype("int64")
    raw.insert(1, "order_id", [f"L{i:06d}" for i in range(1, len(raw) + 1)])
    tables, notes = conform({"transactions": RawTable(raw, path.name)}, options)
    notes.insert(
        0,
        CleaningNote(
            "transactions",
            "order_id",
            len(raw),
            "CDNOW has no order ids: each line is one order, numbered in file order",
        ),
    )
    return Dataset(name, source=str(path), cleaning_log=notes, currency="USD", **tables)


# --- user folders --------------------------------------------------------------------------


def _find_table_file(folder: Path, table: str, spec: dict[str, Any]) -> Path | None:
    """The file (or folder of parts) of ``table``, confined to ``folder`` (:func:`resolve_inside`
    raises :class:`DataError` for a path that leads outside)."""
    if "file" in spec:
        key = f"mapping.json, key {table}.file"
        path = resolve_inside(folder, spec["file"], key)
        if not path.exists():
            issue = f"no file {quote_path(spec['file'])} in {folder.resolve().name}"
            raise DataError([Problem(key, None, issue, 0)])
        return path
    for ext in _EXTENSIONS:
        candidate = folder / f"{table}{ext}"
        if candidate.exists() or candidate.is_symlink():
            return resolve_inside(folder, candidate.name, candidate.name)
    parts = folder / table  # a table written in parts (crm-models simulate, Spark, DuckDB)
    if parts.is_dir() and any(parts.glob("*.parquet")):
        return resolve_inside(folder, table, f"{table}/")
    return None


def read_table(
    path: Path, spec: dict[str, Any], table: str
) -> tuple[pd.DataFrame | None, Problem | None]:
    """Read one file (or a folder of Parquet parts), renaming columns to contract names.

    Returns a problem instead of raising.
    """
    label = path.name
    if not path.exists():
        return None, Problem(label, None, "file named in mapping.json does not exist", 0)
    encoding = spec.get("encoding", "utf-8")
    renames = {src: dst for dst, src in spec.get("columns", {}).items()}
    id_cols = {c.name for c in SCHEMAS[table] if c.kind == "id"}
    try:
        if path.suffix == ".parquet" or path.is_dir():
            import pyarrow.parquet as pq

            # what pd.read_parquet does, minus its wrapping: 15% less time at 5M lines
            df = pq.read_table(path, use_pandas_metadata=True).to_pandas()
        elif path.suffix == ".xlsx":
            df = pd.read_excel(path)
        else:
            sep = "\t" if path.suffix == ".tsv" else ","
            header = pd.read_csv(path, nrows=0, sep=sep, encoding=encoding).columns
            as_text = {c: "string" for c in header if renames.get(c, c) in id_cols}
            df = pd.read_csv(path, sep=sep, encoding=encoding, dtype=as_text, low_memory=False)
    except UnicodeDecodeError as exc:
        return None, Problem(
            label,
            None,
            f"not valid {encoding} text (byte {exc.start}: "
            f'{exc.object[exc.start : exc.start + 1]!r}); set "encoding" in mapping.json',
            1,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        return None, Problem(
            label, None, f"cannot be read as a table ({str(exc).splitlines()[0]})", 1
        )
    df.columns = [str(c).strip() for c in df.columns]
    if path.suffix not in (".parquet", ".xlsx") and not path.is_dir():
        first = pd.read_csv(path, nrows=1, header=None, sep=sep, encoding=encoding, dtype=str)
        raw_names = [str(c).strip() for c in first.iloc[0]]  # as written (pandas renames twins)
    else:
        raw_names = list(df.columns)
    renamed = [renames.get(c, c) for c in raw_names]
    twice = sorted({c for c in renamed if renamed.count(c) > 1})
    if twice:
        issue = (
            f"column names used twice ({column_list(twice)}): which one holds the data is "
            "unclear; rename or remove the extra column"
        )
        return None, Problem(label, twice[0], issue, len(df))
    return df.rename(columns=renames), None


def _load_folder(folder: Path, options: ConformOptions, mapping: Mapping | None) -> Dataset:
    file_mapping = (
        Mapping.from_json(folder / "mapping.json")
        if (folder / "mapping.json").exists()
        else Mapping()
    )
    m = file_mapping.merge(mapping)
    if m.database is not None:  # the tables live in PostgreSQL
        ds = load_database(DatabaseSource.from_mapping(m, str(folder / "mapping.json")), options)
        ds.currency = m.options.get("currency")
        return ds
    opts = ConformOptions(
        as_of=options.as_of,
        allow_anonymous=bool(m.options.get("allow_anonymous", False)),
        duplicates=m.options.get("duplicates", "error"),
    )
    raws: dict[str, RawTable] = {}
    problems: list[Problem] = []
    paths: dict[str, Path] = {}
    for table in TABLES:  # every path is checked before any file is opened
        try:
            path = _find_table_file(folder, table, m.tables.get(table, {}))
        except DataError as err:
            problems += err.problems
            continue
        if path is not None:
            paths[table] = path
    if problems:
        raise DataError(problems)
    for table, path in paths.items():
        spec = m.tables.get(table, {})
        df, problem = read_table(path, spec, table)
        if problem:
            problems.append(problem)
        else:
            date_format = spec.get("date_format") or m.options.get("date_format")
            raws[table] = RawTable(df, path.name, date_format)
    if not raws and not problems:
        problems.append(
            Problem(
                str(folder),
                None,
                "no contract tables found (expected transactions.csv/"
                ".parquet, customers, campaigns or products)",
                0,
            )
        )
    if problems:
        try:
            conform(raws, opts)
        except DataError as err:
            problems += err.problems
        raise DataError(problems)
    tables, notes = conform(raws, opts)
    return Dataset(
        folder.name,
        source=str(folder),
        cleaning_log=notes,
        currency=m.options.get("currency"),
        **tables,
    )


# --- recognised public files ---------------------------------------------------------------

_ONLINE_RETAIL = {
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
}
_HILLSTROM = {
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
}


def recognise(path: Path) -> str:
    """Name the format of a single file from its columns (or raise a clear error): a public
    dataset's, or ``baskets`` for a basket file that matches none of them."""
    ragged = has_ragged_lines(path)
    if path.suffix == ".txt":
        return "baskets" if ragged else "cdnow"
    if path.suffix == ".xlsx":
        cols = set(pd.read_excel(path, nrows=0).columns)
    else:
        cols = set(pd.read_csv(path, nrows=0).columns)
    if _ONLINE_RETAIL <= cols:
        return "online_retail"
    if _HILLSTROM <= cols:
        return "hillstrom"
    if ragged:
        return "baskets"
    raise DataError(
        [
            Problem(
                path.name,
                None,
                "not a recognised file (Online Retail, Hillstrom, CDNOW); "
                "put contract tables in a folder instead",
                0,
            )
        ]
    )


def is_basket_file(path: Path) -> bool:
    """True for a basket file (one basket per line, e.g. arules' Groceries export): lines of
    different lengths, and no recognised dataset's columns."""
    if not path.is_file():
        return False
    try:
        return recognise(path) == "baskets"
    except DataError:
        return False


def _load_file(path: Path, options: ConformOptions, mapping: Mapping | None) -> Dataset:
    kind = recognise(path)
    if kind == "baskets":
        if options.as_of is not None:
            raise UnsupportedData(
                f"{path.name} is a basket file: its baskets have no dates, so it cannot be "
                "opened as of a date; leave out --as-of (as_of)."
            )
        return _load_baskets(path)
    if kind == "cdnow":
        return _load_cdnow(
            path, "cdnow" if "master" in path.name.lower() else "cdnow_sample", options
        )
    if kind == "online_retail":
        date_format = mapping.options.get("date_format") if mapping else None
        return _load_online_retail(path, options, date_format)
    return _load_hillstrom(path, options)


def _load_baskets(path: Path) -> Dataset:
    """A basket file as a dataset holding only ``baskets`` (no customers, dates or amounts)."""
    lines = read_basket_lines(path)
    table = basket_table(lines)
    log = []
    repeated = sum(len(line) for line in lines) - len(table)
    if repeated:
        log.append(
            CleaningNote(
                "baskets", "item", repeated, "items listed twice in one basket counted once"
            )
        )
    return Dataset(name=path.stem, baskets=table, source=str(path), cleaning_log=log)


def _load_online_retail(
    path: Path, options: ConformOptions, date_format: str | None = None
) -> Dataset:
    """UCI Online Retail (Chen, Sain & Guo 2012); ``date_format`` reads InvoiceDate text
    (``--date-format``; inferred otherwise).

    Cancellation invoices (``C`` prefix) are kept as negative lines (returns); lines without
    CustomerID are kept for product analyses and excluded from customer analyses; exact
    duplicate lines are dropped (counted in the cleaning log).
    """
    read = pd.read_excel if path.suffix == ".xlsx" else pd.read_csv
    raw = read(path, dtype={"InvoiceNo": str, "StockCode": str, "Description": str})
    tx = pd.DataFrame(
        {
            "customer_id": raw["CustomerID"],
            "order_id": raw["InvoiceNo"],
            "order_date": raw["InvoiceDate"],
            "amount": (raw["Quantity"] * raw["UnitPrice"]).round(2),
            "product_id": raw["StockCode"],
            "quantity": raw["Quantity"],
            "region": raw["Country"],
        }
    )
    desc = raw["Description"].str.strip()
    products = (
        raw.assign(name=desc, price=raw["UnitPrice"].where(raw["UnitPrice"] > 0))
        .groupby("StockCode")
        .agg(
            name=("name", lambda s: s.mode().iat[0] if s.notna().any() else pd.NA),
            price=("price", "median"),
        )
        .reset_index()
        .rename(columns={"StockCode": "product_id"})
    )
    unnamed = products["name"].isna()
    products["name"] = products["name"].fillna(products["product_id"])
    products["price"] = products["price"].fillna(0.0)
    customers = (
        raw.dropna(subset=["CustomerID"])
        .groupby("CustomerID")["Country"]
        .agg(lambda s: s.mode().iat[0])
        .rename("region")
        .reset_index()
        .rename(columns={"CustomerID": "customer_id"})
    )
    opts = ConformOptions(as_of=options.as_of, allow_anonymous=True, duplicates="drop")
    tables, notes = conform(
        {
            "transactions": RawTable(tx, path.name, date_format),
            "customers": RawTable(customers, path.name + " (customers)"),
            "products": RawTable(products, path.name + " (products)"),
        },
        opts,
    )
    cancelled = tables["transactions"]["order_id"].str.startswith("C").sum()
    notes.append(
        CleaningNote(
            "transactions",
            "order_id",
            cancelled,
            "cancellation lines (invoice starting with C) kept as negative lines (returns)",
        )
    )
    notes.append(
        CleaningNote(
            "products",
            "name",
            unnamed.sum(),
            "products never described: the stock code is used as their name",
        )
    )
    return Dataset(
        "online_retail",
        source=str(path),
        cleaning_log=[n for n in notes if n.rows],
        currency="GBP",  # a UK retailer: UnitPrice is in pounds sterling
        **tables,
    )


def _load_hillstrom(path: Path, options: ConformOptions) -> Dataset:
    """Hillstrom's MineThatData e-mail test (2008): a campaigns-only dataset, three arms."""
    raw = pd.read_csv(path)
    ids = pd.RangeIndex(1, len(raw) + 1, name="customer_id")
    customers = raw[
        ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]
    ].rename(columns={"channel": "purchase_channel", "zip_code": "area"})
    customers.insert(0, "customer_id", ids)
    arm = raw["segment"].map(
        {"Mens E-Mail": "mens_email", "Womens E-Mail": "womens_email", "No E-Mail": "control"}
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": "hillstrom_2008",
            "customer_id": ids,
            "sent_date": pd.Timestamp("2008-03-20"),
            "channel": "email",
            "treated": arm != "control",
            "arm": arm,
            "responded": raw["conversion"] == 1,
            "response_amount": raw["spend"].astype(float),
            "visit": raw["visit"],
            "conversion": raw["conversion"],
            "spend": raw["spend"],
        }
    )
    tables, notes = conform(
        {
            "customers": RawTable(customers, path.name + " (customers)"),
            "campaigns": RawTable(campaigns, path.name),
        },
        options,
    )
    notes += [
        CleaningNote(
            "customers", "customer_id", len(raw), "no customer ids in the file: rows numbered 1..n"
        ),
        CleaningNote(
            "campaigns",
            "sent_date",
            len(raw),
            "send date not in the file: set to 2008-03-20, the date the test was published",
        ),
    ]
    return Dataset("hillstrom", source=str(path), cleaning_log=notes, currency="USD", **tables)


def dataset_summary(ds: Dataset) -> dict[str, Any]:
    """Headline counts of a dataset (the JSON of ``crm-models data summary``), as the contract
    defines them: ``customers`` with a known id, ``orders`` = order ids with a positive net
    value (``return_orders``: negative), ``revenue`` net of returns."""
    out: dict[str, Any] = {
        "name": ds.name,
        "source": ds.source,
        "fingerprint": ds.fingerprint,
        "tables": {t: len(df) for t, df in ds.tables().items()},
    }
    tx = ds.transactions
    if tx is not None:
        known = ds.customer_transactions()
        net = tx.groupby("order_id", sort=False, observed=True)["amount"].sum()
        out.update(
            customers=int(known["customer_id"].nunique()),
            transactions=len(tx),
            orders=int((net > 0).sum()),
            return_orders=int((net < 0).sum()),
            revenue=round(float(tx["amount"].sum()), 2),
            returns=round(abs(float(tx.loc[tx["amount"] < 0, "amount"].sum())), 2),
            anonymous_lines=ds.anonymous_lines,
            first_date=str(tx["order_date"].min().date()),
            last_date=str(tx["order_date"].max().date()),
        )
    else:
        out.update(
            customers=int(ds.customers["customer_id"].nunique()) if ds.customers is not None else 0,
            transactions=0,
            orders=0,
            revenue=0.0,
            first_date=None,
            last_date=None,
        )
    if ds.campaigns is not None:
        c = ds.campaigns
        out["campaigns"] = int(c["campaign_id"].nunique())
        out["campaign_contacts"] = int(c["treated"].sum())
        out["first_date"] = out["first_date"] or str(c["sent_date"].min().date())
        out["last_date"] = out["last_date"] or str(c["sent_date"].max().date())
    out["cleaning"] = [str(n) for n in ds.cleaning_log]
    return out
