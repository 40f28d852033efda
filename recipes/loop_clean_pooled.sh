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
# REUSE=<a run of loop_clean_replay.sh> copies, into a new OUT, what the changes cannot change:
# round 0 (the start models' evaluation), round 1's search and labels (made by the start models)
# and round 1's policy (its stage reads neither the PRM nor the labels' values: rft trains on the
# label stage's trees grown by their rollouts). Round 1's labels were written before qstar label
# wrote each step's state: recipes/add_states.py adds them to the copy, from the steps' text alone.
# Round 1 then trains only its PRM and evaluates.
# Resumable: rerun the script; ROUNDS=<n> asks for more rounds.
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-pooled}
if [ -n "${REUSE:-}" ] && [ ! -e "$OUT" ]; then
  rm -rf "$OUT.partial"
  mkdir -p "$OUT.partial/round-1"
  cp -r "$REUSE/round-0" "$OUT.partial/"
  cp -r "$REUSE/round-1/search" "$REUSE/round-1/label" "$REUSE/round-1/policy" "$OUT.partial/round-1/"
  rm "$OUT.partial/round-1/label/labels.jsonl"
  python "$(dirname "$0")/add_states.py" "$REUSE/round-1/label/labels.jsonl" "$OUT.partial/round-1/label/labels.jsonl"
  mv "$OUT.partial" "$OUT"  # whole or not at all: a copy cut short is redone on the next run
fi
exec bash "$(dirname "$0")/loop_clean_epochs.sh" optimizer.replay_legal=2 prm_from=policy \
  'prm_overrides=["optimizer.pool_states=true","trainer.max_steps=-1","trainer.max_epochs=4"]' "$@"
