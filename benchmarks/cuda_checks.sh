#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one go, for a machine held only for minutes: the Triton kernels'
# and the GPU loader's tests, then the layer, training-step, epoch and host-overhead benchmarks. Each step
# runs under its own time limit and goes on after a failure; the reports and one log of every step
# (cuda_checks.log, appended to as each step runs, so a run cut short keeps what it printed) land in OUTDIR:
# at most five files, within what a device call brings back.
#
#     bash benchmarks/cuda_checks.sh [OUTDIR]          # default results/; PYTHON=.venv/bin/python to pick one
#     SEQNORM_COMMIT=<commit> bash ...                 # the commit the reports name, where the tree was copied
#     STEPS="tests norms" bash benchmarks/cuda_checks.sh  # some of: tests norms train_step epoch host
#     PYTEST_ARGS="-k float64" NORMS_ARGS="--models WRN-28-10" bash benchmarks/cuda_checks.sh  # subsets
#
# The package runs from this checkout (PYTHONPATH), on the machine's own torch and triton; the Hydra
# wheels that the GPU image lacks come from .whl/ (benchmarks/gpu_wheels.sh makes it; carry it along).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-results}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
[[ -d .whl ]] && export PYTHONPATH="$PYTHONPATH:/tmp/site"
log="$out/cuda_checks.log"
{  # a failed install shows in the log, and so does the import check after it
    if [[ -d .whl ]]; then
        "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/*.whl || echo "HYDRA WHEELS NOT INSTALLED"
    fi
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$py" -c "import torch, triton, hydra, omegaconf; print('torch', torch.__version__, 'triton', triton.__version__)"
} 2>&1 | tee "$log"

failed=()
step() {  # step NAME LIMIT_SECONDS COMMAND...: the command's output appended to the log, then its tail
    local name=$1 limit=$2 started=$SECONDS status
    shift 2
    [[ " ${STEPS:-tests norms train_step epoch host} " == *" $name "* ]] || return 0
    echo "== $name (limit ${limit} s): $*" | tee -a "$log"
    # -k: a process stuck in a driver call that ignores SIGTERM is killed 15 s later
    PYTHONUNBUFFERED=1 timeout -k 15 "$limit" "$@" 2>&1 | tee -a "$log" >"/tmp/cuda_checks_$name.log"
    status=${PIPESTATUS[0]}
    echo "   exit $status after $((SECONDS - started)) s" | tee -a "$log"
    tail -n "${TAIL:-15}" "/tmp/cuda_checks_$name.log"
    [[ $status == 0 ]] || failed+=("$name")
}

# The most needed results first, so that running out of device time costs the least; -v: a time limit
# still leaves each finished test's verdict in the log.
step tests "${TESTS_LIMIT:-180}" "$py" -m pytest -v -p no:cacheprovider -rfE ${PYTEST_ARGS:-} \
    tests/norms/test_triton_kernels.py tests/data/test_device_loader.py
step norms "${NORMS_LIMIT:-240}" "$py" benchmarks/norms.py --no-compile --kernels ${NORMS_ARGS:-} --out "$out/bench_norms_cuda.md"
step train_step "${STEP_LIMIT:-200}" "$py" benchmarks/train_step.py --models WRN-28-10 --quick --no-epoch --profile \
    --out "$out/bench_train_step_cuda.md"
step epoch "${EPOCH_LIMIT:-120}" "$py" benchmarks/train_step.py --epoch-only --synthetic-data \
    --out "$out/bench_epoch_cuda.md"
step host "${HOST_LIMIT:-60}" "$py" benchmarks/host_overhead.py --out "$out/bench_host_overhead_cuda.md"
if ((${#failed[@]})); then  # every step ran; the exit status says whether one failed
    echo "failed steps: ${failed[*]}" | tee -a "$log"
    exit 1
fi
