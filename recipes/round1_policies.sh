#!/usr/bin/env bash
# The loop's first round from P0, one policy stage at a time (learned setting): each policy is
# trained on round 1's labels (trees for rft) of recipes/loop_prior3.sh (run that first, or at
# least its first round) and evaluated greedy (pass@1) and with 16 samples at T=1 (majority) on
# the test split, with the share of rule-legal steps the policy writes (evaluation only).
# Rows: rft (the loop's own round-1 policy, 200 steps; and 20 or 50 steps), dpo as Step-DPO
# (tokens=step) with β 0.1 and 0.5, lr 2e-5, a stronger NLL term, dpo with tokens=branch with and
# without the NLL term, and ilql decoded with β = 1 (the default), 0 (the LM alone) and 4, and ilql
# with reward=labels.
set -euo pipefail
LABELS=runs/loop-rft3/round-1/label/labels.jsonl
OUT=runs/round1-policies
mkdir -p $OUT
row() {  # name model [eval options...]
  local name=$1 d=$OUT/$1 m=$2
  shift 2
  [ -f $d/greedy/results.json ] || qstar eval split=test model.name_or_path=$m "$@" search=best-of-n search.n=1 search.select=majority '~scorer' expander.temperature=0 out_dir=$d/greedy progress=false > $d.greedy.log 2>&1
  [ -f $d/s16/results.json ] || qstar eval split=test model.name_or_path=$m "$@" search=best-of-n search.n=16 search.select=majority '~scorer' expander.temperature=1 out_dir=$d/s16 progress=false > $d.s16.log 2>&1
  python - "$name" "$d" <<'PY'
import json, sys
sys.path.insert(0, "recipes")
from legal_steps import legal_shares
name, d = sys.argv[1:]
g, s = (json.load(open(f"{d}/{k}/results.json"))["solve_rate"] for k in ("greedy", "s16"))
print(f"| {name} | {g:.0%} | {s:.0%} | {legal_shares(f'{d}/greedy/trees.jsonl')[0]:.0%} | {legal_shares(f'{d}/s16/trees.jsonl')[0]:.0%} |")
PY
}
train() {  # name optimizer data steps options...: one policy stage from P0, skipped once done
  local name=$1 optimizer=$2 data=$3 steps=$4
  shift 4
  [ -f $OUT/$name/trained ] && return
  qstar train optimizer=$optimizer "$@" model.name_or_path=pkg://qstar_game24/p0 data=$data trainer.max_steps=$steps trainer.enable_progress_bar=false trainer.log_every_n_steps=10 out_dir=$OUT/$name/policy > $OUT/$name.train.log 2>&1
  touch $OUT/$name/trained
}
dpo() {  # name options...
  train $1 dpo $LABELS 200 "${@:2}"
  row $1 $OUT/$1/policy/model
}
echo "| policy | greedy pass@1 | majority of 16 | legal greedy steps | legal sampled steps |"
echo "|---|---|---|---|---|"
row P0 pkg://qstar_game24/p0
row rft runs/loop-rft3/round-1/policy/model
for steps in 20 50; do
  train rft-$steps rft runs/loop-rft3/round-1/search/trees.jsonl $steps
  row rft-$steps $OUT/rft-$steps/policy/model
done
dpo dpo-step
dpo dpo-step-beta0.5 optimizer.beta=0.5
dpo dpo-step-lr2e-5 optimizer.lr=2e-5
dpo dpo-step-beta0.5-rpo4 optimizer.beta=0.5 optimizer.rpo_alpha=4
dpo dpo-branch optimizer.tokens=branch
dpo dpo-branch-pure optimizer.tokens=branch optimizer.rpo_alpha=0
train ilql ilql $LABELS 200
for beta in 1 0 4; do row ilql-beta$beta $OUT/ilql/policy/model expander=ilql expander.beta=$beta; done
train ilql-labels ilql $LABELS 200 optimizer.reward=labels
row ilql-labels $OUT/ilql-labels/policy/model expander=ilql
