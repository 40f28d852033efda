#!/usr/bin/env bash
# What caps the search of a clean loop's round R, on the validation split (64 puzzles): the
# loop's learned tot-bfs (PRM·π^0.5, product path score) with other sampling temperatures and
# policy weights, and the same tot-bfs ranked by the oracle (the verifier with exact look-ahead)
# over round R's policy and over the gold-trained policy: how many puzzles the policy's proposals
# can solve at all. The oracle rows are a diagnostic, never a learned figure, and the gold-trained
# policy appears only there. Run the loop to round R first. Resumable; prints the table.
set -euo pipefail
LOOP=${LOOP:-runs/loop-clean-epochs}
R=${R:-3}
OUT=${OUT:-runs/clean-epochs-search-settings}
mkdir -p "$OUT"
S=(seed=0 split=val search=tot-bfs progress=false model.name_or_path="$LOOP/round-$R/policy/model")
P=(scorer=prm scorer.model="$LOOP/round-$R/prm/model" setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod search.rank=path)
run() {  # run <name> <overrides…>: one qstar eval into $OUT/<name>, skipped when done
  local name=$1; shift
  [ -f "$OUT/$name/results.json" ] || qstar eval "$@" out_dir="$OUT/$name" > "$OUT/$name.log" 2>&1
}
run oracle "${S[@]}" scorer=verifier
run oracle-gold seed=0 split=val search=tot-bfs progress=false model.name_or_path=pkg://qstar_game24/policy scorer=verifier
for t in 0.7 1.3; do run "t$t" "${S[@]}" "${P[@]}" expander.temperature=$t; done
for w in 0.0 1.0; do run "w$w" "${S[@]}" "${P[@]}" scorer.policy_weight=$w; done
python - "$OUT" "$LOOP/round-$R" <<'PY'
import json, sys
from pathlib import Path
out, rnd = Path(sys.argv[1]), sys.argv[2]
rows = [
    ("oracle", "oracle: the verifier's look-ahead ranks the round's proposals"),
    ("oracle-gold", "oracle: the verifier ranks the gold-trained policy's proposals"),
    ("t0.7", "learned: temperature 0.7 (the loop: 1.0)"),
    ("t1.3", "learned: temperature 1.3"),
    ("w0.0", "learned: PRM alone (policy weight 0, the loop: 0.5)"),
    ("w1.0", "learned: PRM·π (policy weight 1.0)"),
]
print(f"| tot-bfs over {rnd}'s policy (validation split) | solved of 64 | generated tokens / puzzle |")
print("|---|---|---|")
for name, label in rows:
    r = json.loads((out / name / "results.json").read_text())
    print(f"| {label} | {r['solved']} | {r['generated_tokens_per_problem']:,.0f} |")
PY
