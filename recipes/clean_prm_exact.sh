#!/usr/bin/env bash
# A diagnostic, never a learned figure: round R's PRM stage of a clean loop again on the same steps
# with every label replaced by the task's exact one (the verifier's look-ahead), then
# recipes/clean_prm_variant.sh (the loop's tot-bfs on the validation split with round R's policy
# and each PRM; `qstar judge` of both). It asks whether the PRM's size or its labels limit its
# ranking: what a 2M PRM trained the loop's way could do with perfect labels. Run the loop to
# round R first. Resumable; prints the two rows.
#   R=3 LOOP=runs/loop-clean-replay OUT=runs/clean-replay-prm-r3 bash recipes/clean_prm_exact.sh
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-epochs}
R=${R:-3}
OUT=${OUT:-runs/clean-prm-r$R}
mkdir -p "$OUT"
DATA=$OUT/exact-prm-data.jsonl
[ -f "$DATA" ] || python "$(dirname "$0")/exact_relabel.py" "$LOOP/round-$R/prm-data.jsonl" "$DATA"
LOOP=$LOOP R=$R NAME=exact OUT=$OUT bash "$(dirname "$0")/clean_prm_variant.sh" data="$DATA" "$@"
