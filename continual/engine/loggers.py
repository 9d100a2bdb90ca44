"""Experiment loggers (``--log``): Avalanche's CSV and TensorBoard loggers, and small adapters of
our own for Weights & Biases and MLflow (Avalanche 0.6's WandBLogger calls ``wandb.util``
functions that wandb 0.17+ removed). They receive metric values only, never inputs, so no text
reaches a log. Each writes under ``<run>/logs/<kind>/``: wandb keeps its run files there (offline
with ``WANDB_MODE=offline``, synced later with ``wandb sync``), mlflow logs to the tracking URI
the user set (``MLFLOW_TRACKING_URI``) or else to a file store there."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import UserError

LOGGERS = ("tensorboard", "csv", "wandb", "mlflow")


def check_available(kinds) -> None:
    """Refuse a logger whose package is missing, before any run starts."""
    packages = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
    for kind in kinds:
        if kind not in LOGGERS:
            raise UserError(f"--log {kind} is unknown: use {', '.join(LOGGERS)}")
        package = packages.get(kind)
        if package and importlib.util.find_spec(package) is None:
            raise UserError(f"--log {kind} needs the {package} package: pip install {package}")


def mlflow_logger_class():
    from avalanche.logging import BaseLogger

    class MLflowLogger(BaseLogger):
        """Sends each metric value to an MLflow run of its own, in the tracking store the user set
        or else a file store in the run's log folder."""

        def __init__(self, run_name: str, folder: Path):
            import os

            import mlflow

            super().__init__()
            self.mlflow = mlflow
            if not os.environ.get("MLFLOW_TRACKING_URI"):
                # a file store needs nothing installed besides mlflow; MLflow 3 asks to opt in to it
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
                folder.mkdir(parents=True, exist_ok=True)
                mlflow.set_tracking_uri(folder.resolve().as_uri())
            mlflow.set_experiment("continual-medical")
            self.run = mlflow.start_run(run_name=run_name, nested=mlflow.active_run() is not None)

        def log_single_metric(self, name, value, x_plot):
            if isinstance(value, (int, float)):
                self.mlflow.log_metric(name.replace("/", "."), float(value), step=int(x_plot), run_id=self.run.info.run_id)

        def close(self):
            self.mlflow.end_run()

    return MLflowLogger


def wandb_logger_class():
    from avalanche.logging import BaseLogger

    class WandbLogger(BaseLogger):
        """Sends each metric value to a Weights & Biases run of its own (``wandb.init`` in the
        run's log folder; ``WANDB_MODE=offline`` keeps it on disk)."""

        def __init__(self, run_name: str, folder: Path):
            import wandb

            super().__init__()
            folder.mkdir(parents=True, exist_ok=True)
            self.run = wandb.init(project="continual-medical", name=run_name, dir=str(folder), reinit="create_new")

        def log_single_metric(self, name, value, x_plot):
            if isinstance(value, (int, float)):
                self.run.log({name: float(value), "x": int(x_plot)})

        def close(self):
            self.run.finish()

    return WandbLogger


def make_loggers(kinds, run_dir: Path, run_name: str) -> list:
    loggers = []
    for kind in kinds:
        folder = Path(run_dir) / "logs" / kind
        if kind == "csv":
            from avalanche.logging import CSVLogger

            folder.mkdir(parents=True, exist_ok=True)
            loggers.append(CSVLogger(log_folder=str(folder)))
        elif kind == "tensorboard":
            from avalanche.logging import TensorboardLogger

            loggers.append(TensorboardLogger(tb_log_dir=str(folder)))
        elif kind == "wandb":
            loggers.append(wandb_logger_class()(run_name, folder))
        elif kind == "mlflow":
            loggers.append(mlflow_logger_class()(run_name, folder))
    return loggers
