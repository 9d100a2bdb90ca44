"""Experiment loggers (``--log``): Avalanche's CSV, TensorBoard and Weights & Biases loggers and a
small MLflow adapter. They receive metric values only, never inputs, so no text reaches a log.
Each writes under ``<run>/logs/<kind>/`` (wandb and mlflow also to their own tracking setup)."""
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
        """Sends each metric value to the active MLflow run (started here if none is)."""

        def __init__(self, run_name: str):
            import mlflow

            super().__init__()
            self.mlflow = mlflow
            self.run = mlflow.start_run(run_name=run_name) if mlflow.active_run() is None else None

        def log_single_metric(self, name, value, x_plot):
            if isinstance(value, (int, float)):
                self.mlflow.log_metric(name.replace("/", "."), float(value), step=int(x_plot))

        def close(self):
            if self.run is not None:
                self.mlflow.end_run()

    return MLflowLogger


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
            from avalanche.logging import WandBLogger

            folder.mkdir(parents=True, exist_ok=True)
            loggers.append(WandBLogger(project_name="continual-medical", run_name=run_name, dir=str(folder)))
        elif kind == "mlflow":
            loggers.append(mlflow_logger_class()(run_name))
    return loggers
