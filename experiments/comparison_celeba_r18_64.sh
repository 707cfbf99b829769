#!/usr/bin/env bash
# Comparison methods (issue 5) at the ASAC table's CPU scale (docs/RESULTS.md): CelebA Smiling /
# Male, ResNet-18 64 px, the same 10k-image train subset, seeds 0-2. Methods that train from
# scratch get the base model's budget (5 epochs, Adam 1e-3, constant rate); Zhang & Sang's
# augmentation fine-tunes the base run for ASAC's budget (1 epoch). Seed by seed, so a budget
# cut leaves every method with the same seeds. Resumable: rerun to continue.
#   ROOT=../shared/data/celeba BASE=runs/asac OUT=runs/compare bash experiments/comparison_celeba_r18_64.sh
set -euo pipefail
ROOT=${ROOT:-../shared/data/celeba}
BASE=${BASE:-runs/asac-celeba-r18-64}   # where experiments/asac_celeba_r18_64.sh put base-s*
OUT=${OUT:-runs/compare-celeba-r18-64}
SEEDS=${SEEDS:-"0 1 2"}
METHODS=${METHODS:-"zhang_sang reweight resample domain_independent adversarial_debias fair_mixup regularized multitask"}
F=${FACEFAIR:-facefair}
COMMON="--dataset celeba --root $ROOT --target Smiling --protected Male --arch resnet18 --size 64 --bf16 --channels-last --no-progress"
SCRATCH="--max-train 10000 --epochs 5 --schedule constant --optimizer adam --lr 0.001 --clip 1.0 --weight-decay 0"
done_or() { [ -f "$1/metrics.json" ] || { shift; "$@"; }; }
$F prepare --dataset celeba --root "$ROOT" --size 64 --no-progress
for s in $SEEDS; do
  [ -f "$BASE/base-s$s/metrics.json" ] || { echo "missing $BASE/base-s$s: run experiments/asac_celeba_r18_64.sh first" >&2; exit 1; }
  for m in $METHODS; do
    run="$OUT/$m-s$s"
    if [ "$m" = zhang_sang ]; then
      done_or "$run" $F mitigate zhang_sang --from "$BASE/base-s$s" --out "$run" --epochs 1 --seed "$s" --no-progress --resume
    else
      done_or "$run" $F train $COMMON $SCRATCH --method "$m" --seed "$s" --out "$run" --resume
    fi
    done_or "$run" $F evaluate "$run" --no-progress
    if [ "$m" = domain_independent ] && [ ! -f "$run/metrics-inference-conditional.json" ]; then
      $F evaluate "$run" --method-opt inference=conditional --no-progress
    fi
  done
done
rows=("Base=$BASE/base-s*" "ERM fine-tune=$BASE/ermft-s*" "ASAC-FGSM=$BASE/fgsm-s*")
for m in $METHODS; do rows+=("$m=$OUT/$m-s*"); done
case " $METHODS " in *" domain_independent "*)
  rows+=("domain_independent (conditional)=$OUT/domain_independent-s*::metrics-inference-conditional.json");; esac
$F table "${rows[@]}"
