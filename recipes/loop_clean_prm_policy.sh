#!/usr/bin/env bash
# recipes/loop_clean_replay.sh with one change: prm_from=policy. Each round trains its policy first
# and starts the round's PRM from that new policy's backbone with a fresh value head (on every
# round's labels so far), instead of continuing the previous round's PRM; the bundled PRM likewise
# starts from the bundled policy. At round 3 of the replay loop, that PRM stage alone searched 45 of
# 64 validation puzzles against the loop's 42, with first-error F1 0.633 against 0.507
# (NAME=from-policy START=runs/loop-clean-replay/round-3/policy/model R=3 LOOP=runs/loop-clean-replay
#  OUT=runs/clean-replay-prm-r3 bash recipes/clean_prm_variant.sh). With labels pooled by state
# (recipes/pool_relabel.py) and 4 epochs as well it searched 50; pooling is not a loop option yet
# (docs/results/journal.md, "The PRM that starts from the round's policy, and labels pooled by state").
#
# REUSE=<a run of loop_clean_replay.sh> copies, into a new OUT, what the option cannot change:
# round 0 (the start models' evaluation), round 1's search and labels (made by the start models)
# and round 1's policy (the same data, start, options and seed: its policy stage does not read the
# PRM). Round 1 then trains only its PRM and evaluates.
# Resumable: rerun the script; ROUNDS=<n> asks for more rounds.
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-prm-policy}
if [ -n "${REUSE:-}" ] && [ ! -e "$OUT" ]; then
  mkdir -p "$OUT/round-1"
  cp -r "$REUSE/round-0" "$OUT/"
  cp -r "$REUSE/round-1/search" "$REUSE/round-1/label" "$REUSE/round-1/policy" "$OUT/round-1/"
fi
exec bash "$(dirname "$0")/loop_clean_epochs.sh" optimizer.replay_legal=2 prm_from=policy "$@"
