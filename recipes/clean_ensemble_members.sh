#!/usr/bin/env bash
# Round R of recipes/loop_clean_ensemble.sh on SPLIT (default: the validation split): the loop's
# learned tot-bfs with each of the round's three PRMs alone (seeds 0, 1, 2) and with their
# ensemble, round R's policy proposing, search seed 0 as the loop evaluates. Resumable: a finished
# search is skipped. About 10 minutes at round 1 (64 validation puzzles).
#   R=1 bash recipes/clean_ensemble_members.sh
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-ensemble} R=${R:?set R=<round>} SPLIT=${SPLIT:-val}
OUT=${OUT:-runs/clean-ensemble-$SPLIT/round-$R}
D=$LOOP/round-$R
[ -e "$D/prm-seed2/done.json" ] || { echo "$D has no trained prm-seed2: run recipes/loop_clean_ensemble.sh to round $R first" >&2; exit 2; }
run() {
  name=$1; shift
  [ -e "$OUT/$name/results.json" ] || qstar eval seed=0 split="$SPLIT" limit=0 model.name_or_path="$D/policy/model" search=tot-bfs \
    scorer=prm "$@" setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path progress=false out_dir="$OUT/$name"
  python -c "import json, sys; r = json.load(open(sys.argv[1])); print(sys.argv[2], r['solved'], 'of', r['problems'])" "$OUT/$name/results.json" "$name"
}
run seed0 scorer.model="$D/prm/model"
run seed1 scorer.model="$D/prm-seed1/model"
run seed2 scorer.model="$D/prm-seed2/model"
run ensemble scorer.model="$D/prm/model" "scorer.ensemble=[$D/prm-seed1/model,$D/prm-seed2/model]"
