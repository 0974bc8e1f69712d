import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytest.importorskip("torch")

from conftest import blobs_pair  # noqa: E402

from napari_deepcolor.cli import main  # noqa: E402
from napari_deepcolor.io import read_labels, write_labels  # noqa: E402


@pytest.fixture
def image_file(tmp_path):
    import tifffile

    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, (blobs_pair(3)[0] * 1000).astype(np.uint16))
    return path


def test_predict_writes_one_label_image_per_input(tmp_path, tiny_model, image_file):
    out = tmp_path / "out"
    assert main(["predict", "--model", str(tiny_model), "--output", str(out), "--device", "cpu", "--min-size", "0",
                 "--save-probs", str(image_file)]) == 0
    labels = read_labels(out / "cells_labels.tif")
    assert labels.shape == (48, 48)
    assert (out / "cells_probs.tif").is_file()


def test_predict_says_when_it_averages_an_rgb_image_for_a_gray_model(tmp_path, tiny_model, caplog):
    image = (blobs_pair(3)[0] * 200).astype(np.uint8)
    tifffile.imwrite(tmp_path / "photo.tif", np.stack([image, image, image], axis=-1))
    tifffile.imwrite(tmp_path / "gray.tif", image)
    assert main(["predict", "--model", str(tiny_model), "--output", str(tmp_path / "out"), "--device", "cpu",
                 str(tmp_path / "photo.tif"), str(tmp_path / "gray.tif")]) == 0
    notes = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert notes == [f"{tmp_path / 'photo.tif'} is RGB and the model {tiny_model.name} takes gray images: its "
                     "channels are averaged into one gray image"]
    assert (tmp_path / "out" / "photo_labels.tif").is_file()


def test_predict_at_another_object_size_says_so_and_refuses_one_it_cannot_run(tmp_path, tiny_model, image_file,
                                                                              caplog, capsys):
    out = tmp_path / "out"
    assert main(["predict", "--model", str(tiny_model), "--output", str(out), "--device", "cpu", "--object-size",
                 "2", str(image_file)]) == 0
    assert "; objects 2× the training size, so the network sees the image at scale 0.5" in caplog.text
    assert read_labels(out / "cells_labels.tif").shape == (48, 48)
    assert main(["predict", "--model", str(tiny_model), "--output", str(out), "--object-size", "0.2",
                 str(image_file)]) == 2
    assert "object size 0.2 would enlarge the image 5 times" in capsys.readouterr().err


def test_predict_can_join_fragments_below_tau(tmp_path, spotty_model, image_file):
    import tifffile

    from napari_deepcolor.postprocess.coloring import colors_to_labels

    out = tmp_path / "out"
    assert main(["predict", "--model", str(spotty_model), "--output", str(out), "--device", "cpu", "--min-size", "40",
                 "--absorb-fragments", "--save-probs", str(image_file)]) == 0
    probs = tifffile.imread(out / "cells_probs.tif")
    joined = colors_to_labels(probs, min_size=40, absorb_fragments=True).labels
    assert (joined > 0).sum() > (colors_to_labels(probs, min_size=40).labels > 0).sum()
    np.testing.assert_array_equal(read_labels(out / "cells_labels.tif"), joined)
    assert main(["predict", "--model", str(spotty_model), "--output", str(out), "--device", "cpu", "--min-size", "40",
                 "--no-absorb-fragments", "--overwrite", str(image_file)]) == 0
    np.testing.assert_array_equal(read_labels(out / "cells_labels.tif"), colors_to_labels(probs, min_size=40).labels)


def test_evaluate_prints_metrics(tmp_path, capsys):
    gt = blobs_pair(0)[1]
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    write_labels(tmp_path / "pred" / "a_labels.tif", gt)
    write_labels(tmp_path / "gt" / "a.tif", gt)
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    out = capsys.readouterr().out
    assert "ap50 1.000" in out and "sbd 1.000" in out and out.splitlines()[-1].startswith("mean")


