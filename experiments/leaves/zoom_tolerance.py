"""Does zoom augmentation (`TrainConfig.zoom`) make `leaves-semiconv` tolerate an object size that is off?

With its size 30 % off, the bundled model loses much of its accuracy on training rosettes (seeds 42-61, AP50 at the
stored knobs: 0.887 at the true size, 0.788 at 0.7 x it, 0.752 at 1.4 x), and the automatic size is often that far
off on photos with a colour cast (docs/scale.md, "Which size model"). Real photos are what the team measures it on.

Two arms, trained from the bundled weights exactly as its last stage, seed 3, one with each patch zoomed by a factor
log-uniform in 1/1.5-1.5 (experiments/leaves/recipes/leaves-semiconv-zoom.toml), one without
(leaves-semiconv-zoom-control.toml): the control tells zoom from 1,200 more steps. Each arm's size model is refitted
as the bundled one was (experiments/object_size/fit_bundled.py's procedure: 40 training rosettes, with labels).

The rule, written before either arm ran. Only training rosettes are used to decide (seeds 42-71, among the 400 both
arms trained on). The zoom arm replaces the bundled `leaves-semiconv` if, at the stored knobs,
  (1) its mean AP50 at 0.7 x and 1.4 x the true size beats the control's by at least 0.03,
  (2) at the true size it is at most 0.01 below the control's and at most 0.01 below the bundled model's, and
  (3) with the defaults (automatic size), `leaves_robustness.py --seeds 42 72`: its mean over the eleven changes and
      its unchanged row are each at most 0.01 below the control's and the bundled model's.
Then, reported and chosen on nothing: the 50 realistic test rosettes, leaves_robustness.py on seeds 71,000-71,029 and
bench_object_size.py's rows.

    deepcolor train --config experiments/leaves/recipes/leaves-semiconv-zoom.toml      # then -control, one at a time
    python experiments/leaves/zoom_tolerance.py --refit runs/leaves-semiconv-zoom/last.safetensors   # and -control
    python experiments/leaves/zoom_tolerance.py leaves-semiconv runs/leaves-semiconv-zoom-control/last.safetensors \
        runs/leaves-semiconv-zoom/last.safetensors
    python experiments/leaves/leaves_robustness.py --seeds 42 72 --models leaves-semiconv \
        runs/leaves-semiconv-zoom-control/last.safetensors runs/leaves-semiconv-zoom/last.safetensors
"""
