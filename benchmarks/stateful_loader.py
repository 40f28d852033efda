"""The training loader that resumes mid-epoch (``qstar.training.train_loader``: torchdata's
``StatefulDataLoader`` over a ``SeededOrder``) against the plain shuffled ``DataLoader`` it
replaced: what it costs to hand out an epoch of batches, with no model, so the loader's own cost
is all that is timed.

The data is shaped like the loop's round-3 policy stage: 7,400 token sequences of 20 to 120
tokens, batches of 64, collated (padded) by the ``sft`` optimizer's own collate. Each side
iterates ``--epochs`` epochs, ``--runs`` times, alternating; the medians are compared. Prints the
time per batch of each and new / plain (near 1: no cost). Run it alone on the machine.

    python benchmarks/stateful_loader.py [--epochs 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from functools import partial


def epochs(loader, n: int) -> tuple[float, int]:
    batches, t0 = 0, time.perf_counter()
    for epoch in range(n):
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        for _ in loader:
            batches += 1
    return time.perf_counter() - t0, batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    import torch
    from torch.utils.data import DataLoader

    from qstar.training import train_loader
    from qstar_sft.train import collate

    torch.manual_seed(0)
    rng = random.Random(0)
    examples = []
    for _ in range(7_400):
        ids = [rng.randrange(1, 500) for _ in range(rng.randint(20, 120))]
        examples.append({"input_ids": ids, "labels": ids})
    fn = partial(collate, pad_id=0)
    sides = {
        "plain DataLoader, shuffled": lambda: DataLoader(examples, batch_size=64, shuffle=True, collate_fn=fn),
        "train_loader, shuffled": lambda: train_loader(examples, 64, fn, seed=0),
        "train_loader, grouped by length": lambda: train_loader(examples, 64, fn, seed=0, grouped=True),
    }
    per_batch: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(a.runs):
        for name, make in sides.items():
            seconds, batches = epochs(make(), a.epochs)
            per_batch[name].append(seconds / batches)
    medians = {k: statistics.median(v) for k, v in per_batch.items()}
    for name, m in medians.items():
        print(f"{name}: {m * 1e3:.2f} ms a batch (median of {a.runs} runs of {a.epochs} epochs)")
    plain = medians["plain DataLoader, shuffled"]
    print(f"train_loader / plain, shuffled: {medians['train_loader, shuffled'] / plain:.2f}")


if __name__ == "__main__":
    main()