def test_evaluate_scores_a_label_stack_plane_by_plane(tmp_path, capsys):
    """predict numbers a stack's labels within each plane: the same id in two planes is two objects."""
    gt = np.stack([blobs_pair(0)[1], blobs_pair(1)[1]])
    pred = gt.copy()
    pred[1][pred[1] == 1] = 0  # plane 1 misses one object
    for folder, name, labels in (("pred", "s_labels.tif", pred), ("gt", "s.tif", gt)):
        (tmp_path / folder).mkdir()
        write_labels(tmp_path / folder / name, labels)
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    rows = {line.split("\t")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(rows) == {"s[0]", "s[1]", "mean"}
    assert "ap50 1.000" in rows["s[0]"] and "ap50 1.000" not in rows["s[1]"]
    n = len(np.unique(gt[0])) - 1 + len(np.unique(gt[1])) - 1
    assert f"n_gt {n}\t" in rows["mean"] and "n_images 2" in rows["mean"]


def test_evaluate_prefers_the_labels_file_over_an_image_of_the_same_stem(tmp_path, capsys):
    image, gt = blobs_pair(0)
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    write_labels(tmp_path / "pred" / "a_labels.tif", gt)
    write_labels(tmp_path / "gt" / "a_labels.tif", gt)
    tifffile.imwrite(tmp_path / "gt" / "a.tif", (image * 1000).astype(np.uint16))  # integer, so readable as labels
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    assert "ap50 1.000" in capsys.readouterr().out

def test_evaluate_warns_when_an_image_sits_next_to_its_masks(tmp_path, capsys, caplog):
    """The BBBC010 layout in one folder: the image next to one mask per object. The bare stem is taken (in a labels
    folder it is a label image, and <stem>_2 may be the next image of a series), with a warning naming it."""
    image, gt = blobs_pair(0)
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    write_labels(tmp_path / "pred" / "a_labels.tif", gt)
    tifffile.imwrite(tmp_path / "gt" / "a.tif", (image * 1000).astype(np.uint16))
    for k in range(1, gt.max() + 1):
        tifffile.imwrite(tmp_path / "gt" / f"a_{k:02d}.tif", ((gt == k) * 255).astype(np.uint8))
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    assert "a.tif is used as the label image (if it is the image, move it out" in caplog.text
    (tmp_path / "gt" / "a.tif").unlink()  # moved away, as the warning says: the masks are the truth
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    assert "ap50 1.000" in capsys.readouterr().out.splitlines()[-2]


def test_a_numbered_series_is_not_taken_for_masks(tmp_path):
    """scan.tif, scan_2.tif, scan_3.tif: three images (and three label images), not one image and its masks."""
    from napari_deepcolor.io import find_pairs
    from napari_deepcolor.predict.batch import find_images

    for folder in ("images", "labels"):
        (tmp_path / folder).mkdir()
        for name in ("scan", "scan_2", "scan_3"):
            tifffile.imwrite(tmp_path / folder / f"{name}.tif", np.zeros((16, 16), np.uint8))
    assert [p.name for p in find_images([tmp_path / "images"])] == ["scan.tif", "scan_2.tif", "scan_3.tif"]
    pairs = find_pairs(tmp_path / "images", tmp_path / "labels")
    assert [(image.stem, [p.stem for p in labels]) for image, labels in pairs] == [
        ("scan", ["scan"]), ("scan_2", ["scan_2"]), ("scan_3", ["scan_3"])]


def test_predict_into_the_input_folder_leaves_the_users_labels_alone(tmp_path, tiny_model):
    image, gt = blobs_pair(0)
    tifffile.imwrite(tmp_path / "a.tif", (image * 1000).astype(np.uint16))
    write_labels(tmp_path / "a_labels.tif", gt)
    before = (tmp_path / "a_labels.tif").read_bytes()
    args = ["predict", "--model", str(tiny_model), "--output", str(tmp_path), "--device", "cpu", str(tmp_path)]
    assert main(args) == 2  # a_labels.tif may be the user's: neither taken as a's finished output nor overwritten
    assert main([*args, "--overwrite"]) == 2
    assert (tmp_path / "a_labels.tif").read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("*.tif")) == ["a.tif", "a_labels.tif"]


def test_predict_into_the_image_folder_can_be_run_again(tmp_path, tiny_model):
    """Its own outputs carry its TIFF Software tag: a rerun skips them, --overwrite redoes them."""
    image = blobs_pair(0)[0]
    for name in ("a", "b"):
        tifffile.imwrite(tmp_path / f"{name}.tif", (image * 1000).astype(np.uint16))
    args = ["predict", "--model", str(tiny_model), "--output", str(tmp_path), "--device", "cpu", "--min-size", "0",
            str(tmp_path)]
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.glob("*.tif")) == ["a.tif", "a_labels.tif", "b.tif", "b_labels.tif"]
    (tmp_path / "b_labels.tif").unlink()  # an interrupted batch
    assert main(args) == 0 and (tmp_path / "b_labels.tif").exists()
    assert main([*args, "--overwrite"]) == 0


def test_train_from_folders_then_predict_with_the_result(tmp_path):
    for name in ("images", "labels"):
        (tmp_path / name).mkdir()
    import tifffile

    for seed in range(3):
        image, labels = blobs_pair(seed)
        tifffile.imwrite(tmp_path / "images" / f"s{seed}.tif", image)
        write_labels(tmp_path / "labels" / f"s{seed}.tif", labels)
    args = ["train", "--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels"), "--val-last", "1",
            "--output", str(tmp_path / "run"), "--steps", "4", "--patch-size", "32", "--batch-size", "2",
            "--depth", "2", "--width", "4", "--colors", "4", "--margin", "2", "--validate-every", "2",
            "--upper-percentile", "98", "--intensity-max", "3", "--keep-history", "--device", "cpu"]
    assert main(args) == 0
    assert (tmp_path / "run" / "best.safetensors").is_file()
    from napari_deepcolor.checkpoint import read_header

    config, _ = read_header(tmp_path / "run" / "last.safetensors")
    assert config.percentiles == (1.0, 98.0) and config.intensity_max == 3
    assert [p.name for p in (tmp_path / "run" / "history").iterdir()] == ["step-4.safetensors"]
    assert main(["predict", "--model", str(tmp_path / "run" / "last.safetensors"), "--output",
                 str(tmp_path / "out"), str(tmp_path / "images" / "s2.tif")]) == 0


def test_models_lists_bundled_models(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("worms\tcoloring, 9 colors, scale 0.5") for line in lines)
    by_name = {line.split("\t")[0]: line for line in lines}
    assert {"worms", "ecoli", "leaves"} <= set(by_name)
    for name in ("worms", "ecoli", "leaves"):
        assert by_name[name].startswith(f"{name}\tcoloring, ") and f"(card: docs/models/{name}.md)" in by_name[name]
        assert (Path(__file__).parents[1] / "docs" / "models" / f"{name}.md").is_file()
    assert by_name["ecoli-semiconv"].startswith("ecoli-semiconv\tsemiconv, 8 dims, σ ")
    assert "foreground 0.5" in by_name["ecoli-semiconv"] and "(card: docs/models/ecoli.md)" in by_name["ecoli-semiconv"]
    assert "input: a foreground mask" in by_name["worms-mask"] and "input:" not in by_name["worms"]
    assert (Path(__file__).parents[1] / "docs" / "models" / "worms-mask.md").is_file()


