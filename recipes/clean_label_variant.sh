#!/usr/bin/env bash
# Round R's label stage of a clean loop again with other `qstar label` settings (the arguments:
# qstar label overrides, e.g. labeler.n=8 for 8 Monte-Carlo rollouts per step instead of the loop's
# 4), on the same searched trees with the same roller-out (round R-1's policy), as two one-thread
# shards as the loop runs it; then the PRM data as the loop joins it (rounds 1 … R-1's labels, then
# these) and recipes/clean_prm_variant.sh: round R's PRM stage on that data, the loop's tot-bfs on
# the validation split with round R's policy and each PRM, and `qstar judge` of both. Only the PRM
# changes: the policy keeps the loop's own data. Nothing here learned from a gold solution. Run the
# loop to round R first. Resumable; prints the two rows.
#   NAME=label8 R=3 LOOP=runs/loop-clean-replay bash recipes/clean_label_variant.sh labeler.n=8
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-epochs}
R=${R:-3}
NAME=${NAME:?name the variant: NAME=<name>}
OUT=${OUT:-runs/clean-prm-r$R}
L=$OUT/$NAME-label
mkdir -p "$L"
# the loop's own label command of shard i (its log's first line), with the variant's overrides
loopcmd() { grep -m1 '^\$ qstar label' "$LOOP/round-$R/label/shard-$1/log.txt" | sed 's/^\$ qstar //; s/ out_dir=[^ ]*//'; }
if [ ! -f "$L/labels.jsonl" ]; then  # not merged yet: label both shards (a rerun resumes a killed one)
  pids=()
  for i in 0 1; do
    read -r -a CMD < <(loopcmd "$i")
    OMP_NUM_THREADS=1 qstar "${CMD[@]}" "$@" out_dir="$L/shard-$i" > "$L/shard-$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  qstar merge "inputs=[$L/shard-0,$L/shard-1]" out_dir="$L" > "$L/merge.log" 2>&1
fi
DATA=$OUT/$NAME-prm-data.jsonl
[ -f "$DATA" ] || {
  for q in $(seq 1 $((R - 1))); do cat "$LOOP/round-$q/label/labels.jsonl"; done > "$DATA.tmp"
  cat "$L/labels.jsonl" >> "$DATA.tmp" && mv "$DATA.tmp" "$DATA"
}
LOOP=$LOOP R=$R NAME=$NAME OUT=$OUT bash "$(dirname "$0")/clean_prm_variant.sh" data="$DATA"
