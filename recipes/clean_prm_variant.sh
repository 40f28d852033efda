#!/usr/bin/env bash
# Round R's PRM stage of a clean loop again with other training settings (the arguments: qstar
# train overrides), from the same start PRM (round R-1's) on the same data; then the loop's
# tot-bfs with round R's policy on the validation split (64 puzzles) with the loop's own PRM and
# with the variant, and `qstar judge` of both PRMs on the same searched trees (the ones the loop's
# own PRM grew) against exact step labels (evaluation only). Learned setting; nothing here learned
# from a gold solution. Run the loop to round R first. Resumable; prints the two rows.
#   NAME=epochs4 R=3 bash recipes/clean_prm_variant.sh trainer.max_steps=-1 trainer.max_epochs=4
#   NAME=from-policy START=runs/loop-clean-epochs/round-3/policy/model R=3 bash recipes/clean_prm_variant.sh
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-epochs}
R=${R:-3}
NAME=${NAME:?name the variant: NAME=<name>}
OUT=${OUT:-runs/clean-prm-r$R}
mkdir -p "$OUT"
# START: the model the variant's PRM starts from (default: the loop's, round R-1's PRM; a policy's
# directory gives the PRM that policy's backbone with a new value head)
if [ -z "${START:-}" ]; then
  START=pkg://qstar_game24/prm0
  [ "$R" -gt 1 ] && START=$LOOP/round-$((R - 1))/prm/model
fi
SEARCH=(seed=0 split=val search=tot-bfs scorer=prm setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path progress=false)
# the loop's PRM stage (plugins/qstar_loop: optimizer=prm optimizer.target=hard, trainer.max_steps=prm_steps)
[ -f "$OUT/$NAME/done.txt" ] || {
  qstar train seed=0 optimizer=prm optimizer.target=hard model.name_or_path="$START" \
    data="$LOOP/round-$R/prm-data.jsonl" trainer.max_steps=400 trainer.enable_progress_bar=false \
    trainer.log_every_n_steps=10 "$@" out_dir="$OUT/$NAME" > "$OUT/$NAME.log" 2>&1
  touch "$OUT/$NAME/done.txt"
}
for arm in loop "$NAME"; do
  prm=$LOOP/round-$R/prm/model; [ "$arm" = loop ] || prm=$OUT/$NAME/model
  [ -f "$OUT/$arm-search/results.json" ] || qstar eval "${SEARCH[@]}" model.name_or_path="$LOOP/round-$R/policy/model" \
    scorer.model="$prm" out_dir="$OUT/$arm-search" > "$OUT/$arm-search.log" 2>&1
  [ -f "$OUT/$arm-judge/judge.json" ] || qstar judge data="$OUT/loop-search/trees.jsonl" scorer=prm scorer.model="$prm" \
    out_dir="$OUT/$arm-judge" > "$OUT/$arm-judge.log" 2>&1
done
python - "$OUT" "$R" "$NAME" "$*" <<'PY'
import json, sys
from pathlib import Path
out, r, name, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
print(f"| round {r}'s PRM data, trained with (validation split) | learned tot-bfs of 64 | step AUROC | first-error F1 |")
print("|---|---|---|---|")
for arm, label in (("loop", "the loop's own PRM stage"), (name, f"{name}: {args}")):
    s = json.loads((out / f"{arm}-search" / "results.json").read_text())
    j = json.loads((out / f"{arm}-judge" / "judge.json").read_text())
    print(f"| {label} | {s['solved']} | {j['step_auroc']:.3f} | {j['first_error']['f1']:.3f} |")
PY
