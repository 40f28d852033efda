#!/usr/bin/env bash
# Reproduces the bundled Game of 24 PRM and ORM (pkg://qstar_game24/prm, pkg://qstar_game24/orm)
# from AI feedback only: the bundled policy searches every 6th train puzzle in the *rules*
# setting (no look-ahead), Math-Shepherd Monte-Carlo rollouts label every step, and the reward
# models are trained on those soft labels. No verifier label and no test puzzle is used.
# Every stage is resumable: rerun the script after a crash and it goes on where it stopped.
set -euo pipefail
RUN=${RUN:-runs/game24-rm}
qstar search split=train every=6 scorer=verifier scorer.lookahead=false out_dir=$RUN/trees progress=false
qstar label data=$RUN/trees/trees.jsonl labeler=mc-rollout labeler.n=8 out_dir=$RUN/labels progress=false
qstar train experiment=game24_prm data=$RUN/labels/labels.jsonl out_dir=$RUN/prm
qstar train experiment=game24_orm data=$RUN/labels/labels.jsonl out_dir=$RUN/orm
# then copy $RUN/prm/model/* into plugins/qstar_game24/prm/ and $RUN/orm/model/* into plugins/qstar_game24/orm/.
