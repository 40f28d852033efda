#!/usr/bin/env bash
# Three rounds of the loop with rft from P0, every search and the search evaluation ranked as in the
# README's best learned tot-bfs (PRM times the policy's probability of the step, policy_weight=0.5,
# paths by the product of their step scores, both chosen on the validation split), and each round's
# PRM trained on the labels of every round so far (prm_keep_rounds). Every 12th train puzzle (100).
# Unlike recipes/loop_prior.sh it replays no label file, so it runs on a fresh checkout without
# recipes/game24_reward_models.sh's labels (REPLAY=<labels.jsonl> adds them). Resumable: rerun it.
set -euo pipefail
ARGS=(rounds=${ROUNDS:-3} train_every=12 'search_overrides=["scorer.policy_weight=0.5","scorer.aggregate=prod","search.rank=path"]' prm_keep_rounds=true)
[ -n "${REPLAY:-}" ] && ARGS+=("prm_replay=[$REPLAY]")
qstar loop "${ARGS[@]}" optimizer=rft out_dir=${OUT:-runs/loop-rft3}
python recipes/legal_steps.py ${OUT:-runs/loop-rft3}/round-*/eval-search/trees.jsonl
