#!/usr/bin/env bash
# recipes/loop_clean_grouped.sh with each round's PRM trained 8 epochs of its data instead of 4
# (trainer.max_epochs=8): at 4 epochs round 3's PRM still lowers its validation loss every epoch
# (0.085 → 0.073 over the last two), and on the validation split round 3's PRM trained 8 epochs
# searched 54 and 54 of 64 at seeds 0 and 1 against the loop's 51 and 51 (recipes/clean_prm_seeds.sh
# trainer.max_epochs=8; docs/results/journal.md). It costs the PRM stage about 2.4 times its
# time: about 2,000 s at round 3 instead of 791.
# As in loop_clean_pooled.sh, the PRM reaches no training data after round 0 here, so
# REUSE=runs/loop-clean-grouped copies round 0 and each round's search, labels and policy from
# that run (the same stages, options and seeds this command would run); each round then trains
# only its PRM and evaluates. Without REUSE every stage runs. Resumable: rerun the script.
set -euo pipefail
export OUT=${OUT:-runs/loop-clean-prm-e8}
PRM_EXTRA=',"optimizer.group_by_length=true","trainer.max_epochs=8"' exec bash "$(dirname "$0")/loop_clean_pooled.sh" "$@"
