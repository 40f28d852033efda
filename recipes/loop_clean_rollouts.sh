#!/usr/bin/env bash
# recipes/loop_clean.sh with one change: the policy also learns from its own right rollouts.
# Every round's label stage keeps its trees grown by their Monte-Carlo rollouts (qstar label
# rollouts=true), and rft retrains from P0 on every distinct legal right path in them — the
# searched ones and every rollout that reached 24 — over all rounds so far (rStar-Math keeps every
# verified trajectory). On round 2's data this lifted learned tot-bfs on the validation split from
# 31 to 36 of 64 (docs/results/journal.md, "Why the search stopped rising"). Nothing in it learned
# from a gold solution. Resumable: rerun the script; ROUNDS=<n> asks for more rounds in the same run.
# Rounds 0 and round 1's search are loop_clean.sh's (the same commands): copying
# runs/loop-clean/round-0 and runs/loop-clean/round-1/search into runs/loop-clean-rollouts/ before
# the first run skips them.
set -euo pipefail
ARGS=(rounds=${ROUNDS:-3} optimizer=rft optimizer.legal_steps=true
  start_policy=pkg://qstar_game24/p0 start_prm=pkg://qstar_game24/prm0
  train_every=1 label_n=4 label_max_paths=16 prm_keep_rounds=true prm_steps=400
  policy_from=start policy_keep_rounds=true policy_rollouts=true policy_steps=400
  'search_overrides=["scorer.policy_weight=0.5","scorer.aggregate=prod","search.rank=path"]')
qstar loop "${ARGS[@]}" out_dir=runs/loop-clean-rollouts
