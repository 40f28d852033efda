#!/usr/bin/env bash
# Round 3's PRM stage of the sampling loop again with the hard labels backed up along each path
# (optimizer.backup=true: a step is good when any later step of its path is), from round 2's PRM
# on the same data and steps, then the loop's tot-bfs with round 3's policy on the validation split
# (64 puzzles). The row to compare: round 3's own PRM, 38 of 64 (recipes/clean_policy_or_prm.sh).
# Run recipes/loop_clean_sample.sh to round 3 first. Resumable.
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-sample}
OUT=${OUT:-runs/clean-prm-backup}
mkdir -p "$OUT"
[ -f $OUT/prm/done.txt ] || { qstar train seed=0 optimizer=prm optimizer.target=hard optimizer.backup=true \
  model.name_or_path=$LOOP/round-2/prm/model data=$LOOP/round-3/prm-data.jsonl trainer.max_steps=400 \
  trainer.enable_progress_bar=false trainer.log_every_n_steps=10 out_dir=$OUT/prm > $OUT/prm.log 2>&1; touch $OUT/prm/done.txt; }
[ -f $OUT/search/results.json ] || qstar eval seed=0 split=val model.name_or_path=$LOOP/round-3/policy/model \
  search=tot-bfs scorer=prm scorer.model=$OUT/prm/model setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod \
  search.rank=path progress=false out_dir=$OUT/search > $OUT/search.log 2>&1
python -c "import json; r=json.load(open('$OUT/search/results.json')); print(f\"round 3's policy, PRM with backed-up labels: {r['solved']} of {r['problems']}\")"
