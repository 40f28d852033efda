#!/usr/bin/env bash
# Three rounds of the loop from P0 for each optimizer: rft twice (rejection sampling by the answer
# check alone, the default; then right answers reached by legal steps only, optimizer.legal_steps=true),
# dpo with the preference term on the tokens up to where the two sibling steps part
# (optimizer.tokens=branch), and ilql.
# Every search and the search evaluation rank as the best learned tot-bfs of docs/results/game24.md (the PRM times
# the policy's probability of the step, policy_weight=0.5, paths by the product of their step
# scores, both chosen on the validation split); each round's PRM trains on the labels of every
# round so far (prm_keep_rounds). Every 12th train puzzle (100). Unlike recipes/loop_prior.sh it
# replays no label file, so it runs on a fresh checkout (REPLAY=<labels.jsonl> adds one). Round 0
# and round 1's search, labels and PRM do not depend on the optimizer: computed once (by the first
# rft loop) and copied. Resumable: rerun the script. Each round takes 6-23 minutes on 2 cores.
set -euo pipefail
ARGS=(rounds=${ROUNDS:-3} start_prm=pkg://qstar_game24/prm train_every=12 'search_overrides=["scorer.policy_weight=0.5","scorer.aggregate=prod","search.rank=path"]' prm_keep_rounds=true optimizer=rft)
[ -n "${REPLAY:-}" ] && ARGS+=("prm_replay=[$REPLAY]")
qstar loop "${ARGS[@]}" out_dir=runs/loop-rft3
share() {  # round 0 and round 1's search, labels and PRM of the first loop, into loop $1
  mkdir -p runs/$1/round-1
  [ -d runs/$1/round-0 ] || cp -r runs/loop-rft3/round-0 runs/$1/
  for s in search label prm prm-data.jsonl; do [ -e runs/$1/round-1/$s ] || cp -r runs/loop-rft3/round-1/$s runs/$1/round-1/; done
}
share loop-rft3-legal
qstar loop "${ARGS[@]}" optimizer.legal_steps=true out_dir=runs/loop-rft3-legal
share loop-dpo3
qstar loop "${ARGS[@]/optimizer=rft/optimizer=dpo}" optimizer.tokens=branch out_dir=runs/loop-dpo3
share loop-ilql3
qstar loop "${ARGS[@]/optimizer=rft/optimizer=ilql}" out_dir=runs/loop-ilql3
# the share of rule-legal steps (evaluation only) the policies propose in search and write greedy
python recipes/legal_steps.py runs/loop-{rft3,rft3-legal,dpo3,ilql3}/round-*/eval-{search,greedy}/trees.jsonl
