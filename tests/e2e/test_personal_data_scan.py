"""Personal data planted in every kind of personal column never reaches any output (issue 13).

A small simulated retailer gets extra customer columns named in many spellings (full name,
e-mail, date of birth, phone, IBAN, card number, address, post code, IP address, passport,
national id), a transaction column whose *values* are e-mail addresses, and customer ids that
are e-mail addresses.  Then every report is built through the command line, plus the verbs that
write files, and every file written (HTML, tables, executed notebooks, manifests, run records,
the MLflow database and artifacts) and every line printed is scanned for the planted values.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "crm_models.cli"]


def _plant(folder: Path) -> dict[str, list[str]]:
    """Write the retailer with planted personal data; return the markers to scan for."""
    from crm_models.data.simulate import simulate_retailer

    sim = simulate_retailer(n_customers=1500, seed=7)
    sim.write(folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    n = len(customers)
    i = np.arange(n)
    rng = np.random.default_rng(0)
    birth = pd.Timestamp("1931-01-01") + pd.to_timedelta(rng.integers(0, 20 * 365, n), unit="D")
    planted = {
        "Full Name": [f"Zelda Quuxworth {k}" for k in i],
        "E-Mail": [f"zelda{k}@planted-pii.example" for k in i],
        "Date of Birth": birth.strftime("%d.%m.%Y").tolist(),
        "Tel.": [f"+49 151 7734 {k:04d}" for k in i],
        "IBAN": ["GB82WEST12345698765432"] * n,
        "Card Number": ["4111 1111 1111 1111"] * n,
        "Street Address": [f"{k} Plantedstrasse" for k in i],
        "Post Code": [f"PLZ-{k:05d}" for k in i],
        "IP Address": [f"203.0.113.{k % 250}" for k in i],
        "Passport No": [f"PSPT{k:07d}X" for k in i],
        "National ID": [f"NATID{k:07d}Q" for k in i],
        "Vorname": [f"Quirinius{k}" for k in i],
        "notes": [f"call me on +44 20 7946 {k:04d}" for k in i],
    }
    for column, values in planted.items():
        customers[column] = values
    # customer ids that are e-mail addresses, the same in every table
    ids = {c: f"buyer{c}@planted-ids.example" for c in customers["customer_id"]}
    customers["customer_id"] = customers["customer_id"].map(ids)
    customers.to_csv(folder / "customers.csv", index=False)
    (folder / "customers.parquet").unlink()
    for table in ("transactions", "campaigns"):
        df = pd.read_parquet(folder / f"{table}.parquet")
        df["customer_id"] = df["customer_id"].map(ids)
        if table == "transactions":
            df["buyer_contact"] = df["customer_id"].str.replace("buyer", "contact", regex=False)
        df.to_parquet(folder / f"{table}.parquet", index=False)
    markers = {
        "names": ["Quuxworth", "Quirinius"],
        "e-mails": ["planted-pii.example", "planted-ids.example"],
        "phones": ["7734 0", "7946 0", "151 7734"],
        "iban": ["GB82WEST12345698765432", "GB82 WEST"],
        "card": ["4111 1111 1111 1111", "4111111111111111"],
        "address": ["Plantedstrasse", "PLZ-0"],
        "ip": ["203.0.113."],
        "ids": ["PSPT0", "NATID0"],
        "birth dates": [d for b in birth[:40] for d in (b.strftime("%d.%m.%Y"), str(b.date()))],
    }
    return markers


def _scan(paths: list[Path], texts: dict[str, str], markers: dict[str, list[str]]) -> list[str]:
    found = []
    for path in paths:
        data = path.read_bytes()
        for kind, values in markers.items():
            hit = next((v for v in values if v.encode() in data), None)
            if hit:
                found.append(f"{path}: {kind} ({hit!r})")
    for label, text in texts.items():
        for kind, values in markers.items():
            hit = next((v for v in values if v in text), None)
            if hit:
                found.append(f"{label}: {kind} ({hit!r})")
    return found


def test_planted_personal_data_reaches_no_output(tmp_path):
    data = tmp_path / "shop"
    data.mkdir()
    markers = _plant(data)
    out, mlruns, lists = tmp_path / "reports", tmp_path / "mlruns", tmp_path / "lists"
    lists.mkdir()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{mlruns / 'mlflow.db'}",
        "CRM_MODELS_PSEUDONYM_KEY": "test-key-not-secret",
        "CRM_MODELS_DATA": str(tmp_path / "cache"),
        "CRM_MODELS_QUIET": "1",
    }
    env.pop("CRM_MODELS_TRACKING", None)
    commands = {
        "build": ["reports", "build", "--dataset", str(data), "--quick", "--out", str(out)],
        "view": ["view", str(data), "--out", str(lists / "view.csv")],
        "summary": ["data", "summary", str(data), "--json"],
        "validate": ["data", "validate", str(data), "--json"],
        "target": ["target", str(data), "--budget", "100", "--out", str(lists / "contacts.csv")],
    }
    texts = {}
    for name, args in commands.items():
        proc = subprocess.run(
            CLI + args, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path
        )
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
        texts[f"{name} stdout"], texts[f"{name} stderr"] = proc.stdout, proc.stderr
    written = [p for root in (out, mlruns, lists) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in written) and any(p.suffix == ".db" for p in written)
    assert any(p.suffix == ".ipynb" for p in written) and any(p.suffix == ".csv" for p in written)
    assert _scan(written, texts, markers) == []
    summary = texts["summary stdout"]
    # what was dropped is said, by column name (never value)
    assert "personal identifiers dropped" in summary and "Date of Birth" in summary
    view = pd.read_csv(lists / "view.csv")
    assert "age_band" in view.columns
    assert view["customer_id"].astype(str).str.fullmatch(r"h[0-9a-f]{16}").all()
