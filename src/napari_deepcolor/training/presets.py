"""Training presets for the kinds of images the plugin was tried on: plain data, no torch, no Qt.

A preset fills the training widget's knobs (and ``experiments/ecoli/finetune_ecoli.py``); every field has a tooltip
that says what it does, shown next to the widget's controls.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from napari_deepcolor.zoo import DEFAULT_FOR_KIND, kind_of, model_for_image  # noqa: F401 - model_for_image: re-exported


@dataclass(frozen=True)
class Preset:
    """Knobs of a training run for one kind of image.

    Attributes
    ----------
    n_colors : int
        Colors C of the network, background included (fixed by the starting model when fine-tuning).
    scale : float
        Images are resized by this factor before the network; objects should end up a few network pixels wide.
    margin : int
        Halo margin m (network pixels): objects closer than this must get different colors.
    halo_weight : float
        μ: how much the color choice avoids colors already predicted around an object.
    train_halo : bool
        Also push the object's color down in its halo during training.
    patch_size, batch_size, steps : int
        Training patches (network pixels), patches per step, and steps.
    learning_rate : float
        Adam's initial learning rate (it falls along a cosine to 1/20 of it).
    min_size : float
        Recommended smallest object (pixels at the image's resolution) for the trained model's decoding.
    orientation_prior, prior_steps : float, int
        Weight of the orientation prior in the color choice at the start, and the steps over which it falls to 0
        (`napari_deepcolor.config.TrainConfig`): elongated objects start with a color by their direction, which
        keeps several colors in use.
    contact_fraction : float
        Fraction of training patches centred where two objects touch.
    sparse_percentile : float
        `napari_deepcolor.config.ModelConfig.sparse_percentile` of the trained model (fluorescence: a field of a few
        bright objects is normalized by them, not by its noise); 0 = off.
    """

    n_colors: int = 9
    scale: float = 1.0
    margin: int = 6
    halo_weight: float = 2.0
    train_halo: bool = False
    patch_size: int = 128
    batch_size: int = 8
    steps: int = 300
    learning_rate: float = 1e-3
    min_size: float = 30.0
    orientation_prior: float = 0.0
    prior_steps: int = 0
    contact_fraction: float = 0.0
    sparse_percentile: float = 0.0


TOOLTIPS = {
    "n_colors": "Colors of the network, background included. Neighbouring objects get different colors, so dense "
                "images need more. Fixed by the starting model when fine-tuning.",
    "scale": "Images are resized by this factor before the network (0.5 = half resolution). Choose it so objects "
             "are about 5-15 network pixels wide: smaller is faster, too small loses thin objects.",
    "margin": "Halo margin m in network pixels: two objects closer than this must get different colors. Larger "
              "separates touching objects more safely but needs more colors.",
    "halo_weight": "Halo weight μ: how strongly an object's color is chosen to differ from what the network "
                   "already predicts around it.",
    "train_halo": "Also train the object's color to be absent from its halo (off in the bundled models).",
    "patch_size": "Side of the square training patches in network pixels; larger sees more context per step "
                  "and is slower.",
    "batch_size": "Patches per training step.",
    "steps": "Training steps. Fine-tuning needs a few hundred; training from scratch needs thousands.",
    "learning_rate": "Adam's initial learning rate; it falls along a cosine to 1/20 of it. Fine-tuning a model "
                     "that already works on images like yours: about a third of the preset's (3e-4 did better than "
                     "1e-3 for `ecoli`, docs/finetuning.md). Lower it if the loss becomes NaN.",
    "min_size": "Smallest object kept when the trained model segments (pixels at the image's resolution).",
    "orientation_prior": "At the start of training, elongated objects get a color by their direction (this weight; "
                         "0 = off). It keeps the network from painting every object with one color.",
    "prior_steps": "Steps over which the orientation prior fades out (0 = it never fades).",
    "contact_fraction": "Fraction of training patches centred where two objects touch, where the colors must "
                        "differ.",
    "sparse_percentile": "Fluorescence: where bright objects on a dark background are too few to reach the upper "
                         "intensity percentile (a field of a few nuclei), this percentile is mapped to 1 instead, so "
                         "the background noise is not stretched into objects (0 = off). The nuclei preset and the "
                         "bundled nuclei model use 99.99; a model you start from fills it with its own.",
}

#: Name shown in the widget → preset. Worms: the first stage of the bundled model (docs/accuracy.md). E. coli: cells
#: of 100-300 px² and about 10 px wide, as thick as a worm at full resolution, hence scale 1 and a smaller margin
#: for the dense colony; rods, so the orientation prior spreads them over the colors (docs/finetuning.md). Leaves:
#: large RGB objects, half resolution. Nuclei: 16-24 px wide, at full resolution as in the ``nuclei`` model's recipe
#: (recipes/nuclei/nuclei.toml: semiconv, scale 1, 128 px patches, τ 30 px); margin 3 for touching clumps; the
#: bundled model's sparse percentile (experiments/object_size/sparse_limits.py).
PRESETS: dict[str, Preset] = {
    "C. elegans (worms)": Preset(n_colors=9, scale=0.5, margin=6, halo_weight=2.0, train_halo=False, patch_size=128,
                                 steps=500, learning_rate=1e-3, min_size=100.0),
    "E. coli (colony)": Preset(n_colors=9, scale=1.0, margin=3, halo_weight=2.0, train_halo=False, patch_size=128,
                               steps=300, learning_rate=1e-3, min_size=30.0, orientation_prior=10.0,
                               prior_steps=150, contact_fraction=0.3),
    "Leaves (rosette)": Preset(n_colors=9, scale=0.5, margin=4, halo_weight=2.0, train_halo=False, patch_size=128,
                               steps=500, learning_rate=1e-3, min_size=200.0),
    "Fluorescent nuclei": Preset(n_colors=9, scale=1.0, margin=3, halo_weight=2.0, train_halo=False, patch_size=128,
                                 steps=300, learning_rate=1e-3, min_size=30.0, sparse_percentile=99.99),
}

#: Preset → the bundled model it fine-tunes by default (the registry's default model for that kind of image).
PRESET_MODELS: dict[str, str] = DEFAULT_FOR_KIND

#: Learning rate when fine-tuning a model that already works on such images: 3e-4 did better than the presets'
#: 1e-3 (meant for training from scratch) for `ecoli` (docs/finetuning.md).
FINETUNE_LEARNING_RATE = 3e-4

#: What keeps fine-tuning from forgetting (`napari_deepcolor.config.TrainConfig`: ``freeze_norm``, ``anchor_weight``),
#: chosen with experiments/finetune/few_shot.py --cases select-... (other images than the table's; docs/finetuning.md,
#: "No forgetting"): frozen batch-norm statistics did better than plain fine-tuning in all three cases there (AP50 on
#: the test images 0.487 / 0.717 / 0.317 against 0.474 / 0.708 / 0.257), an L2-SP anchor (0.01) on top of it worse in
#: two of three (0.447 / 0.702 / 0.381).
FINETUNE_FREEZE_NORM = True
FINETUNE_ANCHOR_WEIGHT = 0.0
#: Fraction of a fine-tuning's patches replayed from the starting model's own kind of images
#: (`napari_deepcolor.training.replay`); 0 = off. Chosen on the same selection cases, two runs each against no
#: replay (docs/finetuning.md, "No forgetting"): AP50 on the test images -0.009 / -0.021 on worms, -0.013 / +0.049
#: on the E. coli colony, +0.155 / +0.031 on enlarged rosettes.
FINETUNE_REPLAY = 0.5
#: Train the decoder only when fine-tuning (`napari_deepcolor.config.TrainConfig.freeze_encoder`). On the selection
#: cases, two runs each against training the whole network (both with replay; docs/finetuning.md): AP50 +0.034 /
#: +0.067 on worms, +0.005 / +0.072 on enlarged rosettes, -0.165 / -0.008 on the colony strip (the first run
#: trained it at a wrong object size, which the annotation scan now avoids). The encoder's features are then the
#: starting model's, so the size model a fine-tuning keeps reads them as it was fitted to.
FINETUNE_FREEZE_ENCODER = True


def preset_for_model(name: str) -> str | None:
    """The preset of a bundled model (``ecoli`` and ``ecoli-semiconv`` → "E. coli (colony)", ``worms-mask`` →
    "C. elegans (worms)"), None for others."""
    return kind_of(name)


assert set(PRESET_MODELS) == set(PRESETS), "every preset needs a bundled model to start from"
assert set(TOOLTIPS) == {f.name for f in fields(Preset)}, "every preset field needs a tooltip"