def test_bundled_ecoli_semiconv_finds_the_test_strips_cells():
    """Rows 167-333 of the E. coli sample were never trained on (docs/models/ecoli.md: AP50 0.884 there)."""
    import tifffile

    from napari_deepcolor._sample_data import SAMPLES_DIR
    from napari_deepcolor.metrics import evaluate
    from napari_deepcolor.predict.network import load_model, segment

    image = tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")[167:]
    truth = tifffile.imread(SAMPLES_DIR / "ecoli_colony_labels.tif").astype(np.int32)[167:]
    instances, _ = segment(load_model("ecoli-semiconv", device="cpu"), image)
    result = evaluate(truth, instances.labels)
    assert result["ap50"] > 0.8 and result["sbd"] > 0.85


@pytest.mark.parametrize(("model", "sample", "shape"), [("ecoli", "ecoli_colony.tif", (334, 321)),
                                                        ("ecoli-semiconv", "ecoli_colony.tif", (334, 321)),
                                                        ("leaves", "rosette.tif", (512, 512)),
                                                        ("leaves-semiconv", "rosette.tif", (512, 512)),
                                                        ("nuclei", "nuclei.tif", (512, 512))])
def test_predict_with_each_bundled_model_on_its_sample(tmp_path, model, sample, shape):
    from importlib import resources

    path = resources.files("napari_deepcolor") / "samples" / sample
    # the plain-rosette `leaves` reads the realistic sample's pot and tray as size 2.0-2.2 (its card says so): given 1
    size = ["--object-size", "1"] if model == "leaves" else []
    assert main(["predict", "--model", model, "--output", str(tmp_path), "--device", "cpu", *size, str(path)]) == 0
    labels = read_labels(tmp_path / f"{sample.removesuffix('.tif')}_labels.tif")
    assert labels.shape == shape and labels.max() >= 3


def test_worms_mask_splits_the_bundled_foreground_mask_and_refuses_the_bright_field_image(tmp_path, capsys):
    from importlib import resources

    samples = resources.files("napari_deepcolor") / "samples"
    assert main(["predict", "--model", "worms-mask", "--output", str(tmp_path), "--device", "cpu",
                 str(samples / "bbbc010_A01_foreground.tif")]) == 0
    labels = read_labels(tmp_path / "bbbc010_A01_foreground_labels.tif")
    mask = tifffile.imread(samples / "bbbc010_A01_foreground.tif") > 0
    assert labels.shape == (520, 696) and labels.max() >= 10
    assert np.count_nonzero((labels > 0) != mask) < 0.05 * mask.sum()  # the mask's pixels, split into worms
    code = main(["predict", "--model", "worms-mask", "--output", str(tmp_path / "bf"), "--device", "cpu",
                 str(samples / "bbbc010_A01.tif")])
    err = capsys.readouterr().err
    assert code != 0 and "it looks like a microscope image" in err and "Traceback" not in err


def test_predict_with_the_bundled_worms_model_on_the_bundled_sample(tmp_path):
    from importlib import resources

    sample = resources.files("napari_deepcolor") / "samples" / "bbbc010_A01.tif"
    assert main(["predict", "--model", "worms", "--output", str(tmp_path), "--device", "cpu", str(sample)]) == 0
    labels = read_labels(tmp_path / "bbbc010_A01_labels.tif")
    assert labels.shape == (520, 696) and labels.max() >= 3


