#!/usr/bin/env bash
# The bright-field `worms` ensemble of session 30 (issue 24; recipes/worms-ensemble-seed{1,2}.toml say the rule):
# {bundled worms, seed 1, seed 2}, colors aligned on the 39 training wells, then the training-well table that decides
# (the 10 training wells of choose_tau_on_training_wells.py), then the validation wells once, beside the floor.
# Usage: bash experiments/bbbc010/worms_ensemble.sh [DATA] [RUNS]
set -euo pipefail
DATA=${1:-../shared/data/bbbc010/train}
RUNS=${2:-runs}
PYTHON=${PYTHON:-python}
DEEPCOLOR=${DEEPCOLOR:-deepcolor}
MEMBERS=(worms "$RUNS/worms-ensemble-seed1/last.safetensors" "$RUNS/worms-ensemble-seed2/last.safetensors")

"$DEEPCOLOR" ensemble --half --output "$RUNS/worms-ensemble.safetensors" --images "$DATA/images" --first 39 \
    "${MEMBERS[@]}"
"$PYTHON" experiments/bbbc010/choose_tau_on_training_wells.py --data "$DATA" --absorb-fragments \
    --min-sizes 400 500 600 700 800 --merge-distances 0 \
    --model "$RUNS/worms-ensemble.safetensors" "${MEMBERS[@]:1}"
