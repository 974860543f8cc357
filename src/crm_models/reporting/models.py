"""A report's fitted models as MLflow pyfunc models that score new customers.

A notebook hands :meth:`~crm_models.reporting.tracking.ReportRun.model` a scoring function of a
customer frame (a fitted model's ``predict``, or ``functools.partial`` of a package function over
fitted models) and an example of its input; :func:`log_scorer` logs it as an MLflow 3 logged model
of the report's run (signature and input example included), so that::

    mlflow.pyfunc.load_model("models:/<model_id>").predict(frame)

returns one row per customer with a ``customer_id`` column.  ``frame`` is indexed by
``customer_id`` (the customer view) or has a ``customer_id`` column; extra columns are ignored.

Cheap to log: the notebook's kernel, which does not import MLflow (seconds per kernel), pickles
the :class:`CustomerScorer` and its example input and output (:func:`stage_scorer`); the process
that writes the MLflow run (the build) saves them as a pyfunc model whose loader is this module
(:func:`_load_pyfunc`, MLflow's custom-loader convention), without unpickling the fitted models
and importing the analyses they need.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from crm_models.data.privacy import check_no_personal_data

__all__ = [
    "KEY",
    "REGISTER_ENV",
    "CustomerScorer",
    "log_scorer",
    "register_models",
    "registered_name",
    "stage_scorer",
]

KEY = "customer_id"
EXAMPLE_ROWS = 5  # rows of the input example stored with the model
REGISTER_ENV = "CRM_MODELS_REGISTER_MODELS"  # "1": register each model as crm-models.<ds>.<name>
SCORER_FILE = "scorer.pkl"  # the pickled CustomerScorer: the model's data file
EXAMPLE_FILE = "example.pkl"  # {"input", "output", "metadata"}: pandas and strings only


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` indexed by customer id: its ``customer_id`` column, else its index."""
    if KEY in frame.columns:
        return frame.set_index(KEY)
    return frame.rename_axis(KEY)


class CustomerScorer:
    """A fitted model as a function of a customer frame: what the pyfunc model runs.

    ``score`` takes a frame indexed by customer id holding ``columns`` and returns a DataFrame or
    Series indexed like its input.
    """

    def __init__(
        self, score: Callable[[pd.DataFrame], pd.DataFrame | pd.Series], columns: list[str]
    ) -> None:
        if not callable(score):
            raise TypeError(f"score must be callable (a fitted model's predict), got {score!r}")
        self.score = score
        self.columns = [str(c) for c in columns]

    def __call__(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """One row per scored customer: ``customer_id`` and the model's output columns."""
        frame = _keyed(model_input)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"the model needs columns {missing}; the input has {len(frame):,} rows and "
                f"columns {[str(c) for c in frame.columns][:12]}: pass the customer view "
                f"(crm_models.features.customer_view) or a frame with columns {self.columns}"
            )
        out = self.score(frame[self.columns])
        if isinstance(out, pd.Series):
            out = out.to_frame()
        return out.rename_axis(KEY).reset_index()

    def predict(self, model_input: pd.DataFrame, params: Mapping[str, Any] | None = None):
        """The pyfunc entry point (``params`` are not used)."""
        return self(model_input)


def _load_pyfunc(data_path: str) -> CustomerScorer:
    """MLflow's loader hook for models saved with ``loader_module`` = this module."""
    with open(data_path, "rb") as fh:
        return pickle.load(fh)


CHECK_ROWS = 1_000  # customers of the example a model is checked on before it is written