def test_predict_without_a_model_takes_the_one_the_first_image_suggests_for_every_image(tmp_path, capsys):
    """One model for the batch, from the first image's looks (napari_deepcolor.zoo.suggest), printed with why; the
    other images another model suits are named before the run."""
    from napari_deepcolor._sample_data import SAMPLES_DIR
    from napari_deepcolor.io import predict_record
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field
    from napari_deepcolor.zoo import bundled_models

    (tmp_path / "batch").mkdir()
    tifffile.imwrite(tmp_path / "batch" / "a.tif", tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif"))
    tifffile.imwrite(tmp_path / "batch" / "b.tif", nuclei_field(3)[0])
    assert main(["predict", "--output", str(tmp_path / "out"), "--device", "cpu", "--object-size", "1",
                 str(tmp_path / "batch")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        ("model: ecoli-semiconv (gray image with a mid-grey background and dark objects with bright halos: looks like "
         "E. coli in phase contrast)"),
        ("note: ecoli-semiconv runs on every image, chosen from a.tif; of the others, these look like images for "
         "another model: b.tif: nuclei (gray image with a dark background and bright spots: looks like fluorescent "
         "nuclei). Segment them apart with --model, or give --model to choose one for all")]
    assert read_labels(tmp_path / "out" / "a_labels.tif").max() >= 3
    for name in ("a", "b"):  # the first image's model for every image
        assert predict_record(tmp_path / "out" / f"{name}_labels.tif")["model"] == "ecoli-semiconv"

    tifffile.imwrite(tmp_path / "nuclei.tif", nuclei_field(3)[0])
    assert main(["predict", "--output", str(tmp_path / "out"), "--device", "cpu", "--object-size", "1",
                 str(tmp_path / "nuclei.tif")]) == 0
    reason = "gray image with a dark background and bright spots: looks like fluorescent nuclei"
    line = (f"model: nuclei ({reason})" if "nuclei" in bundled_models() else  # until nuclei is bundled:
            f"model: worms ({reason}, but the nuclei model is not installed yet, so worms runs instead, which was "
            "not made for such images)")
    assert capsys.readouterr().out.splitlines() == [line]
    assert (tmp_path / "out" / "nuclei_labels.tif").is_file()


def test_a_large_batch_is_checked_on_a_few_images_spread_over_it(monkeypatch, capsys, tmp_path):
    from napari_deepcolor.cli import predict

    looked = []

    def suggestion(path, channel=None):
        looked.append(path.name)
        return ("leaves", "color image", True) if path.name in ("10.tif", "19.tif") else ("worms", "a well", True)

    monkeypatch.setattr(predict, "_suggestion", suggestion)
    assert predict._suggested_model([tmp_path / f"{i}.tif" for i in range(20)]) == "worms"
    assert len(looked) == 1 + predict.OTHERS_CHECKED and looked[:2] == ["0.tif", "1.tif"] and looked[-1] == "19.tif"
    out = capsys.readouterr().out
    assert "of 8 of the other 19, these look like images for another model: 19.tif: leaves (color image)" in out
    assert "10.tif" not in out  # not among those looked at


def test_a_stack_of_rgb_planes_gets_the_color_model_and_is_segmented_plane_by_plane(tmp_path, capsys):
    from napari_deepcolor._sample_data import SAMPLES_DIR

    rosette = tifffile.imread(SAMPLES_DIR / "rosette.tif")
    tifffile.imwrite(tmp_path / "plants.tif", np.stack([rosette, rosette[::-1]]), photometric="rgb")
    assert main(["predict", "--output", str(tmp_path / "out"), "--device", "cpu", "--object-size", "1",
                 str(tmp_path / "plants.tif")]) == 0
    assert capsys.readouterr().out.startswith("model: leaves-semiconv (color image")
    labels = read_labels(tmp_path / "out" / "plants_labels.tif")
    assert labels.shape == (2, 512, 512) and labels[0].max() > 1
    tifffile.imwrite(tmp_path / "flipped.tif", rosette[::-1], photometric="rgb")
    assert main(["predict", "--output", str(tmp_path / "out"), "--device", "cpu", "--object-size", "1",
                 "--model", "leaves-semiconv", str(tmp_path / "flipped.tif")]) == 0
    np.testing.assert_array_equal(labels[1], read_labels(tmp_path / "out" / "flipped_labels.tif"))


def test_a_batch_whose_first_image_tells_nothing_takes_the_model_of_the_next_that_does(monkeypatch, capsys,
                                                                                         tmp_path):
    from napari_deepcolor.cli import predict

    told = {"2.tif": ("nuclei", "bright spots", True), "5.tif": ("leaves-semiconv", "color image", True)}
    monkeypatch.setattr(predict, "_suggestion",
                        lambda path, channel=None: told.get(path.name, ("worms", "a flat image", False)))
    images = [tmp_path / f"{i}.tif" for i in range(12)]
    assert predict._suggested_model(images) == "nuclei"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "model: nuclei (in 2.tif: bright spots; 0.tif shows nothing to tell its kind by)"
    assert "another model: 5.tif: leaves-semiconv (color image)" in out[1] and "0.tif" not in out[1]  # (untold)

    told.clear()  # none tells anything: the first image's default, as before
    assert predict._suggested_model(images) == "worms"
    assert capsys.readouterr().out.splitlines() == ["model: worms (a flat image)"]


@pytest.mark.parametrize("flag", ["--min-size", "--merge-distance"])
def test_negative_thresholds_are_refused(tmp_path, tiny_model, image_file, flag, capsys):
    code = main(["predict", "--model", str(tiny_model), "--output", str(tmp_path / "o"), flag, "-1",
                 str(image_file)])
    assert code == 2
    assert f"{flag} must be >= 0" in capsys.readouterr().err


def test_unwritable_output_is_refused(tmp_path, tiny_model, image_file, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["predict", "--model", str(tiny_model), "--output", str(blocker / "out"), str(image_file)]) == 2
    assert "choose a writable location" in capsys.readouterr().err


def test_pickled_model_is_refused(tmp_path, image_file, capsys):
    import pickle

    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    assert main(["predict", "--model", str(evil), "--output", str(tmp_path / "o"), str(image_file)]) == 2
    assert "pickle" in capsys.readouterr().err


def test_bad_image_is_a_clear_error(tmp_path, tiny_model, capsys):
    import tifffile

    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.zeros((2, 2, 5, 16, 16), np.uint8))  # (a stack of 2 x 5 planes is segmented)
    assert main(["predict", "--model", str(tiny_model), "--output", str(tmp_path / "o"), str(stack)]) == 2
    assert "got shape (2, 2, 5, 16, 16); split the extra axes into separate images" in capsys.readouterr().err


def test_train_with_empty_labels_is_refused(tmp_path, capsys):
    for name in ("images", "labels"):
        (tmp_path / name).mkdir()
    import tifffile

    tifffile.imwrite(tmp_path / "images" / "a.tif", np.ones((32, 32), np.float32))
    write_labels(tmp_path / "labels" / "a.tif", np.zeros((32, 32), np.int32))
    code = main(["train", "--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels"), "--output",
                 str(tmp_path / "run"), "--steps", "1", "--patch-size", "16"])
    assert code == 2 and "no objects" in capsys.readouterr().err


