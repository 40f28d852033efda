#!/usr/bin/env bash
# recipes/loop_clean_epochs.sh with one change: every round's policy also trains on 2 random legal
# trajectories of P0's game per train puzzle (optimizer.replay_legal=2; none reaches 24, so no
# solution enters). At round 3 of the epochs loop it lifted the legal share of proposals from 42%
# to 55% and the puzzles an oracle ranking of them solves from 51 to 56 of 64 (validation split;
# recipes/clean_policy_variant.sh), but round 3's PRM had learned on the other policy's paths: this
# loop trains both on the replaying policy's rounds.
#
# REUSE=<a run of loop_clean_epochs.sh> copies, into a new OUT, what the option cannot change: round
# 0 (the start models' evaluation) and round 1's search and labels (made by the start models). Round
# 1's PRM is trained again: runs made before PRMs stored their operating point lack it.
# Resumable: rerun the script; ROUNDS=<n> asks for more rounds.
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-replay}
if [ -n "${REUSE:-}" ] && [ ! -e "$OUT" ]; then
  mkdir -p "$OUT/round-1"
  cp -r "$REUSE/round-0" "$OUT/"
  cp -r "$REUSE/round-1/search" "$REUSE/round-1/label" "$OUT/round-1/"
fi
exec bash "$(dirname "$0")/loop_clean_epochs.sh" optimizer.replay_legal=2
