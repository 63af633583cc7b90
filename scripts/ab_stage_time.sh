#!/usr/bin/env bash
# Same-run A/B timing of one pipeline stage: two xtask binaries (e.g. a release build of an
# older revision and of this one) redo the same stage of copies of one finished run folder,
# in turn, N times each; prints each run's wall and CPU seconds (/usr/bin/time) and the median
# wall ratio new/old. Nothing else should run on the machine meanwhile.
#
#   scripts/ab_stage_time.sh OLD_XTASK NEW_XTASK RUN_DIR [STAGE] [STEPS] [N]
#
# RUN_DIR: a finished run (e.g. runs/tiny); OLD_RUN=DIR gives the old binary a run folder of
# its own format when the two read different manifests. A binary finds its assets through the
# source tree it was built in: keep the old revision's worktree until the timing is done.
# STAGE: cheap (default) | verifier | reward | strong | eval.
# STEPS: the stage's training steps (default 30), with a held-out evaluation at start and end.
# STAGE eval: the recording and replay of `xtask eval`, STEPS examples of dev and of eval and
# STEPS/5 held-out examples (default 100); the run's trained models are reused.
# Example (the session-8 anchor: old = c2f5d05, new = this revision):
#   git worktree add /tmp/old c2f5d05 && (cd /tmp/old && cargo build --release -p xtask)
#   cargo build --release -p xtask
#   scripts/ab_stage_time.sh /tmp/old/target/release/xtask target/release/xtask runs/tiny
set -euo pipefail
if [[ $# -lt 3 || $1 == -h || $1 == --help ]]; then sed -n 2,19p "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
OLD=$1 NEW=$2 RUN=$3 STAGE=${4:-cheap} N=${6:-3}
if [[ $STAGE == eval ]]; then STEPS=${5:-100}; else STEPS=${5:-30}; fi
for f in "$OLD" "$NEW"; do [[ -x $f ]] || { echo "not an executable: $f" >&2; exit 2; }; done
[[ -f $RUN/$STAGE/stage.json ]] || { echo "$RUN has no finished $STAGE stage" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/old" "$WORK/new"
cp -r "${OLD_RUN:-$RUN}"/. "$WORK/old/"
cp -r "$RUN"/. "$WORK/new/"
once() { # side binary -> "wall cpu"
    rm -rf "$WORK/$1/$STAGE" "$WORK/$1/models/$STAGE"
    if [[ $STAGE == eval ]]; then
        set -- "$1" "$2" eval --run "$WORK/$1" --set "eval.dev_examples=$STEPS" \
            --set "eval.eval_examples=$STEPS" --set "eval.heldout_examples=$((STEPS / 5))"
    else
        set -- "$1" "$2" train-all --run "$WORK/$1" \
            --set "roles.$STAGE.steps=$STEPS" --set "roles.$STAGE.eval_every=$STEPS"
    fi
    /usr/bin/time -f '%e %U %S' -o "$WORK/t" "${@:2}" >"$WORK/log" 2>&1 \
        || { echo "$2 failed:" >&2; tail -5 "$WORK/log" >&2; exit 1; }
    awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$WORK/t"
}
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
ratios=()
for i in $(seq "$N"); do
    read -r ow oc < <(once old "$OLD")
    read -r nw nc < <(once new "$NEW")
    r=$(awk -v a="$nw" -v b="$ow" 'BEGIN {printf "%.3f", a / b}')
    ratios+=("$r")
    echo "pair $i: old wall ${ow}s cpu ${oc}s | new wall ${nw}s cpu ${nc}s | new/old wall $r"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print "median new/old wall: " a[int((NR+1)/2)]}'
