#!/usr/bin/env bash
# recipes/loop_clean_grouped.sh again after training began to resume exactly mid-epoch: every
# training stage now visits its data in an order drawn from the seed and the epoch (not from the
# global RNG), so each round's PRM and policy train on other batches than in the run of the loop
# page, and this run measures the loop's table under that other draw. Round 0 and round 1's search
# and labels are made by the start models (P0 and prm0) alone, which no training touches, so they
# are copied from FROM (default: runs/loop-clean-grouped, the loop page's run); every later stage
# runs: round 1's PRM and policy, and all of rounds 2 and up. Resumable: rerun the script;
# ROUNDS=<n> asks for more rounds.
set -euo pipefail
FROM=${FROM:-runs/loop-clean-grouped}
export OUT=${OUT:-runs/loop-clean-grouped-rerun}
mkdir -p "$OUT"
[ -e "$OUT/round-0" ] || { rm -rf "$OUT/round-0.partial" && cp -r "$FROM/round-0" "$OUT/round-0.partial" && mv "$OUT/round-0.partial" "$OUT/round-0"; }
if [ ! -e "$OUT/round-1" ]; then
  part="$OUT/round-1.partial"
  rm -rf "$part" && mkdir -p "$part"
  cp -r "$FROM/round-1/search" "$FROM/round-1/label" "$part/"
  mv "$part" "$OUT/round-1"  # whole or not at all: a copy cut short is redone on the next run
fi
exec bash "$(dirname "$0")/loop_clean_grouped.sh" "$@"
