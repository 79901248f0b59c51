#!/bin/sh
# Regenerates models/base-6x384, the scale check's base model (docs/BASE_MODEL.md, "The larger
# base model"), from data/base-corpus with the tokenizer of models/base. Run from the repository
# root after `swift build -c release --product userdp`. One BLAS thread, as measured.
set -eu
userdp=${USERDP:-.build/release/userdp}
export OPENBLAS_NUM_THREADS=1
"$userdp" pretrain --corpus data/base-corpus/train --heldout data/base-corpus/heldout.txt \
  --tokenizer models/base --layers 6 --width 384 --heads 6 --context 128 \
  --steps 1200 --batch 16 --lr 1e-3 --min-lr 1e-4 --warmup 100 --weight-decay 0.1 --clip 1 \
  --seed 0 --eval-interval 100 --checkpoint-interval 200 --log-interval 20 --threads 1 --out models/base-6x384
"$userdp" eval --model models/base-6x384 --text data/base-corpus/heldout.txt
