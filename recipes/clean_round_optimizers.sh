#!/usr/bin/env bash
# DPO and ILQL against rft at the same data and compute, within a clean loop's round R: round R's
# policy stage again with optimizer=dpo (step-level, sibling steps of the labelled paths) and
# optimizer=ilql, from the same start (P0: the loop retrains from its start each round), on the
# same round's data (the labelled paths of rounds 1…R, which the round's PRM learned from; rft
# learned from the right paths of the same searches and rollouts), for as many optimizer steps as
# the loop's rft took, at 64 sequences a step as rft's batch (dpo: 32 pairs; ilql: 64 paths).
# Then the loop's own evaluation of each policy on the test split, learned setting: greedy pass@1
# and tot-bfs with round R's PRM (PRM·π^0.5, product path score); ILQL's policy samples with its
# Q heads (expander=ilql), as the loop does. The rft row is the loop's own round R. DPO runs twice:
# the default (the preference term over the whole step, Step-DPO) and tokens=branch (up to the
# first token where the two steps differ), the better of the two in recipes/round1_policies.sh. Nothing here
# learned from a gold solution. Run the loop to round R first. Resumable; prints the table.
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-epochs}
R=${R:-3}
OUT=${OUT:-runs/clean-optimizers-r$R}
mkdir -p "$OUT"
STEPS=$(tail -1 "$LOOP/round-$R/policy/logs/metrics.csv" | cut -d, -f2)  # the loop's rft steps in round R
EVAL=(seed=0 split=test progress=false)
ARMS=${ARMS:-dpo ilql dpo-branch}  # a subset: ARMS="dpo-branch ilql"
for arm in $ARMS; do
  opt=${arm%-branch}
  batch=32; [ $opt = ilql ] && batch=64
  extra=(); [ $arm = dpo-branch ] && extra=(optimizer.tokens=branch)
  [ -f "$OUT/$arm/done.txt" ] || {
    resume=false; [ -e "$OUT/$arm/checkpoints/last.ckpt" ] && resume=true  # an interrupted arm goes on
    qstar train resume=$resume seed=0 optimizer=$opt optimizer.batch_size=$batch "${extra[@]}" model.name_or_path=pkg://qstar_game24/p0 \
      data="$LOOP/round-$R/prm-data.jsonl" trainer.max_steps="$STEPS" trainer.enable_progress_bar=false \
      trainer.log_every_n_steps=10 out_dir="$OUT/$arm" >> "$OUT/$arm.log" 2>&1
    touch "$OUT/$arm/done.txt"
  }
  gen=(model.name_or_path="$OUT/$arm/model"); [ $opt = ilql ] && gen+=(expander=ilql)
  [ -f "$OUT/$arm-greedy/results.json" ] || qstar eval "${EVAL[@]}" "${gen[@]}" search=best-of-n search.n=1 \
    search.select=majority '~scorer' expander.temperature=0 out_dir="$OUT/$arm-greedy" > "$OUT/$arm-greedy.log" 2>&1
  [ -f "$OUT/$arm-search/results.json" ] || qstar eval "${EVAL[@]}" "${gen[@]}" search=tot-bfs scorer=prm \
    scorer.model="$LOOP/round-$R/prm/model" setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod \
    search.rank=path out_dir="$OUT/$arm-search" > "$OUT/$arm-search.log" 2>&1
done
python - "$LOOP" "$OUT" "$R" "$STEPS" $ARMS <<'PY'
import json, sys
from pathlib import Path
loop, out, r, steps, optimizers = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
print(f"| round {r}'s policy stage, {steps} steps from P0 | greedy pass@1 (test) | tot-bfs + PRM·π^0.5 (test) |")
print("|---|---|---|")
arms = {"rft (the loop's own)": (loop / f"round-{r}" / "eval-greedy", loop / f"round-{r}" / "eval-search")}
arms |= {opt: (out / f"{opt}-greedy", out / f"{opt}-search") for opt in optimizers}
for name, (g, s) in arms.items():
    solved = [json.loads((d / "results.json").read_text())["solved"] for d in (g, s)]
    print(f"| {name} | {solved[0]} | {solved[1]} |")
PY