def _recipe_folder(tmp_path, text):
    import tifffile

    for name in ("images", "labels"):
        (tmp_path / "data" / name).mkdir(parents=True)
    for seed in range(2):
        image, labels = blobs_pair(seed)
        tifffile.imwrite(tmp_path / "data" / "images" / f"s{seed}.tif", image)
        write_labels(tmp_path / "data" / "labels" / f"s{seed}.tif", labels)
    (tmp_path / "cfg").mkdir()
    recipe = tmp_path / "cfg" / "r.toml"
    recipe.write_text(text)
    return recipe


RECIPE = """
[data]
images = "../data/images"
labels = "../data/labels"
val-last = 1
output = "../run"
[model]
depth = 2
width = 4
colors = 4
min-size = 3
[training]
margin = 2
steps = 2
patch-size = 32
batch-size = 2
validate-every = 2
seed = 3
device = "cpu"
"""


def test_train_from_a_recipe_with_command_line_overrides(tmp_path, monkeypatch):
    from napari_deepcolor.checkpoint import read_header

    recipe = _recipe_folder(tmp_path, RECIPE)
    monkeypatch.chdir(tmp_path / "data")  # paths in the recipe are relative to its own folder, not the cwd
    assert main(["train", "--config", str(recipe), "--steps", "3", "--colors", "3"]) == 0
    config, metadata = read_header(tmp_path / "run" / "last.safetensors")
    assert metadata["step"] == 3 and config.n_colors == 3  # overridden on the command line
    assert config.depth == 2 and config.min_size == 3 and metadata["train_config"]["seed"] == 3  # from the recipe


def test_a_recipe_can_start_from_the_output_of_another(tmp_path, monkeypatch):
    # a staged recipe: the second stage's init is the first stage's checkpoint, relative to the recipe's folder
    from napari_deepcolor.checkpoint import read_header

    recipe = _recipe_folder(tmp_path, RECIPE)
    assert main(["train", "--config", str(recipe)]) == 0
    stage2 = tmp_path / "cfg" / "stage2.toml"
    stage2.write_text(RECIPE.replace('output = "../run"', 'output = "../run2"\ninit = "../run/last.safetensors"'))
    monkeypatch.chdir(tmp_path / "data")
    assert main(["train", "--config", str(stage2)]) == 0
    _, metadata = read_header(tmp_path / "run2" / "last.safetensors")
    assert metadata["init"] == str(tmp_path / "cfg" / ".." / "run" / "last.safetensors")


@pytest.mark.parametrize(("text", "message"), [
    ("colours = 4\n", "unknown key 'colours'"),
    ('[training]\ndevice = "gpu"\n', "'device' must be one of"),
    ("[data]\nsteps = 2\n", "--output is required"),
])
def test_bad_recipe_is_a_clear_error(tmp_path, capsys, text, message):
    recipe = tmp_path / "r.toml"
    recipe.write_text(text)
    assert main(["train", "--config", str(recipe)]) == 2
    assert message in capsys.readouterr().err


def test_train_on_generated_rosettes_only(tmp_path):
    from napari_deepcolor.checkpoint import read_header

    assert main(["train", "--synthetic", "rosette", "--synthetic-count", "2", "--synthetic-val", "1", "--output",
                 str(tmp_path / "run"), "--steps", "2", "--patch-size", "32", "--batch-size", "2", "--depth", "2",
                 "--width", "4", "--scale", "0.25", "--validate-every", "2", "--device", "cpu"]) == 0
    config, metadata = read_header(tmp_path / "run" / "best.safetensors")
    assert config.in_channels == 3 and "ap50" in metadata["validation"]


def test_train_without_data_is_refused(tmp_path, capsys):
    assert main(["train", "--output", str(tmp_path / "run")]) == 2
    assert "--images and --labels, or --synthetic" in capsys.readouterr().err


def _pairs(tmp_path, seeds=(0, 1)):
    for name in ("images", "labels"):
        (tmp_path / name).mkdir(exist_ok=True)
    for seed in seeds:
        image, labels = blobs_pair(seed)
        tifffile.imwrite(tmp_path / "images" / f"s{seed}.tif", image)
        write_labels(tmp_path / "labels" / f"s{seed}.tif", labels)
    return ["--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels")]


TINY = ["--depth", "2", "--width", "4", "--colors", "3", "--patch-size", "32", "--batch-size", "2", "--margin", "2",
        "--device", "cpu"]


