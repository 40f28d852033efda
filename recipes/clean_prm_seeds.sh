#!/usr/bin/env bash
# How much of round 3's learned search is the PRM's training seed: round 3's PRM stage of
# recipes/loop_clean_grouped.sh again with seed=S (it draws the initial head, the held-out 5% of
# puzzles, the dropout and the batch order), each PRM then searched on the test split exactly as
# the loop's evaluation does (search seed 0, round 3's policy). Run after loop_clean_grouped.sh;
# resumable: a seed whose PRM or search is done is skipped. About 18 minutes a seed on 2 cores.
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-grouped} R=${R:-3} OUT=${OUT:-runs/clean-grouped-prm-seeds}
P=$LOOP/round-$R/policy/model
for S in ${SEEDS:-1 2}; do
  D=$OUT/seed-$S
  [ -e "$D/prm/done.txt" ] || {  # an interrupted PRM goes on from its last checkpoint
    resume=false; [ -e "$D/prm/checkpoints/last.ckpt" ] && resume=true
    qstar train resume=$resume seed="$S" optimizer=prm optimizer.target=hard model.name_or_path="$P" \
      data="$LOOP/round-$R/prm-data.jsonl" trainer.enable_progress_bar=false trainer.log_every_n_steps=10 \
      optimizer.pool_states=true trainer.max_steps=-1 trainer.max_epochs=4 optimizer.group_by_length=true out_dir="$D/prm"
    touch "$D/prm/done.txt"
  }
  [ -e "$D/eval-search/results.json" ] || qstar eval seed=0 split=test model.name_or_path="$P" search=tot-bfs scorer=prm \
    scorer.model="$D/prm/model" setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path \
    progress=false out_dir="$D/eval-search"
done
python - "$LOOP/round-$R/eval-search/results.json" "$OUT"/seed-*/eval-search/results.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))
    print(f"{path}: {r['solved']} of {r['problems']}, {r['generated_tokens_per_problem']:,.0f} tokens a puzzle")
PY
