"""How well a judge (a PRM, an ORM) agrees with exact step labels — evaluation only, never training.

- :func:`auroc`: the area under the ROC curve of step scores against step labels (torchmetrics).
- :func:`first_error_f1`: ProcessBench's metric (Zheng et al., 2024, "ProcessBench: Identifying
  Process Errors in Mathematical Reasoning", Sec. 3): for every solution the judge names the
  earliest wrong step, or none. Its accuracy on the solutions that hold an error (the earliest
  one named exactly) and on those that hold none (none named) are combined by their harmonic
  mean, so a judge that calls everything right, or everything wrong, scores 0. A PRM names the
  first step whose score is below ``threshold`` (ProcessBench binarises PRM scores the same way).
- :func:`first_error_threshold`: the threshold with the best first-error F1 on held-out
  labelled paths. A PRM trained on Monte-Carlo labels that are mostly 0 rarely scores a step 0.5,
  so at 0.5 it calls every solution wrong (F1 0) however well it ranks; ``qstar train
  optimizer=prm`` picks its operating point this way on its own validation paths (never on
  evaluation data) and stores it with the model, where ``qstar judge`` reads it.
"""

from __future__ import annotations

from typing import Sequence


def auroc(scores: Sequence[float], gold: Sequence[bool]) -> float | None:
    """AUROC of ``scores`` against ``gold``; None where it is undefined (one class only)."""
    if not scores or all(gold) or not any(gold):
        return None
    import torch
    from torchmetrics.functional.classification import binary_auroc

    return float(binary_auroc(torch.tensor([float(s) for s in scores]), torch.tensor([int(g) for g in gold])))


def first_error(flags: Sequence[bool]) -> int:
    """The index of the first False (a wrong step), or -1 when every step is right."""
    return next((i for i, ok in enumerate(flags) if not ok), -1)


def first_error_f1(solutions: Sequence[tuple[Sequence[float], Sequence[bool]]], threshold: float = 0.5) -> dict:
    """ProcessBench's F1 over ``solutions``, each (step scores, exact step labels) of one path.

    Returns the two accuracies, their harmonic mean ``f1`` (None when either subset is empty) and
    the subset sizes."""
    hit_err = n_err = hit_ok = n_ok = 0
    for scores, gold in solutions:
        if len(scores) != len(gold):
            raise ValueError(f"a solution has {len(scores)} scores for {len(gold)} labelled steps")
        truth, named = first_error(gold), first_error([s >= threshold for s in scores])
        if truth >= 0:
            n_err += 1
            hit_err += named == truth
        else:
            n_ok += 1
            hit_ok += named == -1
    acc_err = hit_err / n_err if n_err else None
    acc_ok = hit_ok / n_ok if n_ok else None
    f1 = None
    if acc_err is not None and acc_ok is not None:
        f1 = 0.0 if acc_err + acc_ok == 0 else 2 * acc_err * acc_ok / (acc_err + acc_ok)
    return {"f1": f1, "error_accuracy": acc_err, "correct_accuracy": acc_ok, "with_error": n_err, "without_error": n_ok}


def first_error_threshold(solutions: Sequence[tuple[Sequence[float], Sequence[bool]]], candidates: int = 201) -> tuple[float, float] | None:
    """The threshold in (0, 1) with the highest :func:`first_error_f1` over ``solutions`` (step
    scores, step labels), and that F1; None where the F1 is undefined (no solution with an error,
    or none without). The candidates are ``candidates`` quantiles of the step scores, each nudged
    just above its score (a step scoring exactly the threshold counts as right); ties go to the
    threshold nearest 0.5."""
    scores = sorted(float(s) for steps, _ in solutions for s in steps)
    if not scores:
        return None
    picks = {scores[round(i * (len(scores) - 1) / (candidates - 1))] for i in range(candidates)}
    grid = sorted({min(max(s + 1e-6, 1e-6), 1 - 1e-6) for s in picks} | {0.5})
    best: tuple[float, float] | None = None
    for t in grid:
        f1 = first_error_f1(solutions, t)["f1"]
        if f1 is None:
            return None
        if best is None or f1 > best[1] or (f1 == best[1] and abs(t - 0.5) < abs(best[0] - 0.5)):
            best = (t, f1)
    return best
