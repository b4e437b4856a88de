#!/usr/bin/env bash
# The GPU check (issue 12, part 6): every notebook at --scale gpu-full, then the GPT gpu-full recipe on one GPU
# (target: nanoGPT's 1.47 validation loss in <= 3 minutes on one H100) and, with several GPUs, data-parallel
# under torchrun. Writes a Markdown timing table to build/gpu_check/timings.md for the README.
#
#     bash scripts/gpu_check.sh            # on a CUDA machine, from the repository root, in the project's venv
#
# It never touches checkpoints/: the GPT is written to build/gpu_check/ with --no-register.
# NOTE: written on a CPU-only machine and NOT YET RUN on a GPU; the first run on a GPU machine is its test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi missing or failing); run it on a CUDA machine" >&2
    exit 2
fi
if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: torch sees no CUDA GPU; install the CUDA build of torch (see the README)" >&2
    exit 2
fi
OUT=build/gpu_check
mkdir -p "$OUT"
export GENLIB_SCALE=gpu-full
GPUS=$(nvidia-smi -L | wc -l)
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
TABLE="$OUT/timings.md"
{
    echo "GPU check on ${GPUS} x ${GPU_NAME}, torch $(python -c 'import torch; print(torch.__version__)'), $(date -u +%Y-%m-%d)"
    echo
    echo "| run | seconds | result |"
    echo "|---|---:|---|"
} > "$TABLE"

row() {  # row NAME SECONDS RESULT
    printf '| %s | %d | %s |\n' "$1" "$2" "$3" >> "$TABLE"
}

status=0
for nb in notebooks/[0-9]*.ipynb; do
    name=$(basename "$nb" .ipynb)
    start=$SECONDS
    if python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env "$nb" > "$OUT/$name.log" 2>&1; then
        result=pass
    else
        result="FAIL (see $OUT/$name.log)"
        status=1
    fi
    row "notebook $name" $((SECONDS - start)) "$result"
done

gpt() {  # gpt FILE DESCRIPTION LAUNCHER...: train the gpu-full GPT, add its time and validation loss to the table
    local file=$1 what=$2; shift 2
    local start=$SECONDS
    if "$@" scripts/train_gpt.py --scale gpu-full --out "$OUT/$file.pt" --no-register > "$OUT/$file.log" 2>&1; then
        local loss steps verdict
        loss=$(grep -o 'validation loss [0-9.]*' "$OUT/$file.log" | awk '{print $3}')
        steps=$(grep -o '[0-9]\+ steps in' "$OUT/$file.log" | awk '{print $1}')
        verdict=$(python -c "print('meets' if $loss <= 1.47 else 'misses')")
        row "GPT gpu-full, $what (3-minute budget)" $((SECONDS - start)) \
            "val loss $loss after $steps steps ($verdict nanoGPT's 1.47)"
    else
        row "GPT gpu-full, $what" $((SECONDS - start)) "FAIL (see $OUT/$file.log)"
        status=1
    fi
}
gpt gpt_1gpu "1 GPU" python
if [ "$GPUS" -gt 1 ]; then
    gpt gpt_ddp "$GPUS GPUs, torchrun" torchrun --standalone --nproc_per_node="$GPUS"
fi

cat "$TABLE"
exit $status
