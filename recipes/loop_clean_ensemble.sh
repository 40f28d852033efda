#!/usr/bin/env bash
# recipes/loop_clean_grouped.sh with one change: every round trains its PRM at three seeds
# (prm_seeds=3: seeds 0, 1, 2, in round-<r>/prm, prm-seed1, prm-seed2) and its evaluation and
# judge score with their ensemble (scorer.ensemble: the mean of the three PRMs' step values). In
# that loop the PRM ranks no training data after round 0 (round 1 searches with the start PRM,
# later rounds sample from the policy), so the search, labels and policies are the grouped loop's,
# and each round's first PRM (seed 0) is the grouped loop's own PRM. After each round, its seed-0
# PRM alone is searched on the test split as the loop evaluates (round-<r>/eval-search-seed0): the
# single-PRM figure of the same run, beside the ensemble's.
# Resumable: rerun the script; ROUNDS=<n> asks for more rounds (default 3).
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-ensemble}
for r in $(seq 1 "${ROUNDS:-3}"); do
  ROUNDS=$r bash "$(dirname "$0")/loop_clean_grouped.sh" prm_seeds=3 "$@"
  D=$OUT/round-$r
  [ -e "$D/eval-search-seed0/results.json" ] || qstar eval seed=0 split=test limit=0 model.name_or_path="$D/policy/model" \
    search=tot-bfs scorer=prm scorer.model="$D/prm/model" setting=learned scorer.policy_weight=0.5 scorer.aggregate=prod \
    search.rank=path progress=false out_dir="$D/eval-search-seed0"
done
python - "$OUT" "${ROUNDS:-3}" <<'PY'
import json, sys
from pathlib import Path
out, rounds = Path(sys.argv[1]), int(sys.argv[2])
for r in range(1, rounds + 1):
    row = [f"round {r}"]
    for name, what in (("eval-search", "ensemble of 3"), ("eval-search-seed0", "seed 0 alone")):
        f = out / f"round-{r}" / name / "results.json"
        if f.exists():
            res = json.loads(f.read_text())
            row.append(f"{what} {res['solved']} of {res['problems']}")
    print(", ".join(row))
PY
