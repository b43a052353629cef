#!/usr/bin/env bash
# GPU check of the fast Janus decoder: the CUDA tests (teacher-forced logits within bf16 noise, no host
# synchronisation in the image loop, seeded sampling), then bench/janus_generation.py at the Janus-Pro-1B
# and -7B shapes, batch 1 and 16, reference and fast path in the same process (3 timed calls each). At most
# 6 minutes on one H100/H200 (each step has its own time limit, 90 + 120 + 150 s), so a 15-minute device
# budget leaves room for the machine's start and one rerun; every step runs even if an earlier one failed,
# each size's JSON is written after every batch row, and the exit status says whether all passed.
#
#   bench/gpu_check.sh fetch          # here, once, with a package index: the wheels the GPU machine lacks
#   bench/gpu_check.sh [RESULTS_DIR]  # on the GPU machine, from the repository root
#
# The GPU machine image has transformers 5.17, whose Janus image generation is broken (and which predates
# the `cache=` argument this code uses), and it cannot reach a package index: `fetch` downloads
# transformers 5.24.0 and regex (its other requirements are there) into .whl/, ignored by git, 14 MB;
# the run installs them into /tmp/site. With the device tool: carry [".whl"], command
# `bash bench/gpu_check.sh "$OUT"`, timeout_s 420, then give_back. Results: <size>.json, <size>.log and tests.log.
set -uo pipefail

WHEELS=.whl
# transformers and the one requirement of it the image may hold too old a version of (it checks at import)
PACKAGES=(transformers==5.24.0 regex==2026.11.19)

if [[ "${1:-}" == "fetch" ]]; then
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "${PACKAGES[@]}"
    exit $?
fi

RESULTS=${1:-bench/results}
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G "$WHEELS/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$WHEELS"/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
python3 - <<'EOF' || exit 1
import torch, transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}")
assert tuple(int(p) for p in transformers.__version__.split(".")[:2]) >= (5, 23), "run `bench/gpu_check.sh fetch`"
EOF

status=0
timeout 90 python3 -m pytest tests/gpu/test_janus_fast_gpu.py -q -s -p no:cacheprovider 2>&1 \
    | tee "$RESULTS/tests.log" || status=1
for run in 1b:120 7b:150; do  # size:seconds, so that all three steps end inside 6 minutes
    size=${run%:*}
    # the logs say whether each step became a CUDA graph, and any recompilation or graph break
    TORCH_LOGS=perf_hints,recompiles,graph_breaks timeout "${run#*:}" python3 bench/janus_generation.py --size "$size" --batch 1 --batch 16 --profile \
        --json "$RESULTS/$size.json" 2>&1 | tee "$RESULTS/$size.log" || status=1
done
exit $status
