#!/usr/bin/env bash
# A training stage's speed at this checkout against an earlier commit, on the same machine in the
# same run: whether a slower stage in a loop's log is the code or the machine. Both sides run the
# same `qstar train` (the loop's round-3 policy stage by default: rft from P0, batches of 64,
# trainer.max_steps=80), alternating, RUNS times each; prints each run's wall seconds and the
# median ratio this checkout / REV. The earlier commit runs from a git worktree on PYTHONPATH
# (run from outside the checkout, so the checkout's own packages do not shadow it). Alone on the
# machine:
#   REV=e86ca73 DATA=runs/loop-clean-grouped-rerun/round-3/policy-data.jsonl bash benchmarks/train_step_vs_commit.sh
set -euo pipefail
REV=${REV:?name the commit to compare with: REV=<commit>}
DATA=$(realpath "${DATA:?the policy data to train on: DATA=<round-R/policy-data.jsonl>}")
RUNS=${RUNS:-2}
STEPS=${STEPS:-80}
HERE=$(pwd)
WORK=$(mktemp -d)
trap 'git -C "$HERE" worktree remove --force "$WORK/old" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
git worktree add -q --detach "$WORK/old" "$REV"
ln -s "$WORK/old/conf" "$WORK/old/qstar/conf"  # where an installed qstar finds its configs
ARGS=(seed=0 optimizer=rft optimizer.lr=0.0001 optimizer.weight_decay=0.01 optimizer.warmup_steps=20 optimizer.batch_size=64
  optimizer.val_percent=10.0 optimizer.val_by=path optimizer.max_per_problem=32 optimizer.source=right-paths
  optimizer.legal_steps=true optimizer.replay_legal=2 model.name_or_path=pkg://qstar_game24/p0 "data=$DATA"
  trainer.enable_progress_bar=false trainer.max_steps="$STEPS")
cd "$WORK"
for i in $(seq "$RUNS"); do
  for side in "$REV" HEAD; do
    path=""; [ "$side" = HEAD ] || path="$WORK/old:$WORK/old/plugins"
    t0=$(date +%s.%N)
    PYTHONPATH=$path python -m qstar.cli train "${ARGS[@]}" out_dir="$WORK/$side-$i" > "$WORK/$side-$i.log" 2>&1 || { tail -3 "$WORK/$side-$i.log"; exit 1; }
    t1=$(date +%s.%N)
    secs=$(python -c "print(f'{$t1 - $t0:.1f}')")
    echo "$side run $i: $secs s"
    echo "$side $secs" >> "$WORK/times"
  done
done
python - "$WORK/times" "$REV" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    side, s = line.split()
    t.setdefault(side, []).append(float(s))
old, new = statistics.median(t[sys.argv[2]]), statistics.median(t["HEAD"])
print(f"median: {sys.argv[2]} {old:.1f} s, HEAD {new:.1f} s; HEAD / {sys.argv[2]} = {new / old:.2f}")
PY
