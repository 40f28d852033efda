#!/usr/bin/env bash
# recipes/loop_clean_grouped.sh from a larger start policy: P0's recipe with 6 blocks of width 256
# (about 5.1M parameters: recipes/game24_p0_5m.sh, run into $P0 when $P0/model is missing) instead of
# the bundled P0's 4 blocks of width 192 (about 2M). Round 1 searches with it and the start PRM
# prm0 (the 2M PRM trained on the bundled P0's own searched trees and Monte-Carlo labels: no gold
# solution, no gold-trained model); from round 1 on each round's PRM starts from that round's 5M
# policy (prm_from=policy), so the PRMs are 5M too. Nothing in it learned from a gold solution.
# Resumable: rerun the script; ROUNDS=<n> asks for more rounds. Arguments are added to every qstar
# loop command, as in loop_clean_grouped.sh.
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-5m}
P0=${P0:-$OUT/p0}  # inside the run: recipes/loop_state.py packs it with the run
[ -f "$P0/model/config.json" ] || RUN="$P0" bash "$(dirname "$0")/game24_p0_5m.sh"
exec bash "$(dirname "$0")/loop_clean_grouped.sh" start_policy="$P0/model" "$@"
