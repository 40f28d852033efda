#!/usr/bin/env bash
# Self-improvement from the clean start: P0 (never saw a solution) and the PRM trained on P0's own
# trees and rollouts (pkg://qstar_game24/prm0, recipes/game24_prm0.sh) — nothing that learned from
# a gold solution, no look-ahead. Every round searches *every* train puzzle (1,198) with the current
# policy and PRM (learned setting, the best learned tot-bfs ranking: PRM·π^0.5, product path score),
# labels the steps of 16 paths per tree (answered ones first) with 4 Monte-Carlo rollouts, retrains the PRM on every round's labels so far,
# and retrains the policy *from P0* (ReST-EM) on every distinct right path found so far whose every
# step keeps the rules (legality only), then evaluates on the test split (greedy pass@1, learned
# tot-bfs, the PRM's step AUROC and first-error F1, the legal share). Resumable: rerun the script;
# ROUNDS=<n> asks for more rounds in the same run.
set -euo pipefail
ARGS=(rounds=${ROUNDS:-3} optimizer=rft optimizer.legal_steps=true
  start_policy=pkg://qstar_game24/p0 start_prm=pkg://qstar_game24/prm0
  train_every=1 label_n=4 label_max_paths=16 prm_keep_rounds=true prm_steps=400
  policy_from=start policy_keep_rounds=true policy_steps=400
  'search_overrides=["scorer.policy_weight=0.5","scorer.aggregate=prod","search.rank=path"]')
qstar loop "${ARGS[@]}" out_dir=runs/loop-clean
