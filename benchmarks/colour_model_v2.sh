#!/usr/bin/env bash
# The figures of docs/TRAINING.md for colour model v2, in the order they were made:
# a vividness sweep on a DAVIS subset, then the full DAVIS evaluation of v2 at the chosen
# vividness and of the seed's design (the previously shipped `paper` model) with the
# baselines, the black-and-white contact sheet, and the neutral-cast check.
#   bash benchmarks/colour_model_v2.sh runs/v2/model.safetensors runs/paper.safetensors [VIVIDNESS]
set -euo pipefail
cd "$(dirname "$0")/.."
V2=${1:-runs/v2/model.safetensors}
PAPER=${2:-assets/flowchroma_default.safetensors}
DAVIS=../shared/data/davis
BW="../shared/data/bw/chaplin.mp4 ../shared/data/bw/a-bomb_blast_effects_part.mp4"
OUT=runs/report_v2
mkdir -p "$OUT"
if [ -z "${3:-}" ]; then
  for v in 0.3 0.5 0.7 0.85; do
    [ -f "$OUT/vividness_$v.json" ] || flowchroma eval "$DAVIS" --model "$V2" --vividness "$v" \
      --max-frames 30 --no-baselines --out-json "$OUT/vividness_$v.json" > "$OUT/vividness_$v.txt"
    echo "vividness $v"; tail -n 4 "$OUT/vividness_$v.txt"
  done
  exit 0
fi
VIV=$3
flowchroma eval "$DAVIS" --model "$V2" --vividness "$VIV" --out-json "$OUT/eval_v2.json" \
  --contact-sheet "$OUT/davis_v2.png" | tee "$OUT/eval_v2.txt"
flowchroma eval "$DAVIS" --model "$PAPER" --no-baselines --out-json "$OUT/eval_paper.json" \
  | tee "$OUT/eval_paper.txt"
flowchroma eval --black-and-white $BW --model "$V2" --vividness "$VIV" --contact-sheet "$OUT/bw_v2.png"
flowchroma eval --black-and-white $BW --model "$PAPER" --contact-sheet "$OUT/bw_paper.png"
python benchmarks/neutral_cast.py --model "$V2" --vividness "$VIV" | tee "$OUT/neutral.txt"
