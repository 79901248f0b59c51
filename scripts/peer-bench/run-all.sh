#!/usr/bin/env bash
# Runs userdp's `bench dp-step` and the PyTorch / Opacus / torch.func / JAX peers
# (peer_bench.py) on the two shapes of issue 11, one after the other in one invocation, and
# writes everything to OUT (default: peer-bench-<date>.txt). See README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}
userdp=${USERDP:-$repo/.build/release/userdp}
iterations=${ITERATIONS:-5}
out=${1:-peer-bench-$(date +%Y-%m-%d).txt}
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
    for shape in "--layers 2 --width 128 --heads 4 --vocab 512 --batch 32 --records-per-user 4" \
                 "--layers 6 --width 384 --heads 6 --vocab 8192 --batch 16 --records-per-user 4"; do
        echo; echo "## userdp bench dp-step $shape"
        # shellcheck disable=SC2086
        "$userdp" bench dp-step $shape --iterations "$iterations"
        echo; echo "## peer_bench.py $shape"
        # shellcheck disable=SC2086
        "$python" "$here/peer_bench.py" $shape --iterations "$iterations" --threads 2
    done
} 2>&1 | tee "$out"
