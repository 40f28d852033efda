#!/usr/bin/env bash
# recipes/loop_clean_pooled.sh with the PRM's batches grouped by length
# (optimizer.group_by_length=true, transformers' LengthGroupedSampler): round 3's PRM stage, 4
# epochs, took 1,029 s of a 62-minute round; batches of paths of similar length carry less padding.
# Only the order of the PRM's training paths changes, so every round's PRM is retrained and
# evaluated; with REUSE=<a run of loop_clean_replay.sh> the search, labels and policies are copied
# from it, as in loop_clean_pooled.sh. Resumable: rerun the script.
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-grouped}
PRM_EXTRA=',"optimizer.group_by_length=true"' exec bash "$(dirname "$0")/loop_clean_pooled.sh" "$@"
