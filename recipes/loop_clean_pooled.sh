#!/usr/bin/env bash
# recipes/loop_clean_replay.sh with three changes to the PRM stage, which together lifted round 3's
# learned tot-bfs on the validation split from 42 to 50 of 64 (docs/results/journal.md, "The PRM
# that starts from the round's policy, and labels pooled by state"):
#  - prm_from=policy: each round trains its policy first and starts the round's PRM from that new
#    policy's backbone with a fresh value head (on every round's labels so far);
#  - optimizer.pool_states=true: every labelled step learns the mean rollout outcome of all the
#    labelled steps, in every round so far, that leave the same numbers (only rollout outcomes
#    are pooled: no look-ahead, no gold solution);
#  - 4 epochs of its data (trainer.max_epochs=4) instead of 400 steps.
#
# In this loop the PRM reaches no training data after round 0: round 1 searches with the start
# PRM, and from round 2 on the train stage samples whole solutions from the round's policy
# (sample_n=64, no PRM), the label stage's rollouts are the policy's, and the policy trains on
# them. So the changes only change each round's PRM and its evaluation, and REUSE=<a run of
# loop_clean_replay.sh> copies, into OUT, round 0 and each round's search, labels and policy
# from it (the same data, options and seeds); every round then trains only its PRM and evaluates.
# Those labels were written before qstar label wrote each step's state: recipes/add_states.py
# adds them to the copy, from the steps' text alone. Without REUSE every stage runs.
# Resumable: rerun the script; ROUNDS=<n> asks for more rounds. PRM_EXTRA=',"<override>",...' adds
# overrides to the PRM stage (a variant, with its own OUT=; recipes/loop_clean_grouped.sh).
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-pooled}
if [ -n "${REUSE:-}" ]; then
  mkdir -p "$OUT"
  [ -e "$OUT/round-0" ] || cp -r "$REUSE/round-0" "$OUT/"
  for r in $(seq 1 "${ROUNDS:-3}"); do
    if [ -e "$OUT/round-$r" ] || [ ! -e "$REUSE/round-$r/policy/done.json" ]; then continue; fi
    part="$OUT/round-$r.partial"
    rm -rf "$part" && mkdir -p "$part"
    cp -r "$REUSE/round-$r/search" "$REUSE/round-$r/label" "$REUSE/round-$r/policy" "$part/"
    rm "$part/label/labels.jsonl"
    python "$(dirname "$0")/add_states.py" "$REUSE/round-$r/label/labels.jsonl" "$part/label/labels.jsonl"
    mv "$part" "$OUT/round-$r"  # whole or not at all: a copy cut short is redone on the next run
  done
fi
exec bash "$(dirname "$0")/loop_clean_epochs.sh" optimizer.replay_legal=2 prm_from=policy \
  'prm_overrides=["optimizer.pool_states=true","trainer.max_steps=-1","trainer.max_epochs=4"'"${PRM_EXTRA:-}]" "$@"
