#!/usr/bin/env bash
# Round R's learned tot-bfs of a clean loop on the validation split (64 puzzles) with other path
# scores: the loop folds a path's step scores (PRM · π(step)^0.5) by their product; `last` ranks a
# path by its last step's score alone (the PRM trained on labels pooled by state learns the value
# of the state a step leaves), `min` by its weakest step. Round R's own policy and PRM, search
# seed 0, learned setting. Run the loop to round R first. Resumable; prints the table.
#   R=1 bash recipes/clean_rankings.sh
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-grouped} R=${R:-3}
OUT=${OUT:-runs/clean-grouped-rankings/round-$R}
AGGREGATES=${AGGREGATES:-prod last min}
mkdir -p "$OUT"
for agg in $AGGREGATES; do
  [ -f "$OUT/$agg/results.json" ] || qstar eval seed=0 split=val search=tot-bfs scorer=prm setting=learned \
    scorer.policy_weight=0.5 scorer.aggregate="$agg" search.rank=path progress=false \
    model.name_or_path="$LOOP/round-$R/policy/model" scorer.model="$LOOP/round-$R/prm/model" \
    out_dir="$OUT/$agg" > "$OUT/$agg.log" 2>&1
done
python - "$OUT" "$R" $AGGREGATES <<'PY'
import json, sys
from pathlib import Path
out, r, aggs = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
print(f"| round {r}, validation split: path score | solved of 64 | generated tokens / puzzle |")
print("|---|---|---|")
for agg in aggs:
    res = json.loads((out / agg / "results.json").read_text())
    print(f"| `scorer.aggregate={agg}`{' (the loop)' if agg == 'prod' else ''} | {res['solved']} | {res['generated_tokens_per_problem']:,.0f} |")
PY
