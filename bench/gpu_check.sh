#!/usr/bin/env bash
# GPU check of the fast Janus decoder: the CUDA tests (teacher-forced logits within bf16 noise and repeating
# bit for bit, no host synchronisation in the image loop, seeded sampling), bench/janus_determinism.py (do
# logits and seeded images repeat, compiled and eager, as shipped and with cuDNN attention allowed), then
# bench/janus_generation.py at the Janus-Pro-1B and -7B shapes, batch 1 and 16, reference and fast path in
# the same process (3 timed calls each). Each step has its own time limit (tests 100 s, determinism 150 s,
# 1b 300 s, 7b 330 s: transformers' loop alone takes ~15 s an image at either size, and each batch shape
# compiles once, ~35-40 s), every step runs even if an earlier one failed, each JSON is written after every
# row, and the exit status says whether all passed.
#
# On an H200 (2026-12-04) the steps took: tests 47 s, 1b ~240 s, 7b ~290 s, determinism over 120 s. So a
# 15-minute device budget fits two calls: `tests determinism 1b` (timeout_s 500), then at once, while the
# machine is warm (it is given back after 30 s idle), `7b` (timeout_s 340), then give_back.
#
#   bench/gpu_check.sh fetch                          # here, once, with a package index: the wheels the GPU machine lacks
#   bench/gpu_check.sh [RESULTS_DIR [STEP...]]        # on the GPU machine, from the repository root;
#                                                     # STEP: tests, determinism, 1b, 7b (default: all)
#
# The GPU machine image has transformers 5.17, whose Janus image generation is broken (and which predates
# the `cache=` argument this code uses), and no pydantic, and it cannot reach a package index: `fetch`
# downloads transformers 5.24.0, regex and pydantic (their other requirements are there) into .whl/, ignored
# by git, 17 MB; the run installs them into /tmp/site. With the device tool: carry [".whl"], command
# `bash bench/gpu_check.sh "$OUT" tests determinism 1b`, then `bash bench/gpu_check.sh "$OUT" 7b`.
# Results: <size>.json, <size>.log, tests.log, determinism.json and determinism.log.
set -uo pipefail

WHEELS=.whl
# transformers and the one requirement of it the image may hold too old a version of (it checks at import), and
# pydantic with its requirements: the image has none, and the bench imports the Janus adapter (cards use it)
PACKAGES=(transformers==5.24.0 regex==2026.11.19 pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0
          typing-inspection==0.4.2 typing-extensions==4.16.0)

if [[ "${1:-}" == "fetch" ]]; then
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "${PACKAGES[@]}"
    exit $?
fi

RESULTS=${1:-bench/results}
STEPS=("${@:2}")
[[ ${#STEPS[@]} -gt 0 ]] || STEPS=(tests determinism 1b 7b)
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
import realunify_arena.adapters.janus  # the bench's import: pydantic (cards) and the adapter
EOF

status=0
for step in "${STEPS[@]}"; do
    case $step in
        tests) timeout 100 python3 -m pytest tests/gpu/test_janus_fast_gpu.py -q -s -p no:cacheprovider 2>&1 \
                   | tee "$RESULTS/tests.log" || status=1 ;;
        1b|7b) # the logs say whether each step became a CUDA graph, and any recompilation or graph break
               TORCH_LOGS=perf_hints,recompiles,graph_breaks timeout "$([[ $step == 1b ]] && echo 300 || echo 330)" \
                   python3 bench/janus_generation.py --size "$step" --batch 1 --batch 16 --profile \
                   --json "$RESULTS/$step.json" 2>&1 | tee "$RESULTS/$step.log" || status=1 ;;
        determinism) timeout 150 python3 bench/janus_determinism.py --json "$RESULTS/determinism.json" 2>&1 \
                   | tee "$RESULTS/determinism.log" || status=1 ;;
        *) echo "unknown step $step (tests, determinism, 1b, 7b)"; status=2 ;;
    esac
done
exit $status
