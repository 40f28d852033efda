#!/usr/bin/env bash
# A Game of 24 PRM trained with perturbed siblings (qstar label perturb=2): the same three tree
# files as recipes/game24_reward_models.sh (run that first), labelled again by the same
# Monte-Carlo rollouts with two plausible mistakes beside every legal step, then the same PRM
# training. No verifier label and no test puzzle is used; a perturbed step that is illegal gets 0
# from the rules, as every illegal step of the policy does. Resumable: rerun after a crash.
set -euo pipefail
RUN=${RUN:-runs/game24-rm}
for t in trees first-steps first-steps-t13; do
  qstar label data=$RUN/$t/trees.jsonl labeler=mc-rollout labeler.n=8 perturb=2 out_dir=$RUN/perturbed-labels/$t progress=false
done
cat $RUN/perturbed-labels/{trees,first-steps,first-steps-t13}/labels.jsonl > $RUN/perturbed-labels/all-labels.jsonl
qstar train experiment=game24_prm data=$RUN/perturbed-labels/all-labels.jsonl out_dir=$RUN/prm-perturbed
