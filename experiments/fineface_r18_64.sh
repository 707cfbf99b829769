#!/usr/bin/env bash
# FineFACE vs its baseline at CPU scale (docs/RESULTS.md): ResNet-18 64 px, same images,
# epochs, optimizer (Adam 1e-3, cosine, clip 1, no weight decay) and batch for both arms.
#  - FairFace gender, protected race x gender (FineFACE Table 2)
#  - CelebA Smiling, High_Cheekbones, Bags_Under_Eyes, protected Male (FineFACE Table 6)
# FineFACE: C_v 512 (paper 1024), both learning rates 1e-3 (the paper's 0.002 / 0.0002 assume
# an ImageNet-pretrained backbone; here everything trains from scratch). Resumable.
#   FAIRFACE=../shared/data/fairface CELEBA=../shared/data/celeba OUT=runs/fineface bash experiments/fineface_r18_64.sh
set -euo pipefail
FAIRFACE=${FAIRFACE:-../shared/data/fairface}
CELEBA=${CELEBA:-../shared/data/celeba}
OUT=${OUT:-runs/fineface-r18-64}
SEED=${SEED:-0}
N=${N:-8000}
EPOCHS=${EPOCHS:-4}
ATTRS=${ATTRS:-"Smiling High_Cheekbones Bags_Under_Eyes"}
F=${FACEFAIR:-facefair}
TRAIN="--arch resnet18 --size 64 --bf16 --channels-last --max-train $N --epochs $EPOCHS --optimizer adam --lr 1e-3 --weight-decay 0 --schedule cosine --seed $SEED --no-progress --resume"
FF="--method fineface --method-opt width=512 --method-opt head_lr=1e-3 --method-opt backbone_lr=1e-3"
done_or() { [ -f "$1/metrics.json" ] || { shift; "$@"; }; }
pair() {  # name, data args...
  local name=$1; shift
  done_or "$OUT/$name-erm" $F train "$@" $TRAIN --method erm --out "$OUT/$name-erm"
  done_or "$OUT/$name-erm" $F evaluate "$OUT/$name-erm" --no-progress
  done_or "$OUT/$name-fineface" $F train "$@" $TRAIN $FF --out "$OUT/$name-fineface"
  done_or "$OUT/$name-fineface" $F evaluate "$OUT/$name-fineface" --no-progress
}
$F prepare --dataset fairface --root "$FAIRFACE" --size 64 --no-progress
$F prepare --dataset celeba --root "$CELEBA" --size 64 --no-progress
pair fairface-gender --dataset fairface --root "$FAIRFACE" --target gender --protected race+gender
for a in $ATTRS; do
  pair "celeba-$a" --dataset celeba --root "$CELEBA" --target "$a" --protected Male
done
