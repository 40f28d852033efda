#!/usr/bin/env bash
# Round R's PRM stage of a clean loop again with rStar-Math's sibling ranking loss beside the BCE
# (optimizer.pairwise=1.0), from the same start PRM on the same data and steps; then the loop's
# tot-bfs with round R's policy on the validation split (64 puzzles), with the loop's own PRM and
# with the pairwise one, and `qstar judge` of both PRMs on the same searched trees (the ones the
# loop's own PRM grew) against exact step labels (evaluation only). Learned setting; nothing here
# learned from a gold solution. Run the loop to round R first (R=1 by default). Resumable; prints
# the table.
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-epochs}
R=${R:-1}
OUT=${OUT:-runs/clean-prm-pairwise-r$R}
mkdir -p "$OUT"
START=pkg://qstar_game24/prm0
[ "$R" -gt 1 ] && START=$LOOP/round-$((R - 1))/prm/model
SEARCH=(seed=0 split=val search=tot-bfs scorer=prm setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path progress=false)
[ -f $OUT/prm/done.txt ] || { qstar train seed=0 optimizer=prm optimizer.target=hard optimizer.pairwise=1.0 \
  model.name_or_path=$START data=$LOOP/round-$R/prm-data.jsonl trainer.max_steps=400 \
  trainer.enable_progress_bar=false trainer.log_every_n_steps=10 out_dir=$OUT/prm > $OUT/prm.log 2>&1; touch $OUT/prm/done.txt; }
for arm in pointwise pairwise; do
  prm=$LOOP/round-$R/prm/model; [ $arm = pairwise ] && prm=$OUT/prm/model
  [ -f $OUT/$arm-search/results.json ] || qstar eval "${SEARCH[@]}" model.name_or_path=$LOOP/round-$R/policy/model \
    scorer.model=$prm out_dir=$OUT/$arm-search > $OUT/$arm-search.log 2>&1
  [ -f $OUT/$arm-judge/judge.json ] || qstar judge data=$OUT/pointwise-search/trees.jsonl scorer=prm scorer.model=$prm \
    out_dir=$OUT/$arm-judge > $OUT/$arm-judge.log 2>&1
done
python - "$OUT" "$R" <<'PY'
import json, sys
from pathlib import Path
out, r = Path(sys.argv[1]), sys.argv[2]
print(f"| round {r}'s PRM data, trained with (validation split) | learned tot-bfs of 64 | step AUROC | first-error F1 |")
print("|---|---|---|---|")
for arm, name in (("pointwise", "BCE (the loop's own PRM)"), ("pairwise", "BCE + sibling ranking (optimizer.pairwise=1.0)")):
    s = json.loads((out / f"{arm}-search" / "results.json").read_text())
    j = json.loads((out / f"{arm}-judge" / "judge.json").read_text())
    print(f"| {name} | {s['solved']} | {j['step_auroc']:.3f} | {j['first_error']['f1']:.3f} |")
PY
