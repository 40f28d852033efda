#!/usr/bin/env bash
# Reproduces the loop's clean start PRM (pkg://qstar_game24/prm0) from P0 alone. P0 (trained on
# random legal trajectories, never a solution) searches train puzzles in the *rules* setting
# (legality and the final answer only, no look-ahead) — every 6th train puzzle to full depth, every
# 2nd one step deep (the first step decides most of a Game of 24 search) — P0's own Monte-Carlo
# rollouts (Math-Shepherd, n = 8) label every step, and the PRM is trained on those labels from
# P0's weights (hard estimation). Nothing here saw a gold solution, a gold-trained model, a
# verifier's look-ahead label or a test puzzle. Every stage is resumable: rerun after a crash.
set -euo pipefail
RUN=${RUN:-runs/game24-prm0}
P0=(model=game24-p0 search=tot-bfs scorer=verifier scorer.lookahead=false progress=false)
qstar search split=train every=6 "${P0[@]}" out_dir=$RUN/trees
qstar label data=$RUN/trees/trees.jsonl model=game24-p0 labeler=mc-rollout labeler.n=8 out_dir=$RUN/labels progress=false
qstar search split=train every=2 search.max_depth=1 "${P0[@]}" out_dir=$RUN/first-steps
qstar label data=$RUN/first-steps/trees.jsonl model=game24-p0 labeler=mc-rollout labeler.n=8 out_dir=$RUN/first-step-labels progress=false
cat $RUN/labels/labels.jsonl $RUN/first-step-labels/labels.jsonl > $RUN/all-labels.jsonl.tmp && mv $RUN/all-labels.jsonl.tmp $RUN/all-labels.jsonl
[ -f $RUN/prm/checkpoints/last.ckpt ] && RESUME=resume=true || RESUME=
qstar train experiment=game24_prm0 data=$RUN/all-labels.jsonl out_dir=$RUN/prm $RESUME
# then copy $RUN/prm/model/* into plugins/qstar_game24/prm0/
