"""ProcessBench's first-error F1 of every round's PRM of a loop run at the PRM's own operating
point, for PRMs trained before `qstar train optimizer=prm` stored one. For each round r ≥ 1: the
threshold with the best first-error F1 on the validation paths of round r's PRM data (the split
its training held out: problems by stable hash, optimizer.val_percent 5, seed 0; Monte-Carlo
labels, never exact ones), then `qstar judge` of round r's searched test trees at that threshold
(exact labels: evaluation only). Nothing is written into the loop's run.

    python recipes/prm_thresholds.py runs/loop-clean-epochs [out_dir]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qstar_rm.data import read_examples, split_groups
from qstar_rm.train import choose_threshold


def main(loop: Path, out: Path) -> None:
    print("| round | threshold (its validation labels) | F1 there | step AUROC (test trees) | first-error F1 at 0.5 | at its threshold |")
    print("|---|---|---|---|---|---|")
    rounds = sorted((int(d.name.split("-")[1]) for d in loop.glob("round-*") if (d / "prm" / "model").is_dir()))
    for r in rounds:
        d = loop / f"round-{r}"
        settings = json.loads((d / "prm" / "settings.json").read_text())
        opt = settings["optimizer"]
        _, val = split_groups(
            read_examples(settings["data"], opt["target"], tuple(opt["positive_ratings"]), opt.get("pool_states", False)),
            opt["val_percent"],
            settings["seed"],
        )
        meta = choose_threshold(d / "prm" / "model", val)
        if meta is None:
            print(f"| {r} | undefined | | | | |")
            continue
        judged = {}
        for name, t in (("own", meta["threshold"]), ("half", 0.5)):
            own = d / "judge" / "judge.json"  # the loop's own judge, where it ran at this threshold
            if own.exists() and json.loads(own.read_text())["first_error"]["threshold"] == t:
                judged[name] = json.loads(own.read_text())
                continue
            dest = out / f"round-{r}" / name
            if not (dest / "judge.json").exists():
                cmd = ["qstar", "judge", f"data={d / 'eval-search' / 'trees.jsonl'}", "scorer=prm", f"scorer.model={d / 'prm' / 'model'}"]
                subprocess.run([*cmd, f"threshold={t}", f"out_dir={dest}"], check=True, capture_output=True)
            judged[name] = json.loads((dest / "judge.json").read_text())
        print(
            f"| {r} | {meta['threshold']:.4f} | {meta['threshold_f1']:.3f} | {judged['own']['step_auroc']:.3f} | "
            f"{judged['half']['first_error']['f1']:.3f} | {judged['own']['first_error']['f1']:.3f} |"
        )


if __name__ == "__main__":
    loop = Path(sys.argv[1])
    main(loop, Path(sys.argv[2]) if len(sys.argv) > 2 else Path("runs/prm-thresholds") / loop.name)
