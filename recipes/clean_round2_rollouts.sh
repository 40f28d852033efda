#!/usr/bin/env bash
# Does the policy gain from its own right rollouts? (recipes/loop_clean.sh to round 2 first, then
# recipes/clean_round2_policies.sh, whose table this adds a row to.) Round 2's label stage of the
# clean loop again, the same command with rollouts=true (the same streams, so the same labels) —
# its trees grown by their Monte-Carlo rollouts — then rft from P0, as the loop's round 2 (400
# steps, legal paths only), on round 1's searched trees and round 2's grown ones: every right
# rollout is one more right path. Evaluated on the validation split like the other rows.
set -euo pipefail
LOOP=runs/loop-clean
OUT=runs/clean-round2-policies
PRM=$LOOP/round-2/prm/model
SEARCH=(search=tot-bfs scorer=prm scorer.model=$PRM setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path)
mkdir -p $OUT/rollouts
[ -f $OUT/rollouts/label/done ] || {
  qstar label seed=0 data=$LOOP/round-2/search/trees.jsonl model.name_or_path=$LOOP/round-1/policy/model labeler=mc-rollout \
    labeler.n=4 labeler.max_paths=16 perturb=0 rollouts=true out_dir=$OUT/rollouts/label progress=false > $OUT/rollouts.label.log 2>&1
  touch $OUT/rollouts/label/done
}
if [ ! -f $OUT/rollouts/data.jsonl ]; then
  cat $LOOP/round-1/search/trees.jsonl $OUT/rollouts/label/rollouts.jsonl > $OUT/rollouts/data.tmp
  mv $OUT/rollouts/data.tmp $OUT/rollouts/data.jsonl
fi
[ -f $OUT/rollouts/trained ] || {
  resume=()
  [ -f $OUT/rollouts/policy/checkpoints/last.ckpt ] && resume=(resume=true)
  qstar train seed=0 optimizer=rft optimizer.legal_steps=true model.name_or_path=pkg://qstar_game24/p0 data=$OUT/rollouts/data.jsonl \
    trainer.max_steps=400 trainer.enable_progress_bar=false trainer.log_every_n_steps=10 out_dir=$OUT/rollouts/policy "${resume[@]}" \
    > $OUT/rollouts.train.log 2>&1
  touch $OUT/rollouts/trained
}
m=$OUT/rollouts/policy/model d=$OUT/rollouts
[ -f $d/greedy/results.json ] || qstar eval seed=0 split=val model.name_or_path=$m search=best-of-n search.n=1 search.select=majority '~scorer' \
  expander.temperature=0 out_dir=$d/greedy progress=false > $d.greedy.log 2>&1
[ -f $d/search/results.json ] || qstar eval seed=0 split=val model.name_or_path=$m "${SEARCH[@]}" out_dir=$d/search progress=false > $d.search.log 2>&1
[ -f $d/judge/judge.json ] || qstar judge task=game24 data=$d/search/trees.jsonl scorer=prm scorer.model=$PRM out_dir=$d/judge > $d.judge.log 2>&1
python - $OUT <<'PY'
import json, sys
from qstar.tree import iter_results
from qstar_game24 import Game24Task
from qstar_sft import right_paths
out = sys.argv[1]
task, d = Game24Task(), f"{out}/rollouts"
paths = {}
for r in iter_results(f"{d}/data.jsonl"):
    for p in right_paths(r, task, True):
        paths.setdefault(r.problem.id, set()).add(tuple(p))
g, s = (json.load(open(f"{d}/{k}/results.json")) for k in ("greedy", "search"))
legal = json.load(open(f"{d}/judge/judge.json"))["legal_share"]
n = sum(map(len, paths.values()))
print(f"| rollouts ({n:,} legal right paths over {len(paths)} puzzles) | {g['solved']}/{g['problems']} | {s['solved']}/{s['problems']} | {s['generated_tokens_per_problem']:,.0f} | {legal:.0%} |")
PY
