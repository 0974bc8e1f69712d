#!/usr/bin/env bash
# Fading objects in training for bright-field `worms` (issue 24; experiments/bbbc010/recipes/worms-fade.toml says the
# rule): four fine-tuning runs from the bundled `worms` on the 29 training wells that are not choice wells, two at a
# time on one thread each (fade 0.5 and its control, seed 1; then seed 2), then the choice wells' table that decides
# and the validation wells, measured once, beside the floor.
# Usage: bash experiments/bbbc010/worms_fade.sh [DATA] [RUNS]     (run from the repository root; resumable)
set -euo pipefail
DATA=${1:-../shared/data/bbbc010/train}
RUNS=${2:-runs}
PYTHON=${PYTHON:-python}
DEEPCOLOR=${DEEPCOLOR:-deepcolor}
RECIPE=experiments/bbbc010/recipes/worms-fade.toml

"$PYTHON" experiments/bbbc010/fit_wells.py --data "$DATA" --output "$RUNS/bbbc010-fit29"
for seed in 1 2; do
    OMP_NUM_THREADS=1 "$DEEPCOLOR" train --config "$RECIPE" --images "$RUNS/bbbc010-fit29/images" \
        --labels "$RUNS/bbbc010-fit29/masks" --seed "$seed" --output "$RUNS/worms-fade-s$seed" \
        > "$RUNS/worms-fade-s$seed.log" 2>&1 &
    OMP_NUM_THREADS=1 "$DEEPCOLOR" train --config "$RECIPE" --images "$RUNS/bbbc010-fit29/images" \
        --labels "$RUNS/bbbc010-fit29/masks" --seed "$seed" --output "$RUNS/worms-nofade-s$seed" --fade-objects 0 \
        > "$RUNS/worms-nofade-s$seed.log" 2>&1 &
    wait
done
MODELS=(worms)
for run in fade-s1 nofade-s1 fade-s2 nofade-s2; do MODELS+=("$RUNS/worms-$run/last.safetensors"); done
echo "== the 10 choice wells (the rule), stored decoding"
"$PYTHON" experiments/bbbc010/choose_tau_on_training_wells.py --data "$DATA" --absorb-fragments \
    --min-sizes 600 --merge-distances 0 --model "${MODELS[@]}"
echo "== the 10 validation wells, measured once"
for model in "${MODELS[@]}"; do
    echo "-- $model"
    "$PYTHON" experiments/bbbc010/evaluate_bbbc010.py --data "$DATA" --model "$model" --min-size 600 --absorb-fragments
done
