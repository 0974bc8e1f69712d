#!/usr/bin/env bash
# Halo term in the trained loss, on or off, at equal steps (docs/accuracy.md#halo-term-in-the-loss).
# Usage: bash experiments/bbbc010/ablate_halo.sh [DATA] [STEPS] [OUT] [more deepcolor-train options for both arms]
# (DATA defaults to ../shared/data/bbbc010/train, OUT to runs/ablate)
set -euo pipefail
DATA=${1:-../shared/data/bbbc010/train}
STEPS=${2:-600}
OUT=${3:-runs/ablate}
shift $(( $# < 3 ? $# : 3 ))
common=(--images "$DATA/images" --labels "$DATA/masks" --val-last 10 --scale 0.5 --colors 9 --margin 6
        --halo-weight 2 --patch-size 128 --batch-size 8 --steps "$STEPS" --validate-every "$STEPS"
        --checkpoint-every 100 --min-size 100 --resume "$@")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
deepcolor train "${common[@]}" --no-train-halo --output "$OUT/no-halo"
deepcolor train "${common[@]}" --output "$OUT/halo"
