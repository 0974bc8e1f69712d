#!/usr/bin/env bash
# The `worms-mask` candidates of session 9 and the training-well table that chooses between them
# (docs/models/worms-mask.md, "Test-time flips and an ensemble"; the rule was committed before any of them ran on
# the validation wells):
#   wm-single-flips{1,4,8}:   the worms-mask bundled in session 8 (stage 2) alone, with 4 or 8 test-time flips
#   wm-ensemble-flips{1,4,8}: the ensemble of every worms-mask network of the recipes (stage 2, stage 1 seed 0,
#                             stage 1 seed 1), weights in float16, with the same flips
# Colors are aligned on the 39 training wells' foreground masks; the table is on the 10 training wells of
# experiments/bbbc010/choose_tau_on_training_wells.py. Run from the repository root after
#     deepcolor train --config recipes/worms-mask/worms-mask.toml; deepcolor train --config recipes/worms-mask/worms-mask-seed1.toml
#     cp src/napari_deepcolor/zoo/worms-mask.safetensors runs/worms-mask-stage2-bundled.safetensors   # before re-bundling
# Usage: bash experiments/bbbc010/worms_mask_candidates.sh [DATA] [RUNS]
set -euo pipefail
DATA=${1:-../shared/data/bbbc010/train}
RUNS=${2:-runs}
PYTHON=${PYTHON:-python}
DEEPCOLOR=${DEEPCOLOR:-deepcolor}
STAGE2=$RUNS/worms-mask-stage2-bundled.safetensors
MEMBERS=("$STAGE2" "$RUNS/worms-mask/last.safetensors" "$RUNS/worms-mask-seed1/last.safetensors")
ALIGN=(--images "$DATA/foreground" --first 39)

for flips in 1 4 8; do
    "$DEEPCOLOR" ensemble --output "$RUNS/wm-single-flips$flips.safetensors" --flips "$flips" \
        "${ALIGN[@]}" "$STAGE2"
    "$DEEPCOLOR" ensemble --half --output "$RUNS/wm-ensemble-flips$flips.safetensors" --flips "$flips" \
        "${ALIGN[@]}" "${MEMBERS[@]}"
done
"$PYTHON" experiments/bbbc010/choose_tau_on_training_wells.py --data "$DATA" --absorb-fragments --min-sizes 400 500 600 700 800 \
    --merge-distances 0 --model "$RUNS"/wm-single-flips{1,4,8}.safetensors "$RUNS"/wm-ensemble-flips{1,4,8}.safetensors
