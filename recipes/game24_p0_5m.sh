#!/usr/bin/env bash
# A larger start policy for the clean loop (issue 23's "a larger policy"): P0's recipe
# (experiment=game24_p0: SFT on random legal trajectories of the train puzzles, never a solution)
# with 6 transformer blocks of width 256 (about 5M parameters) instead of 4 of width 192 (about
# 2M). Writes runs/game24-p0-5m; the bundled P0 is left as it is. Resumable: rerun the script.
set -euo pipefail
RUN=${RUN:-runs/game24-p0-5m}
resume=false; [ -e "$RUN/checkpoints/last.ckpt" ] && resume=true
[ -f "$RUN/model/config.json" ] || qstar train experiment=game24_p0 model.arch.n_layer=6 model.arch.n_embd=256 model.arch.n_head=8 \
  trainer.max_time=00:04:00:00 resume=$resume out_dir="$RUN" "$@"
