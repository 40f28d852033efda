#!/usr/bin/env bash
# Round 2's policy stage of the clean loop (recipes/loop_clean.sh, run it to round 2 first), one
# variant at a time, chosen on the *validation* split (the test split stays for the loop's table).
# Every variant trains from P0 on what round 2 of the clean loop had gathered (rounds 1–2: the
# trees for rft, the Monte-Carlo labels for dpo and ilql) and is evaluated like a loop round, in the
# learned setting: greedy pass@1, the loop's tot-bfs with round 2's PRM (PRM·π^0.5, product path
# score), and the legal share of the searched steps (evaluation only). Prints the table; resumable.
#   base          the loop's own round-2 policy (rft, 400 steps, validation paths held out at random)
#   val-problem   rft, 400 steps, the validation paths held out by problem (optimizer.val_by=problem):
#                 the best checkpoint is the one that does best on problems it did not train on
#   steps-100     rft, 100 steps (about 5 epochs instead of 20)
#   dpo, ilql     the same data's labels, the same 400 steps (issue: DPO and ILQL against rft)
# About 5 minutes a row on 2 cores.
set -euo pipefail
LOOP=runs/loop-clean
OUT=runs/clean-round2-policies
PRM=$LOOP/round-2/prm/model
SEARCH=(search=tot-bfs scorer=prm scorer.model=$PRM setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path)
mkdir -p $OUT
if [ ! -f $OUT/labels.jsonl ]; then  # rounds 1–2's labels, as the loop joins them (policy_keep_rounds)
  cat $LOOP/round-1/label/labels.jsonl $LOOP/round-2/label/labels.jsonl > $OUT/labels.tmp
  mv $OUT/labels.tmp $OUT/labels.jsonl
fi
train() {  # name optimizer data steps options...: one policy stage from P0, skipped once done
  local name=$1 optimizer=$2 data=$3 steps=$4
  shift 4
  [ -f $OUT/$name/trained ] && return
  local resume=()
  [ -f $OUT/$name/policy/checkpoints/last.ckpt ] && resume=(resume=true)
  qstar train seed=0 optimizer=$optimizer "$@" model.name_or_path=pkg://qstar_game24/p0 data=$data trainer.max_steps=$steps \
    trainer.enable_progress_bar=false trainer.log_every_n_steps=10 out_dir=$OUT/$name/policy "${resume[@]}" > $OUT/$name.train.log 2>&1
  touch $OUT/$name/trained
}
row() {  # name model
  local name=$1 d=$OUT/$1 m=$2 ilql=()
  mkdir -p $d
  [ -f $m/ilql_heads.safetensors ] && ilql=(expander=ilql)  # as the loop: an ILQL policy samples Q-guided
  [ -f $d/greedy/results.json ] || qstar eval seed=0 split=val model.name_or_path=$m "${ilql[@]}" search=best-of-n search.n=1 search.select=majority '~scorer' \
    expander.temperature=0 out_dir=$d/greedy progress=false > $d.greedy.log 2>&1
  [ -f $d/search/results.json ] || qstar eval seed=0 split=val model.name_or_path=$m "${ilql[@]}" "${SEARCH[@]}" out_dir=$d/search progress=false > $d.search.log 2>&1
  [ -f $d/judge/judge.json ] || qstar judge task=game24 data=$d/search/trees.jsonl scorer=prm scorer.model=$PRM out_dir=$d/judge > $d.judge.log 2>&1
  python - "$name" "$d" <<'PY'
import json, sys
name, d = sys.argv[1:]
g, s = (json.load(open(f"{d}/{k}/results.json")) for k in ("greedy", "search"))
legal = json.load(open(f"{d}/judge/judge.json"))["legal_share"]
print(f"| {name} | {g['solved']}/{g['problems']} | {s['solved']}/{s['problems']} | {s['generated_tokens_per_problem']:,.0f} | {legal:.0%} |")
PY
}
echo "| policy (validation split) | greedy pass@1 | tot-bfs + PRM·π^0.5 | tokens / puzzle | legal searched steps |"
echo "|---|---|---|---|---|"
row base $LOOP/round-2/policy/model
train val-problem rft $LOOP/round-2/policy-data.jsonl 400 optimizer.legal_steps=true optimizer.val_by=problem
row val-problem $OUT/val-problem/policy/model
train steps-100 rft $LOOP/round-2/policy-data.jsonl 100 optimizer.legal_steps=true
row steps-100 $OUT/steps-100/policy/model
train dpo dpo $OUT/labels.jsonl 400 optimizer.tokens=branch
row dpo $OUT/dpo/policy/model
train ilql ilql $OUT/labels.jsonl 400
row ilql $OUT/ilql/policy/model