def test_fine_tuning_keeps_the_starting_models_settings_unless_given(tmp_path, caplog, familiar_start):
    from napari_deepcolor.checkpoint import read_header
    from napari_deepcolor.config import ModelConfig

    data = _pairs(tmp_path)
    start = tmp_path / "start"
    assert main(["train", *data, *TINY, "--steps", "1", "--output", str(start), "--scale", "0.5",
                 "--upper-percentile", "98", "--intensity-max", "3", "--min-size", "7", "--absorb-fragments",
                 "--background-weight", "0.6", "--contact-fraction", "0.25", "--lr", "2e-4"]) == 0
    assert main(["train", *data, "--steps", "1", "--patch-size", "32", "--batch-size", "2", "--margin", "2",
                 "--device", "cpu", "--init", str(start / "last.safetensors"), "--output", str(tmp_path / "ft"),
                 "--min-size", "0", "--contact-fraction", "0.1"]) == 0
    config, metadata = read_header(tmp_path / "ft" / "last.safetensors")
    trained = metadata["train_config"]  # the starting model's loss and rate, unless given; batch norm frozen
    assert (trained["background_weight"], trained["contact_fraction"], trained["learning_rate"],
            trained["freeze_norm"], trained["freeze_encoder"]) == (0.6, 0.1, 2e-4, True, True)
    assert (config.scale, config.percentiles, config.intensity_max, config.absorb_fragments) == (0.5, (1.0, 98.0),
                                                                                              3.0, True)
    assert config.min_size == 0 and config.depth == 2 and config.n_colors == 3  # given: changed; network: kept
    assert ModelConfig().scale == 1.0  # (the default that a bare --init used to train at)
    assert "keeping its scale 0.5" in caplog.text


