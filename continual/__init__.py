"""Continual learning for medical NLP: the command-line programs, configuration, model, and the
run engine, evaluation, run state and reports in their subpackages.

The library entry point is :func:`run_experiment` (``python -m continual.run`` is a thin CLI over
it). Heavy modules are imported lazily so that ``import continual`` stays cheap.
"""
from .config import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig
from .errors import UserError


def run_experiment(config, **kwargs):
    """Run one strategy/seed; see :func:`continual.engine.loop.run_experiment`."""
    from .engine.loop import run_experiment as _run

    return _run(config, **kwargs)


def load_model(run_dir, device=None):
    """The model a run saved with ``--save-model``; see :func:`continual.state.saved_model.load_model`."""
    from .state.saved_model import load_model as _load

    return _load(run_dir, device)


__all__ = ["ExperimentConfig", "ModelConfig", "StreamConfig", "TrainingConfig", "UserError", "load_model",
           "run_experiment"]
