#!/usr/bin/env bash
# How widely should the clean loop's train search explore? (recipes/loop_clean.sh, run it to round 2
# first.) On every 8th train puzzle that rounds 1–2 left uncovered (no right path in any tree so
# far), round 2's policy and PRM search again, as the loop's round 3 would (learned tot-bfs,
# PRM·π^0.5, product path score), with each exploration setting; the count is the puzzles that get
# a right path somewhere in their tree (new coverage), graded afterwards by the task's answer
# check. Rows: the loop's search; a higher temperature; twice the samples per node (k); twice the
# breadth; P0 (the start policy, whose proposals are the broadest) as the proposer with round 2's PRM.
# Train split only: the test split plays no part in the choice. Prints the table; resumable.
set -euo pipefail
LOOP=runs/loop-clean
OUT=runs/clean-explore
mkdir -p $OUT
if [ ! -f $OUT/exclude.txt ]; then  # every train puzzle except every 8th uncovered one
  python - $LOOP $OUT <<'PY'
import json, sys
loop, out = sys.argv[1:]
info = [json.load(open(f"{loop}/round-{r}/search/results.json")) for r in (1, 2)]
searched = info[0]["searched"]
covered = set(info[0]["covered"]) | set(info[1]["covered"])
chosen = set([p for p in searched if p not in covered][::8])
open(f"{out}/exclude.txt", "w").write("".join(f"{p}\n" for p in searched if p not in chosen))
print(f"{len(chosen)} uncovered train puzzles of {len(searched)}")
PY
fi
SEARCH=(split=train "exclude=$OUT/exclude.txt" model.name_or_path=$LOOP/round-2/policy/model search=tot-bfs scorer=prm
  scorer.model=$LOOP/round-2/prm/model setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path)
row() {  # name overrides...
  local name=$1
  shift
  [ -f $OUT/$name/results.json ] || qstar search seed=0 "${SEARCH[@]}" "$@" out_dir=$OUT/$name progress=false > $OUT/$name.log 2>&1
  python - $name $OUT/$name "$*" <<'PY'
import json, sys
name, d, args = sys.argv[1:]
info = json.load(open(f"{d}/results.json"))
trees = [json.loads(line) for line in open(f"{d}/trees.jsonl")]
tokens = sum(t["budget"]["generated_tokens"] for t in trees) / len(trees)
print(f"| {name} | `{args or '(the loop’s search)'}` | {len(info['covered'])} of {len(info['searched'])} | {tokens:,.0f} |")
PY
}
echo "| exploration | overrides | uncovered puzzles that get a right path | generated tokens / puzzle |"
echo "|---|---|---|---|"
row base
row t1.5 expander.temperature=1.5
row k80 search.k=80
row b10 search.breadth=10
row p0 model.name_or_path=pkg://qstar_game24/p0
