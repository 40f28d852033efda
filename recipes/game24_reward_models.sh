#!/usr/bin/env bash
# Reproduces the bundled Game of 24 PRM and ORM (pkg://qstar_game24/prm, pkg://qstar_game24/orm)
# from AI feedback only. The bundled policy searches train puzzles in the *rules* setting (no
# look-ahead) — every 6th train puzzle to full depth, every 2nd one step deep (the first
# step decides most of a Game of 24 search), once more at temperature 1.3 so the policy's own
# illegal steps are well represented — Math-Shepherd Monte-Carlo rollouts (n = 8) label
# every step, and the reward models are trained on those labels (hard estimation: a step is good
# when some rollout from it reaches a right answer). No verifier label and no test puzzle is used.
# Every stage is resumable: rerun the script after a crash and it goes on where it stopped.
set -euo pipefail
RUN=${RUN:-runs/game24-rm}
qstar search split=train every=6 search=tot-bfs scorer=verifier scorer.lookahead=false out_dir=$RUN/trees progress=false
qstar label data=$RUN/trees/trees.jsonl labeler=mc-rollout labeler.n=8 out_dir=$RUN/labels progress=false
qstar search split=train every=2 search.max_depth=1 search=tot-bfs scorer=verifier scorer.lookahead=false out_dir=$RUN/first-steps progress=false
qstar label data=$RUN/first-steps/trees.jsonl labeler=mc-rollout labeler.n=8 out_dir=$RUN/first-step-labels progress=false
qstar search split=train every=2 search.max_depth=1 expander.temperature=1.3 search=tot-bfs scorer=verifier scorer.lookahead=false out_dir=$RUN/first-steps-t13 progress=false
qstar label data=$RUN/first-steps-t13/trees.jsonl labeler=mc-rollout labeler.n=8 out_dir=$RUN/first-step-labels-t13 progress=false
cat $RUN/labels/labels.jsonl $RUN/first-step-labels/labels.jsonl $RUN/first-step-labels-t13/labels.jsonl > $RUN/all-labels.jsonl
qstar train experiment=game24_prm data=$RUN/all-labels.jsonl out_dir=$RUN/prm
qstar train experiment=game24_orm data=$RUN/labels/labels.jsonl out_dir=$RUN/orm
# then copy $RUN/prm/model/* into plugins/qstar_game24/prm/ and $RUN/orm/model/* into plugins/qstar_game24/orm/.
