#!/usr/bin/env bash
# The GPU data path against the random-batch speed, prepared for a short lent GPU (device tool):
# ResNet-18, 224 px, bf16, channels_last, 12,480 CelebA training images, the trainer's default
# workers (half the cores up to 6), then none for contrast. Rows land in docs/benchmarks/.
#   bash benchmarks/gpu_data_path.sh [DATA_ROOT]   (default ../shared/data)
set -euo pipefail
DATA="${1:-../shared/data}"
PY="${PYTHON:-python}"
"$PY" -m facefair prepare --dataset celeba --root "$DATA/celeba" --size 224 --workers "$(nproc)" --no-progress
for workers in "" 0; do
  "$PY" benchmarks/epoch_time.py --dataset celeba --root "$DATA/celeba" --target Smiling --protected Male \
    --arch resnet18 --size 224 --bf16 --channels-last --device cuda --epochs 2 --max-train 12480 \
    --max-val 512 ${workers:+--workers $workers} --tag "data_path_w${workers:-auto}"
done
