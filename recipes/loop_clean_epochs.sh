#!/usr/bin/env bash
# recipes/loop_clean_sample.sh with three changes:
#  - the policy trains 12 epochs of its data each round (trainer.max_epochs=12) instead of a fixed
#    400 steps: the data grows every round (about 1,100 paths in round 1, 5,000 in round 3), and
#    on round 3's data of loop_clean_sample.sh, 1,000 steps (about 12 epochs) instead of 400 lifted
#    learned tot-bfs on the validation split from 38 to 43 of 64 (recipes/clean_round3_variants.sh);
#  - the label stage labels 8 paths a puzzle instead of 16 (label_max_paths=8): labelling was the
#    slowest stage of a sampling round (1,224 of 2,800 s);
#  - the search and label stages run as two shards (shards=2), the search as two one-thread
#    workers at once; the driver (the command without shard=) merges them, trains and evaluates.
#    Measured alone, two one-thread workers are no faster than one process on these 2 cores
#    (benchmarks/shard_workers.py: 1.02 on 100 train puzzles); the run of the results page used
#    them, and the stages give the same trees either way. A worker that ends its search shard first
#    waits up to 10 minutes for the other (shard_wait=600), so that both label their shards at once:
#    without it, the other worker labelled its shard alone on one thread and the driver the rest
#    (round 2 of recipes/loop_clean_5m.sh: shard 0's labels took 837 s while one core idled).
# Nothing in it learned from a gold solution. Resumable: rerun the script; ROUNDS=<n> asks for more
# rounds in the same run. Arguments are added to every qstar loop command (a variant of this loop,
# with its own OUT=; recipes/loop_clean_replay.sh).
set -euo pipefail
OUT=${OUT:-runs/loop-clean-epochs}
ARGS=(optimizer=rft optimizer.legal_steps=true
  start_policy=pkg://qstar_game24/p0 start_prm=pkg://qstar_game24/prm0
  train_every=1 label_n=4 label_max_paths=8 prm_keep_rounds=true prm_steps=400
  policy_from=start policy_keep_rounds=true policy_rollouts=true policy_steps=400
  'policy_overrides=["trainer.max_steps=-1","trainer.max_epochs=12"]'
  sample_n=64 sample_from=2 shards=2 shard_wait=600
  'search_overrides=["scorer.policy_weight=0.5","scorer.aggregate=prod","search.rank=path"]'
  out_dir="$OUT" "$@")
for r in $(seq 0 "${ROUNDS:-3}"); do
  if [ "$r" -ge 1 ]; then  # round r's search and label: two one-thread workers
    OMP_NUM_THREADS=1 qstar loop "${ARGS[@]}" rounds="$r" shard=0/2 &
    w0=$!
    OMP_NUM_THREADS=1 qstar loop "${ARGS[@]}" rounds="$r" shard=1/2 &
    w1=$!
    wait "$w0"
    wait "$w1"
  fi
  qstar loop "${ARGS[@]}" rounds="$r"  # merge, train the PRM and the policy, evaluate round r
done
