"""Continual learning for medical NLP: the run loop, model, metrics, results and CLI.

The library entry point is :func:`run_experiment` (``python -m continual.run`` is a thin CLI over
it). Heavy modules are imported lazily so that ``import continual`` stays cheap.
"""
from .config import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig
from .errors import UserError


def run_experiment(config, **kwargs):
    """Run one strategy/seed; see :func:`continual.experiment.run_experiment`."""
    from .experiment import run_experiment as _run

    return _run(config, **kwargs)


__all__ = ["ExperimentConfig", "ModelConfig", "StreamConfig", "TrainingConfig", "UserError", "run_experiment"]
