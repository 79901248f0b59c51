#!/bin/sh
# Regenerates models/base from data/base-corpus (see docs/BASE_MODEL.md). Run from the
# repository root after `swift build -c release --product userdp`. One BLAS thread, as measured.
set -eu
userdp=${USERDP:-.build/release/userdp}
export OPENBLAS_NUM_THREADS=1
"$userdp" tokenizer train --input data/base-corpus/train --vocab-size 1536 --out models/base
"$userdp" pretrain --corpus data/base-corpus/train --heldout data/base-corpus/heldout.txt \
  --tokenizer models/base --layers 4 --width 192 --heads 6 --context 128 \
  --steps 1200 --batch 16 --lr 1e-3 --min-lr 1e-4 --warmup 100 --weight-decay 0.1 --clip 1 \
  --seed 0 --eval-interval 100 --checkpoint-interval 200 --log-interval 20 --out models/base
"$userdp" eval --model models/base --text data/base-corpus/heldout.txt
