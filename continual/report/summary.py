"""The terminal summary a run command prints at its end: one line per run."""
from __future__ import annotations

from typing import Sequence

#: Strategies with no experience-by-experience training to forget from: their forgetting and
#: BWT are shown as n/a (joint trains once on the union; zero-shot does not train).
NO_FORGETTING = frozenset({"joint", "zero-shot"})


def summary_table(runs: Sequence[dict]) -> str:
    """One line per run (its metrics.json content). Forgetting and BWT show n/a for joint and
    zero-shot, as in ``continual.compare``'s tables (metrics.json keeps what their matrices give).

    ACC, forget, BWT, FWT and learnACC are computed from R[i][j], whatever score it holds; where
    any run's R is not accuracy (entity F1 of a token stream, micro-F1 of a multi-label one) a
    last column names each run's score, so an F1 is never read as an accuracy. Runs of
    accuracy alone print as they always have."""
    from .scores import score_of

    def fmt(value, applies=True):
        return "n/a" if value is None or not applies else f"{value:.3f}"

    scores = [score_of(m) for m in runs]
    named = any(not s.is_accuracy for s in scores)
    header = f"{'strategy':<18} {'seed':>4} {'order':>5} {'ACC':>6} {'forget':>7} {'BWT':>7} {'FWT':>6} {'learnACC':>8} {'train s':>8} {'peak MB':>8}"
    header += "  score (R[i][j] holds)" if named else ""
    lines = [header, "-" * len(header)]
    for m, score in zip(runs, scores):
        forgets = m["strategy"] not in NO_FORGETTING
        lines.append(
            f"{m['strategy']:<18} {m['seed']:>4} {m['order']:>5} {fmt(m['average_accuracy']):>6} "
            f"{fmt(m['forgetting'], forgets):>7} {fmt(m['bwt'], forgets):>7} {fmt(m['fwt']):>6} {fmt(m['learning_accuracy']):>8} "
            f"{sum(m['train_seconds']):>8.1f} {m['peak_rss_mb']:>8.0f}" + (f"  {score.name}" if named else "")
        )
    return "\n".join(lines)
