#!/usr/bin/env bash
# Does an ensemble generalize where its members do not? (issue 24, 2026-12-07; after worms_fade.sh)
# The four fine-tunings of worms_fade.sh (fading 0.5 and its control, seeds 1 and 2) trained on the 29 training wells
# that are not choice wells; on the 10 choice wells, which they left out, they score 0.524-0.577 (mean 0.540; floor
# 0.549). Session 30's ensemble was judged on wells its members had trained on, where it gained nothing; here the
# judging wells are out of every member's last training. No training: their colors are matched on the 29 wells.
#
# Rule, written before this ran: on the 10 choice wells, at the stored decoding (τ = 600, fragments joined; nothing
# chosen), the ensemble of the four is evidence that ensembling generalizes only if its AP50 beats the members' mean
# (0.540) by at least 0.03 AND the floor there (0.549) by at least 0.03. If it is, it replaces the bundled `worms`
# (which trained on those wells, so it cannot be judged there) only if, on the validation wells measured once
# afterwards, it is not below `worms` (0.677) - 0.01 either; else nothing is bundled and the result is reported.
# Result (2026-12-07): no. Choice wells 0.559 (members' mean 0.540, floor 0.549); validation, measured once, 0.663.
# Usage: bash experiments/bbbc010/worms_fade_ensemble.sh [DATA] [RUNS]     (after worms_fade.sh)
set -euo pipefail
DATA=${1:-../shared/data/bbbc010/train}
RUNS=${2:-runs}
PYTHON=${PYTHON:-python}
DEEPCOLOR=${DEEPCOLOR:-deepcolor}
MEMBERS=()
for run in fade-s1 nofade-s1 fade-s2 nofade-s2; do MEMBERS+=("$RUNS/worms-$run/last.safetensors"); done

"$DEEPCOLOR" ensemble --half --output "$RUNS/worms-fit29-ensemble.safetensors" --images "$RUNS/bbbc010-fit29/images" \
    "${MEMBERS[@]}"
echo "== the 10 choice wells (the rule), stored decoding"
"$PYTHON" experiments/bbbc010/choose_tau_on_training_wells.py --data "$DATA" --absorb-fragments \
    --min-sizes 600 --merge-distances 0 --model "$RUNS/worms-fit29-ensemble.safetensors"
echo "== the 10 validation wells, measured once"
"$PYTHON" experiments/bbbc010/evaluate_bbbc010.py --data "$DATA" --model "$RUNS/worms-fit29-ensemble.safetensors" \
    --min-size 600 --absorb-fragments
