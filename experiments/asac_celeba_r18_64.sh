#!/usr/bin/env bash
# ASAC at CPU scale (docs/RESULTS.md): CelebA Smiling / Male, ResNet-18 64 px, 10k-image train
# subset, 3 seeds: base, ERM fine-tune control, ASAC-FGSM, ASAC-PGD. Resumable: rerun to continue.
#   ROOT=../shared/data/celeba OUT=runs/asac bash experiments/asac_celeba_r18_64.sh
set -euo pipefail
ROOT=${ROOT:-../shared/data/celeba}
OUT=${OUT:-runs/asac-celeba-r18-64}
SEEDS=${SEEDS:-"0 1 2"}
F=${FACEFAIR:-facefair}
COMMON="--dataset celeba --root $ROOT --target Smiling --protected Male --arch resnet18 --size 64 --bf16 --channels-last --no-progress"
done_or() { [ -f "$1/metrics.json" ] || { shift; "$@"; }; }
$F prepare --dataset celeba --root "$ROOT" --size 64 --no-progress
for s in $SEEDS; do
  done_or "$OUT/base-s$s" $F train $COMMON --max-train 10000 --epochs 5 --schedule constant --seed "$s" --out "$OUT/base-s$s" --resume
  done_or "$OUT/base-s$s" $F evaluate "$OUT/base-s$s" --no-progress
done
for s in $SEEDS; do
  done_or "$OUT/ermft-s$s" $F mitigate erm --from "$OUT/base-s$s" --out "$OUT/ermft-s$s" --epochs 1 --schedule constant --seed "$s" --no-progress --resume
  done_or "$OUT/ermft-s$s" $F evaluate "$OUT/ermft-s$s" --no-progress
  done_or "$OUT/fgsm-s$s" $F mitigate asac --from "$OUT/base-s$s" --out "$OUT/fgsm-s$s" --epochs 1 --seed "$s" --attack fgsm --no-progress --resume
  done_or "$OUT/fgsm-s$s" $F evaluate "$OUT/fgsm-s$s" --no-progress
done
for s in $SEEDS; do
  done_or "$OUT/pgd-s$s" $F mitigate asac --from "$OUT/base-s$s" --out "$OUT/pgd-s$s" --epochs 1 --seed "$s" --attack pgd --steps 5 --no-progress --resume
  done_or "$OUT/pgd-s$s" $F evaluate "$OUT/pgd-s$s" --no-progress
done
$F table "Base=$OUT/base-s*" "ERM fine-tune=$OUT/ermft-s*" "ASAC-FGSM=$OUT/fgsm-s*" "ASAC-PGD=$OUT/pgd-s*"