def test_fine_tuning_replays_what_the_starting_model_learned_from_when_known(tmp_path, caplog, familiar_start):
    from napari_deepcolor.checkpoint import load_checkpoint, read_header, save_checkpoint

    data = _pairs(tmp_path)
    assert main(["train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "start")]) == 0
    start = tmp_path / "start" / "last.safetensors"
    assert main(["train", *data, *TINY, "--steps", "1", "--init", str(start), "--output", str(tmp_path / "a")]) == 0
    assert "no replay: where" in caplog.text  # a model trained from scratch on these images: nothing to replay
    checkpoint = load_checkpoint(start)
    checkpoint.metadata["replay_source"] = "ecoli"
    save_checkpoint(start, checkpoint)
    assert main(["train", *data, *TINY, "--steps", "1", "--init", str(start), "--output", str(tmp_path / "b"),
                 "--replay", "0.25"]) == 0
    assert "replay: 25% of the patches from 4 ecoli images" in caplog.text
    assert "of yours and 4 replayed): too few to learn object sizes from" in caplog.text  # the user's counted apart
    assert read_header(tmp_path / "b" / "last.safetensors")[1]["replay_source"] == "ecoli"


def test_fine_tuning_a_start_that_finds_nothing_trains_the_whole_network(tmp_path, caplog):
    from napari_deepcolor.checkpoint import read_header
    from napari_deepcolor.training.finetune import NEW_KIND

    data = _pairs(tmp_path)
    assert main(["train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "start")]) == 0
    assert main(["train", *data, *TINY, "--steps", "1", "--init", str(tmp_path / "start" / "last.safetensors"),
                 "--output", str(tmp_path / "ft")]) == 0  # one step on blobs: it finds none of them yet
    assert NEW_KIND in caplog.text and "replay:" not in caplog.text
    assert "the bundled nuclei model was made for" in caplog.text  # bright blobs on a dark background
    header = read_header(tmp_path / "ft" / "last.safetensors")[1]
    assert header["train_config"]["freeze_encoder"] is False


def test_a_mask_input_model_trains_on_masks_keeps_the_setting_and_segments_label_images(tmp_path):
    from napari_deepcolor.checkpoint import read_header
    from napari_deepcolor.predict.network import load_model, segment

    data = _pairs(tmp_path)
    for seed in (0, 1):  # the inputs are the objects' masks (a label image), not the blobs' image
        tifffile.imwrite(tmp_path / "images" / f"s{seed}.tif", blobs_pair(seed)[1])
    assert main(["train", *data, *TINY, "--steps", "2", "--output", str(tmp_path / "run"), "--mask-input"]) == 0
    assert main(["train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "ft"),
                 "--init", str(tmp_path / "run" / "last.safetensors")]) == 0
    config, _ = read_header(tmp_path / "ft" / "last.safetensors")
    assert config.mask_input
    model = load_model(tmp_path / "ft" / "last.safetensors", device="cpu")
    labels = blobs_pair(0)[1]
    first = segment(model, labels)[0].labels
    assert first.shape == labels.shape
    assert np.array_equal(segment(model, (labels > 0) * 255)[0].labels, first)  # only foreground vs background counts


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checkpoint-every", "0"], "checkpoint_every must be >= 1"),
        (["--validate-every", "0"], "validate_every and checkpoint_every must be >= 1"),
        (["--val-images", "IMAGES"], "--val-images and --val-labels go together"),
        (["--lr", "1e30", "--steps", "30"], "lower the learning rate"),
    ],
)
def test_bad_training_options_are_clear_errors(tmp_path, capsys, extra, message):
    data = _pairs(tmp_path)
    extra = [data[1] if value == "IMAGES" else value for value in extra]
    code = main(["train", *data, *TINY, "--steps", "2", "--output", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_training_data_errors_name_the_file_and_come_before_training(tmp_path, capsys):
    data = _pairs(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["train", "--images", str(tmp_path / "empty"), "--labels", str(tmp_path / "labels"), "--output",
                 str(tmp_path / "r0")]) == 2
    assert "no images in" in capsys.readouterr().err
    (tmp_path / "val" / "images").mkdir(parents=True)
    (tmp_path / "val" / "labels").mkdir()
    tifffile.imwrite(tmp_path / "val" / "images" / "v.tif", blobs_pair(5)[0])
    write_labels(tmp_path / "val" / "labels" / "v.tif", np.zeros((40, 40), np.int32))
    code = main(["train", *data, *TINY, "--steps", "50", "--validate-every", "40", "--output", str(tmp_path / "r1"),
                 "--val-images", str(tmp_path / "val" / "images"), "--val-labels", str(tmp_path / "val" / "labels")])
    err = capsys.readouterr().err
    assert code == 2 and "v.tif is 48 x 48 pixels but" in err and "v.tif 40 x 40: an annotation must be the size" in err
    assert not (tmp_path / "r1" / "last.safetensors").exists()  # refused before the first step


def test_training_into_an_existing_run_needs_resume(tmp_path, capsys):
    data = _pairs(tmp_path)
    args = ["train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "run")]
    assert main(args) == 0
    before = (tmp_path / "run" / "last.safetensors").read_bytes()
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "run" / "last.safetensors").read_bytes() == before
    assert main([*args, "--resume", "--steps", "2"]) == 0


def test_a_recipe_path_that_is_a_folder(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path)]) == 2
    assert "is a folder; --config takes a recipe file" in capsys.readouterr().err


def test_help_shows_the_defaults(capsys):
    """Each option's --help text says its default; one whose default is None says what that means instead."""
    helps = {}
    for command in ("train", "predict"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        helps[command] = " ".join(capsys.readouterr().out.split())  # the same whatever the terminal's width
    assert "the rate the starting model last trained at (default: 0.001)" in helps["train"]
    assert "(default: 2000)" in helps["train"] and "(default: coloring)" in helps["train"]
    assert "(default: 1024 network pixels, i.e. 2048 at the model's scale 0.5)" in helps["predict"]
    assert "(default: 32.0; 0 = every TIFF)" in helps["predict"] and "(default: float32)" in helps["predict"]
    assert all("default: None" not in text for text in helps.values())


@pytest.mark.parametrize("argv, message", [
    (["predict", "--object-size", "50", "--output", "o", "cells.tif"], "a number from 0.1 to 10"),
    (["train", "--lr", "abc"], "argument --lr: invalid float value"),
    (["predict", "--output", "o"], "required: images"),
])
def test_option_errors_are_one_line_before_anything_runs(capsys, argv, message):
    """A bad option is refused before any image is read or model picked, in one line (no usage block above it)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and f"deepcolor {argv[0]} --help" in lines[0]
    assert captured.out == ""


def test_dask_followed_by_a_folder_takes_it_as_the_images(tmp_path):
    from napari_deepcolor.cli import _dask_without_address

    assert _dask_without_address(["predict", "--dask", str(tmp_path), "--output", "o"]) == [
        "predict", "--dask=local", str(tmp_path), "--output", "o"]
    assert _dask_without_address(["predict", "--dask", "tcp://10.0.0.1:8786", "x.tif"])[1] == "--dask"


def test_predict_input_mistakes_are_caught_before_the_network_runs(tmp_path, tiny_model, image_file, capsys):
    channels_first = tmp_path / "cf.tif"
    tifffile.imwrite(channels_first, np.zeros((3, 32, 32), np.uint8))
    a_file = tmp_path / "out.txt"
    a_file.write_text("")
    base = ["predict", "--model", str(tiny_model), "--device", "cpu"]
    cases = [
        (["predict", "--model", "leaves-semiconv", "--output", str(tmp_path / "o"), str(channels_first)],
         "channels first?"),  # for a color model; a gray one segments it as a stack of 3 planes
        ([*base, "--output", str(a_file), str(image_file)], "is a file, not a folder"),
        ([*base, "--output", str(tmp_path / "o"), "--foreground-threshold", "0", str(image_file)],
         "--foreground-threshold must be in (0, 1]"),
        ([*base, "--output", str(tmp_path / "o"), "--threshold", "1", str(image_file)], "--threshold must be in (0, 1)"),
        ([*base, "--output", str(tmp_path / "o"), "--min-size", "nan", str(image_file)], "--min-size must be a number"),
        (["evaluate", str(tmp_path / "nowhere"), str(tmp_path)], "no such folder"),
    ]
    for args, message in cases:
        assert main(args) == 2, message
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_train_names_an_annotation_of_another_size_and_an_image_file_given_as_a_folder(tmp_path, tiny_model, capsys):
    """Both were a traceback-like "unexpected IndexError" (the fine-tuning's size scan met the pair first) or a
    misleading "no such folder"."""
    data = _pairs(tmp_path)
    _, labels = blobs_pair(1)
    write_labels(tmp_path / "labels" / "s1.tif", labels[:-5])
    image = str(tmp_path / "images" / "s0.tif")
    cases = [
        (["train", *data, "--init", str(tiny_model), "--steps", "1", "--output", str(tmp_path / "a")],
         "s1.tif is 48 x 48 pixels but"),
        (["train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "b")], "an annotation must be the size"),
        (["train", "--images", image, "--labels", data[3], "--init", str(tiny_model), "--output", str(tmp_path / "c")],
         "is a file: give the folder that holds the images"),
    ]
    for args, message in cases:
        assert main(args) == 2, message
        err = capsys.readouterr().err
        assert message in err and "unexpected" not in err and "Traceback" not in err, err


def test_train_on_one_channel_of_two_channel_images(tmp_path, capsys):
    data = _pairs(tmp_path)
    for seed in (0, 1):  # the images as (2, Y, X): noise, then the cells
        cells = tifffile.imread(tmp_path / "images" / f"s{seed}.tif")
        noise = np.random.default_rng(seed).random(cells.shape).astype(cells.dtype)
        tifffile.imwrite(tmp_path / "images" / f"s{seed}.tif", np.stack([noise, cells]))
    assert main(["train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "plain")]) == 2
    assert "give --channel C" in capsys.readouterr().err
    assert main(["train", *data, *TINY, "--steps", "1", "--channel", "1", "--val-last", "1",
                 "--output", str(tmp_path / "one")]) == 0
    assert (tmp_path / "one" / "last.safetensors").is_file()
    assert main(["train", *data, *TINY, "--steps", "1", "--channel", "2", "--output", str(tmp_path / "bad")]) == 2
    assert "--channel 2 is out of range: the image has 2 channels" in capsys.readouterr().err


def test_train_on_a_stack_and_its_label_stack_takes_the_annotated_planes(tmp_path, tiny_model, caplog):
    """As the Train dock: (T, Y, X) images with (T, Y, X) labels train on their planes with an object."""
    from napari_deepcolor.cli.pairs import read_planes

    for name in ("images", "labels"):
        (tmp_path / name).mkdir()
    pairs = [blobs_pair(seed) for seed in (0, 1, 2)]
    tifffile.imwrite(tmp_path / "images" / "t.tif", np.stack([image for image, _ in pairs]))
    labels = np.stack([labels for _, labels in pairs])
    labels[1] = 0  # a plane nobody annotated
    write_labels(tmp_path / "labels" / "t.tif", labels)
    planes, stack = read_planes(tmp_path / "images" / "t.tif", [tmp_path / "labels" / "t.tif"])
    assert stack and len(planes) == 2 and planes[0][0].shape == (48, 48)
    np.testing.assert_array_equal(planes[1][1], labels[2])
    data = ["--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels")]
    assert main(["train", *data, *TINY, "--steps", "1", "--val-images", str(tmp_path / "images"), "--val-labels",
                 str(tmp_path / "labels"), "--output", str(tmp_path / "scratch")]) == 0
    with caplog.at_level(logging.INFO, logger="napari_deepcolor"):  # fine-tuning: a quarter held out, of 2 planes
        assert main(["train", *data, "--init", str(tiny_model), "--steps", "1", "--patch-size", "32",
                     "--batch-size", "2", "--device", "cpu", "--output", str(tmp_path / "tuned")]) == 0
    assert (tmp_path / "tuned" / "last.safetensors").is_file()


def test_resume_needs_only_the_run_itself_and_keeps_its_settings(tmp_path):
    """--resume starts from OUTPUT/last.safetensors: the --init file may be gone, and options not given keep the
    run's own values (its scale), not the command line's defaults."""
    import shutil

    from napari_deepcolor.checkpoint import read_header

    data = _pairs(tmp_path)
    assert main(["train", *data, *TINY, "--steps", "1", "--scale", "0.5", "--output", str(tmp_path / "a")]) == 0
    ft = ["train", *data, "--patch-size", "32", "--batch-size", "2", "--margin", "2", "--device", "cpu",
          "--init", str(tmp_path / "a" / "last.safetensors"), "--output", str(tmp_path / "b")]
    assert main([*ft, "--steps", "1"]) == 0
    # a start that finds nothing yet: a new kind, fine-tuned at the images' own pixels (scale 1, not the start's 0.5)
    scale = read_header(tmp_path / "b" / "last.safetensors")[0].scale
    shutil.rmtree(tmp_path / "a")
    assert main([*ft, "--steps", "2", "--resume"]) == 0
    config, metadata = read_header(tmp_path / "b" / "last.safetensors")
    assert metadata["step"] == 2 and config.scale == scale == 1.0  # the run's own, not --scale's default


def test_dask_local_is_still_an_address():
    from napari_deepcolor.cli import _dask_without_address

    assert _dask_without_address(["predict", "--dask", "local", "x.tif"])[1:3] == ["--dask", "local"]


def test_fine_tuning_nuclei_with_a_higher_upper_percentile_drops_its_sparse_one(tmp_path):
    """nuclei raises its high limit to the 99.99th percentile on fields of few nuclei (ModelConfig.sparse_percentile);
    an upper percentile given at or above that leaves nothing to raise, so the setting goes instead of an error."""
    import argparse

    from napari_deepcolor.cli.train import _model_config

    def config(upper):
        args = argparse.Namespace(output=tmp_path, resume=False, init="nuclei", upper_percentile=upper,
                                  given_options={"upper_percentile"}, images=None, synthetic="nuclei")
        return _model_config(args)

    assert config(99.9).sparse_percentile == 99.99 and config(99.9).percentiles == (1.0, 99.9)
    assert config(99.995).sparse_percentile is None


def test_train_takes_a_sparse_percentile_and_refuses_one_below_the_upper_percentile(tmp_path, capsys):
    import argparse

    from napari_deepcolor.cli.train import _model_config

    args = argparse.Namespace(output=tmp_path, resume=False, init=None, upper_percentile=99.8, images=None,
                              synthetic="nuclei", given_options={"sparse_percentile"}, sparse_percentile=99.99,
                              method="semiconv", colors=9, depth=4, width=16, scale=1.0, intensity_max=None,
                              mask_input=False, min_size=0.0, merge_distance=0.0, absorb_fragments=False,
                              embedding_dims=8, coordinate_scale=32.0, threshold=0.5, foreground_threshold=0.5)
    assert _model_config(args).sparse_percentile == 99.99
    code = main(["train", "--synthetic", "nuclei", "--sparse-percentile", "99", "--output", str(tmp_path / "run"),
                 "--steps", "1"])
    assert code != 0 and "sparse_percentile" in capsys.readouterr().err
