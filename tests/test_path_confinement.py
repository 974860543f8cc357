"""Paths named by a dataset stay inside its folder (GitHub issue 13, finding 1).

A ``mapping.json`` may name the file of each table, and tables are also found by convention
(``transactions.csv``, a ``transactions/`` folder of parts).  Whatever the path, symbolic links
included, it must resolve inside the dataset folder; otherwise loading is refused with a
:class:`DataError` naming the key (or the file) before anything is opened, so nothing from
outside the folder can reach a message.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from crm_models.cli import main
from crm_models.data import loading as datasets
from crm_models.data.contract import DataError
from crm_models.data.loading import Mapping, load_dataset, resolve_inside
from crm_models.engine import EngineSettings, open_folder

SECRET = "DB_PASSWORD=hunter2"
TX = pd.DataFrame(
    {
        "customer_id": ["c1", "c2", "c1"],
        "order_id": ["o1", "o2", "o3"],
        "order_date": ["2024-01-03", "2024-01-05", "2024-02-01"],
        "amount": [10.0, 20.0, 5.5],
    }
)


def plant(root: Path) -> tuple[Path, Path]:
    """``root/shop`` (the dataset folder, empty) and ``root/outside`` holding secret files:
    a text file, a CSV whose header is the secret and a parts folder."""
    shop, outside = root / "shop", root / "outside"
    shop.mkdir(parents=True)
    (outside / "parts").mkdir(parents=True)
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "secret.csv").write_text(f"{SECRET},x\n1,2\n")
    TX.assign(note=SECRET).to_parquet(outside / "parts" / "part-00000.parquet")
    return shop, outside


def write_mapping(shop: Path, mapping: dict) -> None:
    (shop / "mapping.json").write_text(json.dumps(mapping))


def refused(spec, *, opened_nothing: bool = True) -> str:
    """Load ``spec`` expecting a DataError; the message, checked for the secret."""
    with mock.patch.object(datasets, "read_table", wraps=datasets.read_table) as reader:
        with pytest.raises(DataError) as err:
            load_dataset(spec)
    if opened_nothing:
        assert reader.call_count == 0, "a file was opened before the path was refused"
    message = str(err.value)
    assert "hunter2" not in message and "DB_PASSWORD" not in message
    return message


# --------------------------------------------------------------------------- mapping.json
@pytest.mark.parametrize(
    "target",
    ["../outside/secret.csv", "../../../../../../../etc/passwd", "a/../../outside/secret.txt"],
)
def test_relative_escape_is_refused_naming_the_key(tmp_path, target):
    shop, _ = plant(tmp_path)
    write_mapping(shop, {"transactions": {"file": target}})
    message = refused(shop)
    assert "mapping.json, key transactions.file" in message
    assert "leaves the dataset folder" in message and "name a file inside shop" in message
    assert repr(target) in message


@pytest.mark.parametrize("target", ["/etc/passwd", "{outside}/secret.csv", "{shop}/tx.csv"])
def test_absolute_paths_are_refused(tmp_path, target):
    shop, outside = plant(tmp_path)
    TX.to_csv(shop / "tx.csv", index=False)
    write_mapping(shop, {"customers": {"file": target.format(outside=outside, shop=shop)}})
    message = refused(shop)
    assert "mapping.json, key customers.file" in message and "is absolute" in message


def test_symlink_named_in_mapping_leading_outside_is_refused(tmp_path):
    shop, outside = plant(tmp_path)
    (shop / "sales.csv").symlink_to(outside / "secret.csv")
    write_mapping(shop, {"transactions": {"file": "sales.csv"}})
    message = refused(shop)
    assert "mapping.json, key transactions.file" in message
    assert "leaves the dataset folder (through a link)" in message


def test_every_refused_path_is_listed_at_once(tmp_path):
    shop, _ = plant(tmp_path)
    write_mapping(
        shop,
        {"transactions": {"file": "../outside/secret.csv"}, "products": {"file": "/etc/passwd"}},
    )
    with pytest.raises(DataError) as err:
        load_dataset(shop)
    assert [p.file for p in err.value.problems] == [
        "mapping.json, key transactions.file",
        "mapping.json, key products.file",
    ]


def test_long_paths_are_quoted_truncated(tmp_path):
    shop, _ = plant(tmp_path)
    target = "../" * 40 + "etc/passwd"
    write_mapping(shop, {"transactions": {"file": target}})
    message = refused(shop)
    assert target not in message and "…" in message and "../../../" in message
    quoted = message.split("the path ", 1)[1].split(" leaves", 1)[0]
    assert len(quoted) <= 64


def test_mapping_json_linking_outside_is_refused(tmp_path):
    shop, outside = plant(tmp_path)
    TX.to_csv(shop / "transactions.csv", index=False)
    (shop / "mapping.json").symlink_to(outside / "secret.txt")
    message = refused(shop)
    assert "mapping.json: the path 'mapping.json' leaves the dataset folder" in message


# --------------------------------------------------------------------------- by convention
def test_convention_file_that_links_outside_is_refused(tmp_path):
    shop, outside = plant(tmp_path)
    (shop / "transactions.csv").symlink_to(outside / "secret.csv")
    message = refused(shop)
    assert "transactions.csv: the path 'transactions.csv' leaves the dataset folder" in message


def test_dangling_link_outside_is_refused(tmp_path):
    shop, outside = plant(tmp_path)
    (shop / "transactions.csv").symlink_to(outside / "no-such-file.csv")
    assert "transactions.csv" in refused(shop)


def test_symlinked_parts_folder_is_refused(tmp_path):
    shop, outside = plant(tmp_path)
    (shop / "transactions").symlink_to(outside / "parts", target_is_directory=True)
    message = refused(shop)
    assert "transactions/" in message and "leaves the dataset folder" in message


def test_parts_that_link_outside_are_refused(tmp_path):
    shop, outside = plant(tmp_path)
    (shop / "transactions").mkdir()
    TX.to_parquet(shop / "transactions" / "part-00000.parquet")
    (shop / "transactions" / "part-00001.parquet").symlink_to(outside / "parts/part-00000.parquet")
    message = refused(shop)
    assert "transactions/" in message and "'part-00001.parquet' leaves the dataset" in message


def test_parts_reached_through_a_folder_link_inside_are_checked(tmp_path):
    """A link to a folder inside is followed by readers, so what is below it is checked too."""
    shop, outside = plant(tmp_path)
    (shop / "transactions").mkdir()
    TX.to_parquet(shop / "transactions" / "part-00000.parquet")
    (shop / "more").mkdir()
    (shop / "more" / "part-00001.parquet").symlink_to(outside / "parts/part-00000.parquet")
    (shop / "transactions" / "more").symlink_to(shop / "more", target_is_directory=True)
    assert "leaves the dataset folder" in refused(shop)


# --------------------------------------------------------------------------- allowed
def test_file_in_a_subfolder_is_allowed(tmp_path):
    shop, _ = plant(tmp_path)
    (shop / "exports").mkdir()
    TX.rename(columns={"amount": "Betrag"}).to_csv(shop / "exports" / "sales.csv", index=False)
    write_mapping(
        shop, {"transactions": {"file": "exports/sales.csv", "columns": {"amount": "Betrag"}}}
    )
    ds = load_dataset(shop)
    assert len(ds.transactions) == 3 and ds.transactions["amount"].sum() == pytest.approx(35.5)


def test_links_that_stay_inside_are_allowed(tmp_path):
    shop, _ = plant(tmp_path)
    (shop / "exports").mkdir()
    TX.to_csv(shop / "exports" / "2024.csv", index=False)
    (shop / "transactions.csv").symlink_to(Path("exports") / "2024.csv")
    assert len(load_dataset(shop).transactions) == 3
    (shop / "transactions.csv").unlink()
    (shop / "latest.csv").symlink_to(shop / "exports" / "2024.csv")
    write_mapping(shop, {"transactions": {"file": "./exports/../latest.csv"}})
    assert len(load_dataset(shop).transactions) == 3


def test_parts_folder_inside_is_allowed(tmp_path):
    shop, _ = plant(tmp_path)
    (shop / "transactions").mkdir()
    TX.iloc[:2].to_parquet(shop / "transactions" / "part-00000.parquet")
    TX.iloc[2:].to_parquet(shop / "transactions" / "part-00001.parquet")
    assert len(load_dataset(shop).transactions) == 3


# --------------------------------------------------------------------------- mapping.json checks
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"transactions": {"file": "a.csv"}, "customers": {"file": "b.csv" "x"}}', "line 1"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"transactions": "sales.csv"}', "mapping.json, key transactions: must be an object"),
        ('{"transactions": {"file": 5}}', "mapping.json, key transactions.file: must be a file"),
        ('{"transactions": {"file": ["a.csv"]}}', "key transactions.file: must be a file name"),
        ('{"transactions": {"file": ""}}', "key transactions.file: must be a file name"),
        ('{"transactions": {"columns": ["amount"]}}', "key transactions.columns: must map"),
        ('{"orders": {"file": "o.csv"}}', "mapping.json: unknown table(s) ['orders']"),
    ],
)
def test_bad_mapping_json_names_the_file(tmp_path, text, expected):
    (tmp_path / "mapping.json").write_text(text)
    with pytest.raises(DataError) as err:
        Mapping.from_json(tmp_path / "mapping.json")
    assert expected in str(err.value)


def test_invalid_json_gives_line_and_column(tmp_path):
    shop, _ = plant(tmp_path)
    (shop / "mapping.json").write_text('{"transactions": {"file": "sales.csv", "encoding" "x"}}')
    message = refused(shop)
    assert "mapping.json: not valid JSON (line 1, column 51): Expecting ':' delimiter" in message


def test_cli_refuses_with_the_key_and_no_secret(tmp_path, capsys):
    shop, _ = plant(tmp_path)
    write_mapping(shop, {"transactions": {"file": "../outside/secret.csv"}})
    assert main(["data", "validate", str(shop)]) == 2
    err = capsys.readouterr().err
    assert "mapping.json, key transactions.file" in err and "hunter2" not in err


# --------------------------------------------------------------------------- DuckDB engine
def open_duckdb(folder: Path):
    return open_folder(folder, EngineSettings("duckdb"), "duckdb")


def test_engine_refuses_escape_named_in_mapping(tmp_path):
    shop, _ = plant(tmp_path)
    write_mapping(shop, {"transactions": {"file": "../outside/secret.csv"}})
    with pytest.raises(DataError, match=r"mapping.json, key transactions.file: the path") as err:
        open_duckdb(shop)
    assert "hunter2" not in str(err.value)


def test_engine_refuses_links_outside_found_by_convention(tmp_path):
    shop, outside = plant(tmp_path)
    (shop / "transactions.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(DataError, match="transactions.csv: the path"):
        open_duckdb(shop)
    (shop / "transactions.csv").unlink()
    (shop / "transactions").symlink_to(outside / "parts", target_is_directory=True)
    with pytest.raises(DataError, match="transactions/: the path") as err:
        open_duckdb(shop)
    assert "hunter2" not in str(err.value)


def test_engine_reads_a_subfolder_file(tmp_path):
    shop, _ = plant(tmp_path)
    (shop / "exports").mkdir()
    TX.to_parquet(shop / "exports" / "sales.parquet")
    write_mapping(shop, {"transactions": {"file": "exports/sales.parquet"}})
    source = open_duckdb(shop)
    assert source.execute(source.tables["transactions"].count()) == 3


# --------------------------------------------------------------------------- property
FOLDERS = ["..", ".", "a", "b", "", "in_link", "out_link", "outside", "shop"]
LAST = ["tx.csv", "tx.csv", "leak.csv", "secret.csv", "a", "..", ".", ""]


@st.composite
def mapping_paths(draw) -> str:
    """Relative paths through folders, links in and out and ``..``, ending in a file name
    (or not); a quarter of them absolute."""
    parts = [*draw(st.lists(st.sampled_from(FOLDERS), max_size=5)), draw(st.sampled_from(LAST))]
    path = "/".join(parts)
    if draw(st.integers(0, 3)) == 0:
        base = draw(st.sampled_from(["/", "/etc/", "{root}/", "{root}/shop/", "{root}/outside/"]))
        path = base + path
    return path


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=mapping_paths())
@example("tx.csv")
@example("in_link/tx.csv")
@example("a/b/../../in_link/./tx.csv")
@example("out_link/tx.csv")
@example("a/leak.csv")
@example("in_link/leak.csv")
@example("in_link/../../outside/tx.csv")
@example("{root}/shop/tx.csv")
def test_loading_succeeds_only_inside_the_folder(target):
    table = "transactions"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shop, outside = plant(root)
        (shop / "a" / "b").mkdir(parents=True)
        TX.to_csv(shop / "a" / "tx.csv", index=False)
        TX.to_csv(shop / "tx.csv", index=False)
        (shop / "in_link").symlink_to(shop / "a", target_is_directory=True)
        (shop / "out_link").symlink_to(outside, target_is_directory=True)
        (shop / "a" / "leak.csv").symlink_to(outside / "secret.csv")
        (outside / "tx.csv").write_text(f"customer_id,{SECRET}\n1,2\n")
        target = target.replace("{root}", str(root))
        write_mapping(shop, {table: {"file": target}})
        resolved = (shop / target).resolve()
        inside = (
            not os.path.isabs(target)
            and resolved.is_relative_to(shop.resolve())
            and resolved != shop.resolve()
        )
        try:
            ds = load_dataset(shop)
        except DataError as err:
            event(f"{'inside' if inside else 'outside'}: refused")
            message = str(err)
            if not inside:
                assert f"mapping.json, key {table}.file" in message, message
        else:
            event("inside: loaded")
            assert inside, f"{target!r} resolves to {resolved}, outside the folder, yet loaded"
            message = repr(ds.tables())
        assert "hunter2" not in message and "DB_PASSWORD" not in message


@settings(max_examples=50, deadline=None)
@given(target=mapping_paths())
def test_resolve_inside_agrees_with_resolution(target):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shop, outside = plant(root)
        (shop / "a").mkdir()
        (shop / "in_link").symlink_to(shop / "a", target_is_directory=True)
        (shop / "out_link").symlink_to(outside, target_is_directory=True)
        target = target.replace("{root}", str(root))
        try:
            path = resolve_inside(shop, target, "mapping.json, key transactions.file")
        except DataError as err:
            assert str(err).count("mapping.json, key transactions.file") == 1
            assert SECRET not in str(err)
        else:
            assert not os.path.isabs(target)
            assert path.resolve().is_relative_to(shop.resolve())


def test_missing_file_named_in_mapping_names_the_key(tmp_path):
    shop, _ = plant(tmp_path)
    write_mapping(shop, {"transactions": {"file": "exports/sales.csv"}})
    message = refused(shop)
    assert "mapping.json, key transactions.file: no file 'exports/sales.csv' in shop" in message
