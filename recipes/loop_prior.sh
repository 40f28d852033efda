#!/usr/bin/env bash
# The loop's first round with the fixes docs/results/journal.md argues for (not yet run to the
# end on 2 cores): every search and the search evaluation rank steps by the PRM times the
# policy's probability of the step (scorer.policy_weight=0.5, chosen on the validation split),
# and every round's PRM training replays the bundled PRM's own labels (prm_replay), so P0's
# rollouts, which label most reachable early steps 0, do not overwrite what it knew. Every 12th
# train puzzle (100). Round 0 and round 1's search, labels and PRM do not depend on the
# optimizer: computed once by the rft loop and copied. Resumable: rerun the script.
set -euo pipefail
REPLAY=${REPLAY:-runs/game24-rm/all-labels.jsonl}  # written by recipes/game24_reward_models.sh
ARGS=(rounds=${ROUNDS:-1} start_prm=pkg://qstar_game24/prm train_every=12 'search_overrides=["scorer.policy_weight=0.5"]' "prm_replay=[$REPLAY]")
qstar loop "${ARGS[@]}" optimizer=rft out_dir=runs/loop-prior-rft
for o in dpo; do
  mkdir -p runs/loop-prior-$o/round-1
  [ -d runs/loop-prior-$o/round-0 ] || cp -r runs/loop-prior-rft/round-0 runs/loop-prior-$o/
  for s in search label prm prm-data.jsonl; do [ -e runs/loop-prior-$o/round-1/$s ] || cp -r runs/loop-prior-rft/round-1/$s runs/loop-prior-$o/round-1/; done
  qstar loop "${ARGS[@]}" optimizer=$o out_dir=runs/loop-prior-$o
done
python recipes/legal_steps.py runs/loop-prior-*/round-*/eval-search/trees.jsonl
