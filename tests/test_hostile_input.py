"""Hostile and broken input: never exhaust the machine, never stop a batch, never a traceback.

One test (or a few) per case of docs/reliability.md. Cases that could take the machine's memory run in a subprocess
under ``RLIMIT_AS`` (`run_limited`), so a regression fails the test instead of getting CI OOM-killed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tifffile
from conftest import blobs_pair

from napari_deepcolor.config import ConfigError, ModelConfig, TrainConfig
from napari_deepcolor.io import read_labels, write_labels

#: Address space of a `run_limited` subprocess: torch and a small model fit in well under 1 GiB.
MEMORY_LIMIT = 3 << 30


def run_limited(code: str, *, limit: int = MEMORY_LIMIT, file_size: int | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a subprocess whose address space is limited to ``limit`` bytes (and its files to
    ``file_size`` bytes, SIGXFSZ ignored so a write past it fails with EFBIG like a full disk)."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
    if file_size is not None:
        prelude += ("import signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                    f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size}, {file_size}))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def cli(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    """``deepcolor ARGV`` in a `run_limited` subprocess."""
    return run_limited(f"import sys\nfrom napari_deepcolor.cli import main\nsys.exit(main({list(argv)!r}))\n",
                       **kwargs)


def one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    """A non-zero exit with ``message`` on stderr and no traceback."""
    assert result.returncode != 0, result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def write_header_only_checkpoint(path, config: dict, tensors: dict | None = None) -> None:
    """A small safetensors file whose metadata holds ``config`` (bypassing `ModelConfig`'s validation, as a
    damaged or hostile file would)."""
    from safetensors.numpy import save_file

    from napari_deepcolor.checkpoint import FORMAT, FORMAT_VERSION

    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(config), "metadata": "{}"}
    save_file(tensors or {"head.weight": np.zeros((4, 4), np.float32)}, str(path), metadata=header)


def image_folder(tmp_path, name="images", seeds=(0, 1)):
    folder = tmp_path / name
    folder.mkdir()
    for seed in seeds:
        tifffile.imwrite(folder / f"w{seed}.tif", (blobs_pair(seed)[0] * 1000).astype(np.uint16))
    return folder


def training_data(tmp_path, labels=None):
    for name in ("images", "labels"):
        (tmp_path / name).mkdir(exist_ok=True)
    for seed in (0, 1):
        image, truth = blobs_pair(seed)
        tifffile.imwrite(tmp_path / "images" / f"s{seed}.tif", image)
        tifffile.imwrite(tmp_path / "labels" / f"s{seed}.tif", truth if labels is None else labels)
    return ["--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels")]


TINY = ["--depth", "2", "--width", "4", "--colors", "3", "--patch-size", "32", "--batch-size", "2", "--margin", "2",
        "--device", "cpu"]


# -- 1. a checkpoint or a training run describing a huge network -----------------------------------------------------


@pytest.mark.parametrize("change", [{"depth": 40}, {"width": 4096}, {"depth": 8, "width": 64}])
def test_a_checkpoint_describing_a_huge_network_is_refused_before_it_is_built(tmp_path, change):
    path = tmp_path / "huge.safetensors"
    write_header_only_checkpoint(path, {**ModelConfig().to_dict(), **change})
    image = image_folder(tmp_path, seeds=(0,)) / "w0.tif"
    result = cli("predict", "--model", str(path), "--output", str(tmp_path / "out"), "--device", "cpu",
                 "--object-size", "1", str(image))
    one_line_error(result, "invalid model config")
    assert "depth must be between 1 and 8" in result.stderr or "the most this plugin builds" in result.stderr
    loaded = run_limited(f"""
        from napari_deepcolor.checkpoint import CheckpointError
        from napari_deepcolor.predict.network import load_model
        try:
            load_model({str(path)!r})
        except CheckpointError as error:
            print("refused:", error)
        """)
    assert loaded.returncode == 0 and "refused:" in loaded.stdout, loaded.stderr


def test_weights_larger_than_the_config_describes_are_refused_before_they_are_read(tmp_path):
    from napari_deepcolor.checkpoint import CheckpointError, load_checkpoint

    path = tmp_path / "padded.safetensors"
    config = ModelConfig(n_colors=4, depth=2, width=4)
    write_header_only_checkpoint(path, config.to_dict(), {"extra": np.zeros((100, 100), np.float32)})
    with pytest.raises(CheckpointError, match="do not fit the unet network its config describes"):
        load_checkpoint(path)


@pytest.mark.parametrize(("option", "message"), [
    (["--depth", "12"], "depth must be between 1 and 8"),
    (["--width", "4096"], "width between 1 and 512"),
    (["--depth", "8", "--width", "64"], "choose a smaller depth or width"),
    (["--patch-size", "100000"], "patch_size must be between 16 and 2048"),
])
def test_training_a_huge_network_is_refused_before_anything_runs(tmp_path, option, message):
    data = training_data(tmp_path)
    result = cli("train", *data, "--colors", "3", "--batch-size", "2", "--margin", "2", "--device", "cpu", *option,
                 "--steps", "1", "--output", str(tmp_path / "run"))
    one_line_error(result, message)
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_network_size_is_exactly_what_create_model_builds():
    torch = pytest.importorskip("torch")
    from napari_deepcolor.config import network_size
    from napari_deepcolor.models import create_model

    for config in (ModelConfig(depth=1, width=4), ModelConfig(depth=3, width=8, batch_norm=False, in_channels=3),
                   ModelConfig(method="semiconv", depth=2, width=4, embedding_dims=5),
                   ModelConfig(n_colors=5, depth=2, width=4, members=3, test_time_flips=4)):
        with torch.device("meta"):
            expected = sum(t.numel() for t in create_model(config).state_dict().values())
        assert network_size(config)[0] == expected


# -- 2. one broken image in a batch -----------------------------------------------------------------------------------


def test_an_empty_image_fails_alone_and_every_rerun_goes_on_past_it(tmp_path, tiny_model):
    from napari_deepcolor.cli import main

    folder = image_folder(tmp_path)
    tifffile.imwrite(folder / "empty.tif", np.zeros((0, 64), np.uint16))
    out = tmp_path / "out"
    args = ["predict", "--model", str(tiny_model), "--output", str(out), "--device", "cpu", "--object-size", "1",
            str(folder)]
    result = cli(*args)
    one_line_error(result, "empty.tif holds no pixels")
    assert result.returncode == 2 and "1 of 3 images failed (empty.tif" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["w0_labels.tif", "w1_labels.tif"]
    assert main(args) == 2  # the rerun skips the finished images and reports the empty one again
    assert sorted(p.name for p in out.iterdir()) == ["w0_labels.tif", "w1_labels.tif"]


def test_an_unexpected_error_on_one_image_is_that_images_failure(tmp_path, tiny_model, monkeypatch, capsys):
    from napari_deepcolor.cli import main
    from napari_deepcolor.predict import batch

    real = batch.predict_job

    def flaky(job, settings, progress=None):
        if job.image.name == "w0.tif":
            raise IndexError("index -1 is out of bounds for axis 0 with size 0")
        return real(job, settings, progress)

    monkeypatch.setattr(batch, "predict_job", flaky)
    folder = image_folder(tmp_path)
    assert main(["predict", "--model", str(tiny_model), "--output", str(tmp_path / "out"), "--device", "cpu",
                 "--object-size", "1", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "w0.tif: unexpected IndexError" in err and "1 of 2 images failed (w0.tif" in err
    assert (tmp_path / "out" / "w1_labels.tif").is_file()


def test_planning_goes_on_past_an_image_whose_shape_cannot_be_read(tmp_path, monkeypatch):
    from napari_deepcolor.predict import batch, regions

    def broken(path):
        raise IndexError("tuple index out of range")

    monkeypatch.setattr(regions, "image_shape", broken)
    folder = image_folder(tmp_path)
    jobs = batch.plan_jobs(batch.find_images([folder]), tmp_path / "out", batch.Settings("m"))
    assert [job.image.name for job in jobs] == ["w0.tif", "w1.tif"]


def test_an_unexpected_error_in_a_command_is_one_line(monkeypatch, capsys):
    from napari_deepcolor.cli import evaluate, main

    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr(evaluate, "run", broken)
    monkeypatch.delenv("DEEPCOLOR_TRACEBACK", raising=False)
    assert main(["evaluate", "a", "b"]) == 1
    err = capsys.readouterr().err
    assert "unexpected KeyError" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- 3. memory that grows with instances squared; labels that are an intensity image ---------------------------------


def test_evaluating_60000_instances_needs_memory_in_pixels_not_instances_squared(tmp_path):
    # 2 x 2 blocks on 500 x 500 pixels: 62,500 instances; a dense overlap matrix would be 31 GB
    gt = (np.arange(250)[:, None] * 250 + np.arange(250)[None, :] + 1).repeat(2, 0).repeat(2, 1)
    pred = gt.copy()
    pred[:, :250] = np.roll(pred[:, :250], 1, axis=1)  # the left half shifted: IoU 1/3, unmatched
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    write_labels(tmp_path / "pred" / "a_labels.tif", pred)
    write_labels(tmp_path / "gt" / "a.tif", gt)
    result = cli("evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), limit=2 << 30)
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[0]
    assert "n_gt 62500" in line and "n_pred 62500" in line and "tp50 31250" in line


def test_matching_by_groups_equals_one_assignment_over_everything():
    from scipy.optimize import linear_sum_assignment

    from napari_deepcolor.metrics import match_instances

    rng = np.random.default_rng(0)
    for _ in range(30):
        iou = rng.random((12, 9)) * (rng.random((12, 9)) < 0.25)
        for threshold in (0.3, 0.5):
            ok = iou >= threshold
            score = np.where(ok, 1 + iou / (2 * 9), 0)
            r, c = linear_sum_assignment(score, maximize=True)
            keep = ok[r, c]
            m = match_instances(iou, threshold=threshold)
            assert m.tp == keep.sum()
            assert iou[m.pairs[:, 0], m.pairs[:, 1]].sum() == pytest.approx(iou[r[keep], c[keep]].sum())


def test_labels_that_look_like_an_intensity_image_are_refused_before_training(tmp_path):
    from napari_deepcolor.training.dataset import model_sample

    rng = np.random.default_rng(0)
    image = blobs_pair(0)[0]
    noise = rng.integers(0, 4000, image.shape).astype(np.uint16)
    with pytest.raises(ValueError, match="look like an intensity image"):
        model_sample(image, noise, ModelConfig(n_colors=3, depth=2, width=4))
    model_sample(image, blobs_pair(0)[1], ModelConfig(n_colors=3, depth=2, width=4))  # real labels pass
    big = rng.integers(0, 60_000, image.shape).astype(np.uint16)
    result = cli("train", *training_data(tmp_path, labels=big), *TINY, "--steps", "1", "--output",
                 str(tmp_path / "run"), limit=2 << 30)
    one_line_error(result, "look like an intensity image")
    assert "s0.tif" in result.stderr and not (tmp_path / "run" / "last.safetensors").exists()


# -- 4. label ids beyond int32 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "factor", "offset"), [(np.int64, 2**40, 0), (np.uint32, 1, 4_000_000_000),
                                                         (np.float64, 2**40, 0)])
def test_label_ids_beyond_int32_are_renumbered_not_wrapped(tmp_path, capsys, dtype, factor, offset):
    from napari_deepcolor.cli import main

    gt = blobs_pair(0)[1]
    huge = np.where(gt > 0, gt.astype(np.float64 if dtype == np.float64 else np.int64) * factor + offset, 0)
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    tifffile.imwrite(tmp_path / "pred" / "a_labels.tif", huge.astype(dtype))
    write_labels(tmp_path / "gt" / "a.tif", gt)
    labels = read_labels(tmp_path / "pred" / "a_labels.tif")
    assert labels.dtype == np.int32 and labels.min() == 0 and len(np.unique(labels)) == len(np.unique(gt))
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    out = capsys.readouterr().out
    n = len(np.unique(gt)) - 1
    assert f"n_gt {n}\t" in out and f"n_pred {n}\t" in out and "ap50 1.000" in out


def test_evaluate_goes_on_past_a_pair_it_cannot_compare(tmp_path, capsys):
    from napari_deepcolor.cli import main

    gt = blobs_pair(0)[1]
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for name in ("a", "b"):
        write_labels(tmp_path / "gt" / f"{name}.tif", gt)
    write_labels(tmp_path / "pred" / "a_labels.tif", gt)
    write_labels(tmp_path / "pred" / "b_labels.tif", gt[:20])  # another shape
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("a\t") and "mean\t" in captured.out
    assert "b (b_labels.tif against b.tif): gt and pred cover different pixels" in captured.err
    assert "1 of 2 pairs could not be evaluated (b;" in captured.err


# -- 5. training knobs that are not numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--min-size", "nan", "min_size must be a finite number"),
    ("--halo-weight", "nan", "halo_weight must be a finite number"),
    ("--lr", "inf", "learning_rate must be a finite number"),
    ("--merge-distance", "inf", "merge_distance must be a finite number"),
    ("--background-weight", "nan", "background_weight must be a finite number"),
    ("--scale", "1e-9", "scale must be between 0.01 and 4"),
    ("--minutes", "-1", "--minutes must be a positive time budget"),
    ("--minutes", "nan", "--minutes must be a positive time budget"),
    ("--patience", "0", "--patience must be at least 1"),
])
def test_training_knobs_that_are_not_finite_numbers_are_refused_before_anything_runs(tmp_path, capsys, option,
                                                                                     value, message):
    from napari_deepcolor.cli import main

    data = training_data(tmp_path)
    assert main(["train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "run"), option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "last.safetensors").exists()


@pytest.mark.parametrize("field", ["min_size", "merge_distance", "coordinate_scale", "scale", "intensity_max"])
def test_model_config_refuses_nan_and_infinity(field):
    for value in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=f"{field} must be a finite number"):
            ModelConfig(**{field: value})


@pytest.mark.parametrize("field", ["halo_weight", "learning_rate", "weight_decay", "orientation_prior",
                                   "embedding_weight", "seed_weight"])
def test_train_config_refuses_nan_and_infinity(field):
    for value in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=f"{field} must be a finite number"):
            TrainConfig(**{field: value})


# -- 6. a full disk while saving a checkpoint ------------------------------------------------------------------------


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_previous_one(tmp_path, tiny_model):
    from napari_deepcolor.checkpoint import load_checkpoint

    before = tiny_model.read_bytes()
    result = run_limited(f"""
        from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint
        checkpoint = load_checkpoint({str(tiny_model)!r})
        checkpoint.metadata["padding"] = "x" * 100_000
        try:
            save_checkpoint({str(tiny_model)!r}, checkpoint)
        except OSError as error:
            print("refused:", type(error).__name__, error)
        """, file_size=len(before) + 1000)
    assert "refused: WriteError no space left on device writing" in result.stdout, result.stderr
    assert f"the previous {tiny_model} is intact" in result.stdout
    assert tiny_model.read_bytes() == before and load_checkpoint(tiny_model).config.depth == 2
    assert sorted(p.name for p in tiny_model.parent.iterdir() if p.name.startswith(".")) == []


def test_a_full_disk_during_training_is_one_line(tmp_path):
    data = training_data(tmp_path)
    result = cli("train", *data, *TINY, "--steps", "1", "--output", str(tmp_path / "run"), file_size=20_000)
    one_line_error(result, "no space left on device writing")
    assert "last.safetensors" in result.stderr
    assert [p.name for p in (tmp_path / "run").iterdir()] == []


# -- 7. stale results and temporary files of killed runs -------------------------------------------------------------


def test_a_rerun_with_another_model_or_knobs_redoes_the_outputs_and_says_so(tmp_path, tiny_model, spotty_model,
                                                                          caplog):
    from napari_deepcolor.cli import main
    from napari_deepcolor.io import predict_record

    folder = image_folder(tmp_path)
    out = tmp_path / "out"

    def predict(model, *extra):
        return main(["predict", "--model", str(model), "--output", str(out), "--device", "cpu", "--object-size", "1",
                     *extra, str(folder)])

    assert predict(tiny_model) == 0
    record = predict_record(out / "w0_labels.tif")
    assert record["model"] == str(tiny_model) and record["knobs"]["min_size"] is None
    first = read_labels(out / "w0_labels.tif")
    with caplog.at_level(logging.INFO, logger="napari_deepcolor"):
        assert predict(tiny_model) == 0  # same settings: skipped
    assert "skipping 2 of 2 images" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="napari_deepcolor"):
        assert predict(spotty_model, "--min-size", "0") == 0
    assert "redoing 2 images whose labels" in caplog.text and "model " in caplog.text
    assert predict_record(out / "w0_labels.tif")["model"] == str(spotty_model)
    assert not np.array_equal(read_labels(out / "w0_labels.tif"), first)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="napari_deepcolor"):
        assert predict(spotty_model, "--min-size", "5") == 0
    assert "min_size 0.0 -> 5.0" in caplog.text
    assert predict_record(out / "w1_labels.tif")["knobs"]["min_size"] == 5.0


def test_a_killed_writer_leaves_a_temporary_file_that_the_next_write_removes(tmp_path):
    from napari_deepcolor.io import write_atomic

    target = tmp_path / "out" / "a_labels.tif"
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from napari_deepcolor.io import write_atomic
        def write(tmp):
            open(tmp, "wb").write(b"x" * 1000)
            print("writing", flush=True)
            time.sleep(600)
        write_atomic({str(target)!r}, write)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    left = [p for p in target.parent.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".a_labels.tif.p") and left[0].name.endswith(".tmp")
    write_atomic(target, lambda tmp: open(tmp, "wb").write(b"done"))
    assert [p.name for p in target.parent.iterdir()] == ["a_labels.tif"]


def test_predict_removes_only_our_stale_temporary_files(tmp_path, tiny_model):
    from napari_deepcolor.cli import main
    from napari_deepcolor.io import temporary_prefix

    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours_dead = out / (temporary_prefix(out / "x_labels.tif").replace(f".p{os.getpid()}h", f".p{dead.pid}h")
                       + "abcd1234.tmp")
    old_untagged = out / ".y_labels.tif.k3j4h5g6.tmp"
    fresh_untagged = out / ".z_labels.tif.q1w2e3r4.tmp"  # maybe being written by an older version right now
    alive = out / (temporary_prefix(out / "v_labels.tif") + "zzzz9999.tmp")  # this process: still writing
    users = out / ".notes.tmp"
    for path in (ours_dead, old_untagged, fresh_untagged, alive, users):
        path.write_bytes(b"x")
    hours_ago = time.time() - 2 * 3600
    os.utime(old_untagged, (hours_ago, hours_ago))
    os.utime(users, (hours_ago, hours_ago))
    folder = image_folder(tmp_path, seeds=(0,))
    assert main(["predict", "--model", str(tiny_model), "--output", str(out), "--device", "cpu", "--object-size",
                 "1", str(folder)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([fresh_untagged.name, alive.name, users.name,
                                                            "w0_labels.tif"])


# -- 8. scale, complex images, negative label ids --------------------------------------------------------------------


def test_a_checkpoint_with_a_tiny_scale_is_refused(tmp_path):
    from napari_deepcolor.checkpoint import CheckpointError, read_header

    path = tmp_path / "tiny-scale.safetensors"
    write_header_only_checkpoint(path, {**ModelConfig().to_dict(), "scale": 1e-9})
    with pytest.raises(CheckpointError, match="scale must be between 0.01 and 4"):
        read_header(path)


def test_a_complex_image_is_refused_not_silently_made_real(tmp_path, tiny_model, capsys):
    import warnings

    from napari_deepcolor.cli import main
    from napari_deepcolor.preprocess import to_channels_first

    image = blobs_pair(0)[0]
    with pytest.raises(ValueError, match="complex values"):
        to_channels_first(image + 1j * image, 1)
    folder = image_folder(tmp_path, seeds=(0,))
    tifffile.imwrite(folder / "fft.tif", (image + 1j * image).astype(np.complex64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        assert main(["predict", "--model", str(tiny_model), "--output", str(tmp_path / "out"), "--device", "cpu",
                     "--object-size", "1", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "fft.tif holds complex values (complex64)" in err and "numpy.abs" in err
    assert (tmp_path / "out" / "w0_labels.tif").is_file()


def test_negative_label_ids_are_reported_naming_the_file(tmp_path, caplog):
    labels = blobs_pair(0)[1].astype(np.int16)
    labels[:3] = -1
    path = tmp_path / "a_labels.tif"
    tifffile.imwrite(path, labels)
    with caplog.at_level(logging.WARNING, logger="napari_deepcolor"):
        read = read_labels(path)
    assert (read == labels).all()
    assert str(path) in caplog.text and "negative label ids" in caplog.text and "'ignore' in training" in caplog.text
