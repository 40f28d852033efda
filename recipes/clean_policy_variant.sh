#!/usr/bin/env bash
# Round R's policy stage of a clean loop again with other training settings (the arguments: qstar
# train overrides), from the same start (P0) on the same data (round R's policy-data.jsonl) with the
# loop's own optimizer options; then, for the loop's own policy and the variant, on the validation
# split (64 puzzles): greedy pass@1, the loop's learned tot-bfs with round R's PRM (PRM·π^0.5,
# product path score), and the same tot-bfs ranked by the oracle (the verifier's look-ahead: how
# many puzzles the policy's proposals can solve at all; a diagnostic, never a learned figure).
# Nothing here learned from a gold solution. Run the loop to round R first. Resumable; prints the
# table.
#   NAME=replay2 R=3 bash recipes/clean_policy_variant.sh optimizer.replay_legal=2
# PRM=retrain: in a loop whose PRM starts from the round's policy (prm_from=policy), a PRM judges its
# own policy's proposals best, so the variant's learned search uses a PRM of its own: round R's PRM
# stage again (the loop's command, from its log) from the variant's policy, as the loop would run it:
#   PRM=retrain NAME=kl1 R=3 LOOP=runs/loop-clean-grouped OUT=runs/clean-grouped-policy-r3 bash recipes/clean_policy_variant.sh optimizer.kl_anchor=1.0
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-epochs}
R=${R:-3}
NAME=${NAME:?name the variant: NAME=<name>}
OUT=${OUT:-runs/clean-policy-r$R}
mkdir -p "$OUT"
D=$LOOP/round-$R
[ -f "$OUT/$NAME/done.txt" ] || {
  # the loop's own policy command (its log's first line), with the variant's overrides and out_dir
  read -r -a LOOPCMD < <(grep -m1 '^\$ qstar train' "$D/policy/log.txt" | sed 's/^\$ qstar //; s/ out_dir=[^ ]*$//')
  qstar "${LOOPCMD[@]}" "$@" out_dir="$OUT/$NAME" > "$OUT/$NAME.log" 2>&1
  touch "$OUT/$NAME/done.txt"
}
PRM=${PRM:-loop}
case "$PRM" in loop | retrain) ;; *) echo "PRM=$PRM: use loop (round R's PRM for both arms) or retrain (the variant's own PRM stage)" >&2; exit 2 ;; esac
VARIANT_PRM=$D/prm/model
if [ "$PRM" = retrain ]; then
  VARIANT_PRM=$OUT/$NAME-prm/model
  [ -f "$OUT/$NAME-prm/done.txt" ] || {
    # the loop's PRM command (its log's first line), from the variant's policy
    read -r -a PRMCMD < <(grep -m1 '^\$ qstar train' "$D/prm/log.txt" | sed 's/^\$ qstar //; s/ out_dir=[^ ]*$//; s| model.name_or_path=[^ ]*| model.name_or_path='"$OUT/$NAME/model"'|')
    resume=false; [ -e "$OUT/$NAME-prm/checkpoints/last.ckpt" ] && resume=true
    qstar "${PRMCMD[@]}" resume=$resume out_dir="$OUT/$NAME-prm" > "$OUT/$NAME-prm.log" 2>&1
    touch "$OUT/$NAME-prm/done.txt"
  }
fi
V=(seed=0 split=val progress=false)
for arm in loop "$NAME"; do
  m=$D/policy/model; [ "$arm" = loop ] || m=$OUT/$NAME/model
  p=$D/prm/model; [ "$arm" = loop ] || p=$VARIANT_PRM
  s=$arm-search; [ "$arm" = loop ] || [ "$PRM" = loop ] || s=$arm-search-own-prm
  [ -f "$OUT/$arm-greedy/results.json" ] || qstar eval "${V[@]}" model.name_or_path="$m" search=best-of-n search.n=1 \
    search.select=majority '~scorer' expander.temperature=0 out_dir="$OUT/$arm-greedy" > "$OUT/$arm-greedy.log" 2>&1
  [ -f "$OUT/$s/results.json" ] || qstar eval "${V[@]}" model.name_or_path="$m" search=tot-bfs scorer=prm \
    scorer.model="$p" setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path \
    out_dir="$OUT/$s" > "$OUT/$s.log" 2>&1
  [ -f "$OUT/$arm-oracle/results.json" ] || qstar eval "${V[@]}" model.name_or_path="$m" search=tot-bfs scorer=verifier \
    out_dir="$OUT/$arm-oracle" > "$OUT/$arm-oracle.log" 2>&1
done
python - "$OUT" "$R" "$NAME" "$*" "$PRM" <<'PY'
import json, sys
from pathlib import Path
out, r, name, args, prm = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
print(f"| round {r}'s policy stage (validation split, of 64) | greedy | learned tot-bfs | oracle-ranked tot-bfs (diagnostic) |")
print("|---|---|---|---|")
for arm, label in (("loop", "the loop's own"), (name, f"{name}: {args}" + (", its own PRM" if prm == "retrain" else ""))):
    search = "search-own-prm" if arm == name and prm == "retrain" else "search"
    got = [json.loads((out / f"{arm}-{kind}" / "results.json").read_text())["solved"] for kind in ("greedy", search, "oracle")]
    print(f"| {label} | {got[0]} | {got[1]} | {got[2]} |")
PY
