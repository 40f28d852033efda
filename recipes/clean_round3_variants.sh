#!/usr/bin/env bash
# Round 3's PRM and policy stages of the sampling loop again, one change at a time, on the same
# data, each evaluated with the loop's tot-bfs on the validation split (64 puzzles), learned
# setting. The rows to compare: round 3's own policy and PRM, 38 of 64; backed-up PRM labels 39
# (recipes/clean_policy_or_prm.sh, recipes/clean_prm_backup.sh). Run recipes/loop_clean_sample.sh to
# round 3 first. Resumable; prints the table.
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-sample}
OUT=${OUT:-runs/clean-round3-variants}
mkdir -p "$OUT"
TRAIN=(seed=0 trainer.enable_progress_bar=false trainer.log_every_n_steps=10)
SEARCH=(seed=0 split=val search=tot-bfs scorer=prm setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path progress=false)
# 1. the PRM on soft targets (Math-Shepherd's soft estimate: the fraction of rollouts that reached 24)
[ -f $OUT/prm-soft/done.txt ] || { qstar train "${TRAIN[@]}" optimizer=prm optimizer.target=soft \
  model.name_or_path=$LOOP/round-2/prm/model data=$LOOP/round-3/prm-data.jsonl trainer.max_steps=400 \
  out_dir=$OUT/prm-soft > $OUT/prm-soft.log 2>&1; touch $OUT/prm-soft/done.txt; }
[ -f $OUT/prm-soft-search/results.json ] || qstar eval "${SEARCH[@]}" model.name_or_path=$LOOP/round-3/policy/model \
  scorer.model=$OUT/prm-soft/model out_dir=$OUT/prm-soft-search > $OUT/prm-soft-search.log 2>&1
# 2. the policy trained 2.5 times longer (1,000 steps of 64 paths: about 12 epochs of round 3's 5,263 paths)
[ -f $OUT/policy-1000/done.txt ] || { qstar train "${TRAIN[@]}" optimizer=rft optimizer.lr=0.0001 optimizer.weight_decay=0.01 \
  optimizer.warmup_steps=20 optimizer.batch_size=64 optimizer.val_percent=10.0 optimizer.max_per_problem=32 \
  optimizer.source=right-paths optimizer.legal_steps=true model.name_or_path=pkg://qstar_game24/p0 \
  data=$LOOP/round-3/policy-data.jsonl trainer.max_steps=1000 out_dir=$OUT/policy-1000 > $OUT/policy-1000.log 2>&1; touch $OUT/policy-1000/done.txt; }
[ -f $OUT/policy-1000-search/results.json ] || qstar eval "${SEARCH[@]}" model.name_or_path=$OUT/policy-1000/model \
  scorer.model=$LOOP/round-3/prm/model out_dir=$OUT/policy-1000-search > $OUT/policy-1000-search.log 2>&1
[ -f $OUT/policy-1000-greedy/results.json ] || qstar eval seed=0 split=val model.name_or_path=$OUT/policy-1000/model \
  search=best-of-n search.n=1 search.select=majority '~scorer' expander.temperature=0 progress=false \
  out_dir=$OUT/policy-1000-greedy > $OUT/policy-1000-greedy.log 2>&1
# the row to compare greedy with: round 3's own policy
[ -f $OUT/round3-greedy/results.json ] || qstar eval seed=0 split=val model.name_or_path=$LOOP/round-3/policy/model \
  search=best-of-n search.n=1 search.select=majority '~scorer' expander.temperature=0 progress=false \
  out_dir=$OUT/round3-greedy > $OUT/round3-greedy.log 2>&1
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
solved = lambda d: json.loads((out / d / "results.json").read_text())["solved"]
print("| variant (validation split, 64) | learned tot-bfs | greedy |")
print("|---|---|---|")
print(f"| round 3's policy and PRM (the loop's own) | 38 | {solved('round3-greedy')} |")
print(f"| PRM on soft targets, round 3's policy | {solved('prm-soft-search')} | — |")
print(f"| policy 1,000 steps, round 3's PRM | {solved('policy-1000-search')} | {solved('policy-1000-greedy')} |")
PY
