#!/usr/bin/env bash
# What the loop's train stage finds on every 12th train puzzle (100), sampling whole solutions
# (qstar search search=best-of-n, no PRM: ReST-EM's E-step) against the PRM-guided tree search the
# loop ran (runs/loop-clean: run recipes/loop_clean.sh first), graded afterwards by the answer
# check. The reason recipes/loop_clean_sample.sh samples from round 2 on and searches in round 1.
set -euo pipefail
OUT=${OUT:-runs/sample-vs-search}
mkdir -p "$OUT"
BON=(task=game24 split=train every=12 search=best-of-n search.select=majority scorer=verifier scorer.lookahead=false setting=rules)
# P0, the clean loop's start policy, 64 samples a puzzle
qstar search "${BON[@]}" search.n=64 model.name_or_path=pkg://qstar_game24/p0 out_dir="$OUT/p0-n64"
# the clean loop's round-2 policy, 32 samples a puzzle
qstar search "${BON[@]}" search.n=32 model.name_or_path=runs/loop-clean/round-2/policy/model out_dir="$OUT/round2-n32"
python recipes/tree_coverage.py "$OUT"/p0-n64/trees.jsonl "$OUT"/round2-n32/trees.jsonl
# the loop's tree searches of rounds 1 (P0) and 2 (round 1's policy) on the same 100 puzzles
python recipes/tree_coverage.py --puzzles-of "$OUT"/p0-n64/trees.jsonl runs/loop-clean/round-1/search/trees.jsonl runs/loop-clean/round-2/search/trees.jsonl
