#!/usr/bin/env bash
# Which of the two limits the clean loop's learned search: its policy or its PRM? On the
# validation split (64 puzzles), the loop's tot-bfs (PRM·π^0.5, product path score) with each
# pairing of {round 3's policy, the gold-trained policy} and {round 3's PRM, the bundled PRM}.
# The gold-trained policy and the bundled PRM (trained on the gold-trained policy's rollouts)
# learned from gold solutions: a diagnostic only, never a loop figure. Run
# recipes/loop_clean_sample.sh to round 3 first. Prints the table; resumable.
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-sample}
OUT=${OUT:-runs/clean-policy-or-prm}
mkdir -p "$OUT"
SEARCH=(seed=0 split=val search=tot-bfs scorer=prm setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path progress=false)
for policy in round3 gold; do
  for prm in round3 bundled; do
    m=$LOOP/round-3/policy/model; [ $policy = gold ] && m=pkg://qstar_game24/policy
    p=$LOOP/round-3/prm/model; [ $prm = bundled ] && p=pkg://qstar_game24/prm
    d=$OUT/$policy-policy-$prm-prm
    [ -f $d/results.json ] || qstar eval "${SEARCH[@]}" model.name_or_path=$m scorer.model=$p out_dir=$d > $d.log 2>&1
  done
done
echo "| policy | PRM | tot-bfs solved of 64 |"
echo "|---|---|---|"
for d in "$OUT"/*-policy-*-prm; do
  [ -d "$d" ] || continue
  n=$(basename "$d"); python -c "import json,sys; r=json.load(open('$d/results.json')); print(f\"| ${n%%-policy-*} | $(echo ${n#*-policy-} | sed 's/-prm//') | {r['solved']} |\")"
done
