#!/usr/bin/env bash
# An experiment (its figures are in docs/results/journal.md; it did not beat the bundled PRM): the three tree
# files of recipes/game24_reward_models.sh (run that first), labelled again by the same
# Monte-Carlo rollouts with two perturbed siblings (plausible mistakes) beside every legal step
# (qstar label perturb=2), then a PRM trained on them two ways: from the policy with the bundled
# recipe (prm-perturbed), and from the bundled PRM for 800 more steps (prm-perturbed-ft); each is
# compared on the test split in the learned setting. No verifier label and no test puzzle is used
# for training; a perturbed step that is illegal gets 0 from the rules, as every illegal step of
# the policy does. Resumable: rerun after a crash.
set -euo pipefail
RUN=${RUN:-runs/game24-rm}
for t in trees first-steps first-steps-t13; do
  qstar label data=$RUN/$t/trees.jsonl labeler=mc-rollout labeler.n=8 perturb=2 out_dir=$RUN/perturbed-labels/$t progress=false
done
cat $RUN/perturbed-labels/{trees,first-steps,first-steps-t13}/labels.jsonl > $RUN/perturbed-labels/all-labels.jsonl
qstar train experiment=game24_prm data=$RUN/perturbed-labels/all-labels.jsonl out_dir=$RUN/prm-perturbed
qstar train experiment=game24_prm model.name_or_path=pkg://qstar_game24/prm data=$RUN/perturbed-labels/all-labels.jsonl \
  trainer.max_steps=800 out_dir=$RUN/prm-perturbed-ft
for m in prm-perturbed prm-perturbed-ft; do
  qstar compare prm.model=$RUN/$m/model out_dir=runs/compare-test-${m#prm-} progress=false
  python recipes/prm_diagnosis.py runs/compare-test-${m#prm-}/tot-bfs.jsonl
done
