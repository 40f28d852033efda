#!/usr/bin/env bash
# The loop's first round again, with the two fixes the README's loop section argues for:
# the PRM trained with perturbed siblings as the start PRM, perturbed siblings in every round's
# labels (label_perturb=2), and the start PRM's own labels replayed in every round's PRM
# training (prm_replay), so P0's rollouts, which label most reachable early steps 0, do not
# overwrite what it knew. Every 12th train puzzle (100), to fit a session on 2 cores.
# Round 0 and round 1's search, labels and PRM do not depend on the optimizer: computed once by
# the rft loop and copied. Resumable: rerun the script.
set -euo pipefail
PRM=${PRM:-runs/game24-rm/prm-perturbed/model}
REPLAY=${REPLAY:-runs/game24-rm/perturbed-labels/all-labels.jsonl}
ARGS=(rounds=1 train_every=12 start_prm=$PRM label_perturb=2 "prm_replay=[$REPLAY]")
qstar loop "${ARGS[@]}" optimizer=rft out_dir=runs/loopp-rft
for o in dpo; do
  mkdir -p runs/loopp-$o/round-1
  [ -d runs/loopp-$o/round-0 ] || cp -r runs/loopp-rft/round-0 runs/loopp-$o/
  for s in search label prm prm-data.jsonl; do [ -e runs/loopp-$o/round-1/$s ] || cp -r runs/loopp-rft/round-1/$s runs/loopp-$o/round-1/; done
  qstar loop "${ARGS[@]}" optimizer=$o out_dir=runs/loopp-$o
done
python recipes/legal_steps.py runs/loopp-*/round-*/eval-search/trees.jsonl
