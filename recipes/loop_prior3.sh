#!/usr/bin/env bash
# Three rounds of the loop with rft from P0, twice: rejection sampling by the answer check alone
# (the default), then with right answers reached by legal steps only (optimizer.legal_steps=true).
# Every search and the search evaluation rank as the README's best learned tot-bfs (the PRM times
# the policy's probability of the step, policy_weight=0.5, paths by the product of their step
# scores, both chosen on the validation split); each round's PRM trains on the labels of every
# round so far (prm_keep_rounds). Every 12th train puzzle (100). Unlike recipes/loop_prior.sh it
# replays no label file, so it runs on a fresh checkout (REPLAY=<labels.jsonl> adds one). Round 0
# and round 1's search, labels and PRM do not depend on how rft filters its paths: computed once
# and copied. Resumable: rerun the script.
set -euo pipefail
ARGS=(rounds=${ROUNDS:-3} train_every=12 'search_overrides=["scorer.policy_weight=0.5","scorer.aggregate=prod","search.rank=path"]' prm_keep_rounds=true optimizer=rft)
[ -n "${REPLAY:-}" ] && ARGS+=("prm_replay=[$REPLAY]")
qstar loop "${ARGS[@]}" out_dir=runs/loop-rft3
mkdir -p runs/loop-rft3-legal/round-1
[ -d runs/loop-rft3-legal/round-0 ] || cp -r runs/loop-rft3/round-0 runs/loop-rft3-legal/
for s in search label prm prm-data.jsonl; do [ -e runs/loop-rft3-legal/round-1/$s ] || cp -r runs/loop-rft3/round-1/$s runs/loop-rft3-legal/round-1/; done
qstar loop "${ARGS[@]}" optimizer.legal_steps=true out_dir=runs/loop-rft3-legal
python recipes/legal_steps.py runs/loop-rft3*/round-*/eval-search/trees.jsonl
