#!/usr/bin/env bash
# Reproduces the start policy P0 (pkg://qstar_game24/p0): the tiny GPT-2 with the number tokenizer,
# trained by SFT on random *legal* Game of 24 trajectories of the train puzzles (each answer line
# states the expression and the value actually made), with every trajectory that reaches 24 drawn
# again. It knows the format and the arithmetic and has never seen a solution.
# About 25 minutes on 2 cores; rerun with resume=true after a crash.
set -euo pipefail
RUN=${RUN:-runs/game24-p0}
qstar train experiment=game24_p0 out_dir=$RUN "$@"
mkdir -p plugins/qstar_game24/p0
cp $RUN/model/* plugins/qstar_game24/p0/
