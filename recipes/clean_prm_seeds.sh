#!/usr/bin/env bash
# How much of round 3's learned search is the PRM's training seed: round 3's PRM stage of
# recipes/loop_clean_grouped.sh again with seed=S (it draws the initial head, the held-out 5% of
# puzzles, the dropout and the batch order), each PRM then searched on SPLIT (default: the test
# split) exactly as the loop's evaluation does (search seed 0, round 3's policy). Arguments are
# added to the PRM's qstar train command (a variant of the PRM stage, with its own OUT=):
#   bash recipes/clean_prm_seeds.sh                                   # seeds 1 and 2, test split
#   SEEDS="0 1 2" SPLIT=val bash recipes/clean_prm_seeds.sh           # seed 0 is the loop's own PRM
#   SEEDS="0 1 2" SPLIT=val SEARCH="scorer.policy_weight=1.0" bash recipes/clean_prm_seeds.sh
#   SEEDS="0 1 2" SPLIT=val OUT=runs/clean-grouped-ema-val bash recipes/clean_prm_seeds.sh trainer.ema_decay=0.99
# Run after loop_clean_grouped.sh; resumable: a seed whose PRM or search is done is skipped, and an
# interrupted PRM goes on from its last checkpoint. About 18 minutes a seed on 2 cores (test split).
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-grouped} R=${R:-3} OUT=${OUT:-runs/clean-grouped-prm-seeds} SPLIT=${SPLIT:-test}
P=$LOOP/round-$R/policy/model
mkdir -p "$OUT"
# one variant per OUT: a rerun with other PRM arguments would mix two variants' seeds
ARGS="$*"
if [ -e "$OUT/args.txt" ] && [ "$(cat "$OUT/args.txt")" != "$ARGS" ]; then
  echo "$OUT holds seeds trained with '$(cat "$OUT/args.txt")', not '$ARGS': give this variant its own OUT=" >&2
  exit 2
fi
echo "$ARGS" > "$OUT/args.txt"
EVAL=eval-search; [ "$SPLIT" = test ] || EVAL=eval-search-$SPLIT
# SEARCH="<overrides>" searches each PRM with other search settings (chosen on SPLIT=val first),
# into its own directory: eval-search[-SPLIT]-<the overrides>
SEARCH=${SEARCH:-}
[ -z "$SEARCH" ] || EVAL="$EVAL-$(echo "$SEARCH" | tr ' =' '_-')"
for S in ${SEEDS:-1 2}; do
  D=$OUT/seed-$S
  # the base variant's seed 0 is the loop's own PRM: search it, do not train it again
  if [ -z "$ARGS" ] && [ "$S" = 0 ] && [ ! -e "$D/prm" ]; then
    mkdir -p "$D" && ln -s "$(realpath "$LOOP/round-$R/prm")" "$D/prm"
  fi
  [ -e "$D/prm/done.txt" ] || [ -L "$D/prm" ] || {
    resume=false; [ -e "$D/prm/checkpoints/last.ckpt" ] && resume=true
    qstar train resume=$resume seed="$S" optimizer=prm optimizer.target=hard model.name_or_path="$P" \
      data="$LOOP/round-$R/prm-data.jsonl" trainer.enable_progress_bar=false trainer.log_every_n_steps=10 \
      optimizer.pool_states=true trainer.max_steps=-1 trainer.max_epochs=4 optimizer.group_by_length=true "$@" out_dir="$D/prm"
    touch "$D/prm/done.txt"
  }
  [ -e "$D/$EVAL/results.json" ] || qstar eval seed=0 split="$SPLIT" model.name_or_path="$P" search=tot-bfs scorer=prm \
    scorer.model="$D/prm/model" setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path \
    progress=false $SEARCH out_dir="$D/$EVAL"
done
LOOPS=(); [ "$SPLIT" = test ] && [ -z "$SEARCH" ] && LOOPS=("$LOOP/round-$R/eval-search/results.json")  # the loop's own PRM, seed 0
python - "${LOOPS[@]}" "$OUT"/seed-*/"$EVAL"/results.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))
    print(f"{path}: {r['solved']} of {r['problems']}, {r['generated_tokens_per_problem']:,.0f} tokens a puzzle")
PY