def stage_scorer(
    folder: Path,
    score: Callable[[pd.DataFrame], pd.DataFrame | pd.Series],
    example: pd.DataFrame,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a model for :func:`log_scorer` into ``folder`` (in the notebook's kernel).

    ``example``: customers (indexed or keyed by ``customer_id``) holding exactly the columns the
    model reads; its first :data:`CHECK_ROWS` customers are scored here (a model that fails,
    fails in the notebook; a million customers need not be scored twice), and the first rows
    scored become MLflow's input example.
    """
    frame = _keyed(example).head(CHECK_ROWS)
    if frame.empty:
        raise ValueError("the example input of a model has no rows: pass some customers")
    # MLflow schemas have no categories (it refuses to cast them): such columns are logged as text
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    frame = frame.astype(dict.fromkeys(cats, object))
    scorer = CustomerScorer(score, list(frame.columns))
    output = scorer(frame).head(EXAMPLE_ROWS)
    example_input = frame.loc[output[KEY]].reset_index()
    # the example rows are stored with the model: no names, e-mails or phones may go with them
    check_no_personal_data(example_input, "the example input of a model")
    check_no_personal_data(output, "the example output of a model")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / SCORER_FILE, "wb") as fh:
        pickle.dump(scorer, fh, protocol=pickle.HIGHEST_PROTOCOL)
    with open(folder / EXAMPLE_FILE, "wb") as fh:
        pickle.dump(
            {
                "input": example_input,
                "output": output,
                "metadata": {str(k): str(v) for k, v in (metadata or {}).items()},
            },
            fh,
            protocol=pickle.HIGHEST_PROTOCOL,
        )


def registered_name(dataset: str, name: str) -> str:
    """The registry name of a report model: ``crm-models.<dataset>.<name>``."""
    return f"crm-models.{dataset}.{name}"


def _signature(example_input: pd.DataFrame, example_output: pd.DataFrame):
    """Input/output schema; ``customer_id`` is optional (the index may hold the ids)."""
    from mlflow.models import infer_signature
    from mlflow.types.schema import ColSpec, Schema

    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold missing values: the view's counts
        # (orders, days) are integers and have none; MLflow refuses int -> float inputs anyway
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        signature = infer_signature(example_input, example_output)
    signature.inputs = Schema(
        [
            ColSpec(c.type, c.name, required=c.name != KEY)
            for c in signature.inputs.inputs  # type: ignore[union-attr]
        ]
    )
    return signature


def log_scorer(
    client: Any,
    run_id: str,
    experiment_id: str,
    name: str,
    folder: Path,
    requirement: str,
    register_as: str | None = None,
) -> str:
    """Log the model staged in ``folder`` as a pyfunc logged model ``name`` of run ``run_id``;
    return its ``models:/`` URI.

    ``client`` is the store's ``MlflowClient`` (no global tracking URI is used);
    ``requirement`` is the pip requirement of the environment that loads it (the package).
    ``register_as`` also registers it (a new version of that registered model).
    """
    import mlflow.pyfunc
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    with open(folder / EXAMPLE_FILE, "rb") as fh:
        example = pickle.load(fh)
    model = client.create_logged_model(
        experiment_id,
        name=name,
        source_run_id=run_id,
        params=example["metadata"],
        model_type="customer-scorer",
    )
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    with tempfile.TemporaryDirectory(prefix="crm-model-") as tmp:
        path = str(Path(tmp) / "model")
        mlflow.pyfunc.save_model(
            path,
            loader_module=__name__,
            data_path=str(folder / SCORER_FILE),
            signature=_signature(example["input"], example["output"]),
            input_example=example["input"],
            pip_requirements=[requirement],  # explicit: inferring them takes seconds
            metadata=example["metadata"],
            mlflow_model=Model(
                artifact_path=model.artifact_location,
                model_uuid=model.model_id,
                run_id=run_id,
                model_id=model.model_id,
            ),
        )
        client.log_model_artifacts(model.model_id, path)
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    if register_as:
        try:
            client.create_registered_model(register_as)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        client.create_model_version(
            register_as,
            source=model.artifact_location,
            run_id=run_id,
            model_id=model.model_id,
        )
    return f"models:/{model.model_id}"


def register_models() -> bool:
    """Whether ``$CRM_MODELS_REGISTER_MODELS`` asks to register the logged models."""
    return os.environ.get(REGISTER_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
