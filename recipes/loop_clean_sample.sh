#!/usr/bin/env bash
# recipes/loop_clean_rollouts.sh with one change: from round 2 on, the train stage samples 64 whole
# solutions per train puzzle from the round's policy (sample_n=64: ReST-EM's E-step, Singh et al.
# 2023) instead of the PRM-guided tree search. Round 1 keeps the tree search (P0 alone finds a right
# path for 12 of 100 train puzzles in 64 samples; the tree search for 56). On 100 train puzzles,
# round 2's policy sampling 32 solutions each found a right path for 70 and 183 distinct legal right
# paths in 34 s; the round-2 tree search with round 1's policy found 60 and 92 in about 212 s.
# Every right sample, every right labelling rollout and every right searched path of all rounds so
# far trains the policy from P0 (rft, legal steps only); the PRM trains on every round's labels.
# Nothing in it learned from a gold solution. Resumable: rerun the script; ROUNDS=<n> asks for more
# rounds in the same run. Rounds 0 and 1 are loop_clean_rollouts.sh's (the same commands): copying
# runs/loop-clean-rollouts/round-0 and round-1 into runs/loop-clean-sample/ before the first run
# skips them.
set -euo pipefail
ARGS=(rounds=${ROUNDS:-3} optimizer=rft optimizer.legal_steps=true
  start_policy=pkg://qstar_game24/p0 start_prm=pkg://qstar_game24/prm0
  train_every=1 label_n=4 label_max_paths=16 prm_keep_rounds=true prm_steps=400
  policy_from=start policy_keep_rounds=true policy_rollouts=true policy_steps=400
  sample_n=64 sample_from=2
  'search_overrides=["scorer.policy_weight=0.5","scorer.aggregate=prod","search.rank=path"]')
qstar loop "${ARGS[@]}" out_dir=runs/loop-clean-sample
