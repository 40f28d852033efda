#!/usr/bin/env bash
# The loop round table of docs/results/journal.md (learned setting, Game of 24 test split), for each optimizer.
# Round 0 (P0's evaluation) and round 1's search, labels and PRM do not depend on the optimizer:
# they are computed once (by the rft loop) and copied, which the loop accepts as finished stages.
# Every stage is resumable: rerun the script and each loop goes on where it stopped. On 2 cores a
# round takes about an hour; run the loops one after another, or with OMP_NUM_THREADS=1 side by side.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
qstar loop rounds=1 optimizer=rft start_prm=pkg://qstar_game24/prm out_dir=runs/loop3-rft
for o in dpo ilql; do
  mkdir -p runs/loop3-$o/round-1
  [ -d runs/loop3-$o/round-0 ] || cp -r runs/loop3-rft/round-0 runs/loop3-$o/
  for s in search label prm; do [ -d runs/loop3-$o/round-1/$s ] || cp -r runs/loop3-rft/round-1/$s runs/loop3-$o/round-1/; done
done
for o in rft dpo ilql; do qstar loop rounds=$ROUNDS optimizer=$o start_prm=pkg://qstar_game24/prm out_dir=runs/loop3-$o; done
# diagnosis: P0 searched with round 1's PRM, and the share of rule-legal steps in each round's trees
qstar eval split=test model.name_or_path=pkg://qstar_game24/p0 search=tot-bfs scorer=prm scorer.model=runs/loop3-rft/round-1/prm/model setting=learned out_dir=runs/diag-p0-prm1
python recipes/legal_steps.py runs/loop3-*/round-*/eval-search/trees.jsonl
