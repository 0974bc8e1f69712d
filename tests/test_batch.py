"""Batch prediction: folders and globs, resuming, out-of-core images, dask.distributed (local clusters)."""

import logging

import numpy as np
import pytest

pytest.importorskip("torch")
tifffile = pytest.importorskip("tifffile")

from conftest import blobs_pair  # noqa: E402

from napari_deepcolor.cli import main  # noqa: E402
from napari_deepcolor.io import read_labels  # noqa: E402
from napari_deepcolor.predict.batch import Job, Settings, find_images, plan_jobs  # noqa: E402


@pytest.fixture
def plates(tmp_path):
    """Two folders of small gray images (and a text file that is not an image)."""
    for plate, seeds in (("p1", (0, 1)), ("p2", (2, 3, 4))):
        (tmp_path / plate).mkdir()
        for seed in seeds:
            tifffile.imwrite(tmp_path / plate / f"w{seed}.tif", (blobs_pair(seed)[0] * 1000).astype(np.uint16))
    (tmp_path / "p1" / "notes.txt").write_text("not an image")
    return tmp_path


def predict(tiny_model, output, *inputs, extra=()):
    return main(["predict", "--model", str(tiny_model), "--output", str(output), "--device", "cpu", "--min-size", "0",
                 *extra, *map(str, inputs)])


def test_find_images_from_files_folders_and_patterns(plates):
    assert [p.name for p in find_images([plates / "p1"])] == ["w0.tif", "w1.tif"]
    assert [p.name for p in find_images([str(plates / "*" / "w[34].tif")])] == ["w3.tif", "w4.tif"]
    assert len(find_images([str(plates / "**" / "*.tif"), plates / "p1" / "w0.tif"])) == 5  # duplicates dropped
    for spec, message in ((plates / "missing", "no such image"), (plates / "p1" / "notes.txt", "is not an image"),
                          (str(plates / "*.png"), "matches no images")):
        with pytest.raises(FileNotFoundError, match=message):
            find_images([spec])
    (plates / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        find_images([plates / "empty"])


def test_a_folder_does_not_give_the_annotations_or_outputs_of_its_images(plates, tmp_path):
    """A user's labels next to their image, and an earlier run's outputs, are not images to segment."""
    folder = plates / "p1"
    for name in ("w0_labels.tif", "w0_probs.tif", "w1_masks.tif"):
        tifffile.imwrite(folder / name, np.zeros((8, 8), np.uint8))
    assert [p.name for p in find_images([folder])] == ["w0.tif", "w1.tif"]
    assert [p.name for p in find_images([str(folder / "*.tif")])] == ["w0.tif", "w1.tif"]
    assert [p.name for p in find_images([folder / "w0_labels.tif"])] == ["w0_labels.tif"]  # named: segmented
    assert "w0_labels.tif" in [p.name for p in find_images([folder, folder / "w0_labels.tif"])]
    # an output folder inside the input tree, found by a recursive pattern on the rerun
    (plates / "p2" / "seg").mkdir()
    tifffile.imwrite(plates / "p2" / "seg" / "w2_labels.tif", np.zeros((8, 8), np.uint8))
    assert "w2_labels.tif" not in [p.name for p in find_images([str(plates / "p2" / "**" / "*.tif")])]


def test_an_output_never_overwrites_an_input(plates):
    folder = plates / "p1"
    tifffile.imwrite(folder / "w0_labels.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="would overwrite the input"):
        plan_jobs([folder / "w0.tif", folder / "w0_labels.tif"], folder, Settings("m"))


def test_plan_names_outputs_and_refuses_collisions(plates, tmp_path):
    jobs = plan_jobs(find_images([plates / "p1"]), tmp_path / "out", Settings("m", save_probs=True))
    assert [(j.labels.name, [e.name for e in j.extras], j.out_of_core) for j in jobs] == [
        ("w0_labels.tif", ["w0_probs.tif"], False), ("w1_labels.tif", ["w1_probs.tif"], False)]
    (plates / "p3").mkdir()
    tifffile.imwrite(plates / "p3" / "w0.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="would both write w0_labels.tif"):
        plan_jobs(find_images([plates / "p1", plates / "p3"]), tmp_path / "out", Settings("m"))
    big = plan_jobs([plates / "p1" / "w0.tif"], tmp_path, Settings("m", out_of_core_pixels=0, output_format="zarr"))
    assert big[0].out_of_core and big[0].labels.name == "w0_labels.zarr"
    with pytest.raises(ValueError, match="needs a coloring model"):
        plan_jobs([plates / "p1" / "w0.tif"], tmp_path, Settings("m", out_of_core_pixels=0), method="semiconv")


def test_a_semiconv_model_segments_a_zarr_image_that_fits_in_memory(tiny_semiconv_model, plates, tmp_path):
    """Zarr inputs go out of core, which only coloring models can: one that fits under --out-of-core-above is read
    whole for a semiconv model (it was refused), one above is refused with what to do."""
    zarr = pytest.importorskip("zarr")
    image = tifffile.imread(plates / "p1" / "w0.tif")
    zarr.create_array(str(tmp_path / "w0.zarr"), shape=image.shape, chunks=(16, 16), dtype=image.dtype)[...] = image
    jobs = plan_jobs([tmp_path / "w0.zarr"], tmp_path / "out", Settings("m"), method="semiconv")
    assert not jobs[0].out_of_core and plan_jobs([tmp_path / "w0.zarr"], tmp_path / "out", Settings("m"))[0].out_of_core
    with pytest.raises(ValueError, match="more pixels than --out-of-core-above.*raise --out-of-core-above"):
        plan_jobs([tmp_path / "w0.zarr"], tmp_path / "out", Settings("m", out_of_core_pixels=0), method="semiconv")
    assert predict(tiny_semiconv_model, tmp_path / "zarr", tmp_path / "w0.zarr") == 0
    assert predict(tiny_semiconv_model, tmp_path / "tif", plates / "p1" / "w0.tif") == 0
    np.testing.assert_array_equal(read_labels(tmp_path / "zarr" / "w0_labels.tif"),
                                  read_labels(tmp_path / "tif" / "w0_labels.tif"))


def test_one_channel_of_a_multichannel_image_is_segmented_like_that_channel_alone(tiny_model, tmp_path, capsys):
    """--channel C: channels first or last, in memory and out of core (the other channel never read there)."""
    from napari_deepcolor.io import predict_record

    cells = (blobs_pair(0)[0] * 1000).astype(np.uint16)
    noise = np.random.default_rng(1).integers(0, 500, cells.shape).astype(np.uint16)
    tifffile.imwrite(tmp_path / "alone.tif", cells)
    tifffile.imwrite(tmp_path / "first.tif", np.stack([noise, cells]))
    tifffile.imwrite(tmp_path / "last.tif", np.stack([noise, cells], axis=-1))
    ooc = ["--out-of-core-above", "0", "--tile-size", "16", "--halo", "16"]
    for name, extra in (("mem", []), ("ooc", ooc)):
        assert predict(tiny_model, tmp_path / name, tmp_path / "alone.tif", extra=extra) == 0
        assert predict(tiny_model, tmp_path / name, tmp_path / "first.tif", tmp_path / "last.tif",
                       extra=[*extra, "--channel", "1"]) == 0
        expected = read_labels(tmp_path / name / "alone_labels.tif")
        for stem in ("first", "last"):
            np.testing.assert_array_equal(read_labels(tmp_path / name / f"{stem}_labels.tif"), expected)
    assert predict_record(tmp_path / "mem" / "first_labels.tif")["knobs"]["channel"] == 1
    assert "channel" not in predict_record(tmp_path / "mem" / "alone_labels.tif")["knobs"]  # as before --channel
    capsys.readouterr()
    assert predict(tiny_model, tmp_path / "err", tmp_path / "last.tif") == 2  # (Y, X, 2) without --channel
    assert "last.tif: the image has shape (48, 48, 2): its last axis looks like 2 channels; give --channel C" in \
        capsys.readouterr().err
    for image, channel, message in (("alone.tif", "1", "a gray image has no channels to pick"),
                                    ("first.tif", "2", "--channel 2 is out of range: the image has 2 channels"),
                                    ("first.tif", "-1", "--channel counts from 0")):
        assert predict(tiny_model, tmp_path / "err", tmp_path / image, extra=["--channel", channel]) == 2
        assert message in capsys.readouterr().err


def test_a_channel_of_an_array_is_found_first_or_last():
    from napari_deepcolor.predict.regions import select_channel

    stack = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    np.testing.assert_array_equal(select_channel(stack, 2), stack[2])
    np.testing.assert_array_equal(select_channel(np.moveaxis(stack, 0, -1), 1), stack[1])
    with pytest.raises(ValueError, match="cannot tell which axis"):
        select_channel(np.zeros((4, 30, 3)), 0)


def test_a_channel_of_a_file_is_read_without_the_others(tmp_path):
    from napari_deepcolor.predict.regions import ChannelView, RawTiff, open_image, select_channel

    stack = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    tifffile.imwrite(tmp_path / "first.tif", stack)
    tifffile.imwrite(tmp_path / "last.tif", np.moveaxis(stack, 0, -1), photometric="minisblack")
    plane = select_channel(open_image(tmp_path / "first.tif"), 2)
    assert isinstance(plane, RawTiff) and plane.shape == (20, 30)  # the plane's own rows of the file
    np.testing.assert_array_equal(plane[5:9, 3:7], stack[2, 5:9, 3:7])
    view = select_channel(open_image(tmp_path / "last.tif"), 1)
    assert isinstance(view, ChannelView) and view.shape == (20, 30) and view.ndim == 2
    np.testing.assert_array_equal(view[5:9, 3:7], stack[1, 5:9, 3:7])
    np.testing.assert_array_equal(view[4:6], stack[1, 4:6])


def test_a_stack_is_segmented_plane_by_plane_like_its_planes_alone(tiny_model, tmp_path, capsys, caplog):
    """(Z, Y, X) in memory, as the Segment widget goes: each plane's labels those of the plane alone; TIFF and
    zarr; --save-probs (2D images only) is refused for it."""
    zarr = pytest.importorskip("zarr")
    planes = [(blobs_pair(seed)[0] * 1000).astype(np.uint16) for seed in (0, 1, 2)]
    tifffile.imwrite(tmp_path / "stack.tif", np.stack(planes))
    for z, plane in enumerate(planes):
        tifffile.imwrite(tmp_path / f"plane{z}.tif", plane)
    with caplog.at_level(logging.INFO, logger="napari_deepcolor"):
        assert predict(tiny_model, tmp_path / "out", tmp_path / "stack.tif") == 0
    assert ("stack.tif is a stack of 3 planes of 48 x 48: segmented plane by plane (labels numbered within each "
            "plane; if they are channels, give --channel C to segment one)") in caplog.text
    assert predict(tiny_model, tmp_path / "zarr", tmp_path / "stack.tif", extra=["--output-format", "zarr"]) == 0
    assert predict(tiny_model, tmp_path / "alone", *[tmp_path / f"plane{z}.tif" for z in range(3)]) == 0
    stack = read_labels(tmp_path / "out" / "stack_labels.tif")
    assert stack.shape == (3, 48, 48)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "zarr" / "stack_labels.zarr"))[:], stack)
    for z in range(3):
        np.testing.assert_array_equal(stack[z], read_labels(tmp_path / "alone" / f"plane{z}_labels.tif"))
    capsys.readouterr()
    assert predict(tiny_model, tmp_path / "probs", tmp_path / "stack.tif", extra=["--save-probs"]) == 2
    assert "--save-probs keeps the network output of 2D images" in capsys.readouterr().err
    assert predict(tiny_model, tmp_path / "big", tmp_path / "stack.tif", extra=["--out-of-core-above", "0"]) == 2
    assert "stacks are segmented in memory, plane by plane; raise --out-of-core-above" in capsys.readouterr().err
    # a zarr stack: in memory too (a 2D zarr image goes out of core with a coloring model)
    zarr.create_array(str(tmp_path / "stack.zarr"), shape=stack.shape, chunks=(1, 48, 48), dtype=np.uint16)[...] = \
        np.stack(planes)
    assert predict(tiny_model, tmp_path / "fromzarr", tmp_path / "stack.zarr") == 0
    np.testing.assert_array_equal(read_labels(tmp_path / "fromzarr" / "stack_labels.tif"), stack)


def test_a_stacks_object_size_is_estimated_once_on_its_middle_plane(tiny_model):
    from napari_deepcolor.predict.in_memory import segment_in_memory
    from napari_deepcolor.predict.network import load_model
    from napari_deepcolor.predict.object_size import given_size

    stack = np.stack([(blobs_pair(seed)[0] * 1000).astype(np.uint16) for seed in (0, 1, 2)])
    asked = []
    done = segment_in_memory(load_model(tiny_model, device="cpu"), stack,
                             lambda plane: asked.append(plane) or given_size(1.0), knobs={"min_size": 0.0})
    assert len(asked) == 1 and np.array_equal(asked[0], stack[1]) and done.labels.shape == stack.shape
    assert done.output is None and done.size.note == "3 planes, object size 1 (given)"


def test_a_stack_whose_size_fell_back_says_why(tiny_model):
    from napari_deepcolor.predict.in_memory import segment_in_memory
    from napari_deepcolor.predict.network import load_model
    from napari_deepcolor.predict.object_size import ObjectSize

    stack = np.stack([(blobs_pair(seed)[0] * 1000).astype(np.uint16) for seed in (0, 1)])
    why = "no objects found for the size estimate (0.00% foreground); using object size 1"
    done = segment_in_memory(load_model(tiny_model, device="cpu"), stack,
                             lambda plane: ObjectSize(1.0, "fallback", why), knobs={"min_size": 0.0})
    assert done.size.note == f"2 planes, object size 1 (fallback): {why}"


def test_a_stack_is_read_plane_by_plane_and_refused_when_its_labels_cannot_fit(tmp_path, monkeypatch):
    from napari_deepcolor.predict import in_memory
    from napari_deepcolor.predict.regions import RawTiff

    planes = np.stack([(blobs_pair(seed)[0] * 1000).astype(np.uint16) for seed in (0, 1)])
    tifffile.imwrite(tmp_path / "stack.tif", planes)
    source = in_memory.read_whole(tmp_path / "stack.tif")
    assert isinstance(source, RawTiff)  # read plane by plane when segmented, never whole
    np.testing.assert_array_equal(np.asarray(source[1]), planes[1])
    assert isinstance(in_memory.read_whole(tmp_path / "stack.tif", channel=1), np.ndarray)  # 2 planes as channels
    monkeypatch.setattr(in_memory, "free_memory", lambda: 10_000)
    with pytest.raises(ValueError, match="needs about 0.0 GiB of memory .* split it into smaller stacks"):
        in_memory.segment_in_memory(None, source, lambda plane: None, knobs={}, what="stack.tif")


def test_folders_and_globs_then_a_rerun_skips_finished_images(tiny_model, plates, tmp_path, caplog):
    out = tmp_path / "out"
    assert predict(tiny_model, out, plates / "p1", plates / "p2" / "w[23].tif") == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["w0_labels.tif", "w1_labels.tif", "w2_labels.tif", "w3_labels.tif"]
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    # a leftover temporary file of an interrupted write does not count as finished
    (out / ".w4_labels.tif.x1y2.tmp").write_bytes(b"half")
    with caplog.at_level(logging.INFO, logger="napari_deepcolor"):
        assert predict(tiny_model, out, plates / "p1", plates / "p2") == 0
    assert "skipping 4 of 5 images" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name in stamps} == stamps
    assert (out / "w4_labels.tif").is_file()
    assert predict(tiny_model, out, plates / "p1", extra=["--overwrite"]) == 0
    assert (out / "w0_labels.tif").stat().st_mtime_ns != stamps["w0_labels.tif"]


def test_a_failing_image_does_not_stop_the_batch_and_is_retried(tiny_model, plates, tmp_path, capsys):
    out = tmp_path / "out"
    tifffile.imwrite(plates / "p1" / "bad.tif", np.zeros((2, 2, 5, 16, 16), np.uint8))
    assert predict(tiny_model, out, plates / "p1") == 2
    err = capsys.readouterr().err
    assert "bad.tif: expected a 2D image or a stack of 2D planes" in err and "1 of 3 images failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["w0_labels.tif", "w1_labels.tif"]
    tifffile.imwrite(plates / "p1" / "bad.tif", np.zeros((16, 16), np.uint8))  # fixed: the rerun does only this one
    assert predict(tiny_model, out, plates / "p1") == 0
    assert (out / "bad_labels.tif").is_file()


def test_out_of_core_and_zarr_outputs_match_the_in_memory_labels(tiny_model, plates, tmp_path):
    zarr = pytest.importorskip("zarr")
    assert predict(tiny_model, tmp_path / "mem", plates / "p2") == 0
    assert predict(tiny_model, tmp_path / "ooc", plates / "p2", extra=["--out-of-core-above", "0", "--tile-size",
                                                                       "16", "--halo", "16"]) == 0
    assert predict(tiny_model, tmp_path / "zarr", plates / "p2", extra=["--output-format", "zarr"]) == 0
    for name in ("w2", "w3", "w4"):
        expected = read_labels(tmp_path / "mem" / f"{name}_labels.tif")
        np.testing.assert_array_equal(read_labels(tmp_path / "ooc" / f"{name}_labels.tif"), expected)
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "zarr" / f"{name}_labels.zarr"))[:], expected)
    with tifffile.TiffFile(tmp_path / "ooc" / "w2_labels.tif") as tif:
        assert tif.is_bigtiff and tif.pages[0].is_tiled


@pytest.mark.parametrize(("flags", "message"), [
    (["--save-probs", "--out-of-core-above", "0"], "drop --save-probs"),
    (["--workers", "2"], "use it with --dask without an address"),
    (["--tile-size", "0"], "--tile-size must be >= 1"),
    (["--precision", "bfloat16"], "precision bfloat16 is a CUDA option"),
    (["--compile"], "compile is a CUDA option"),
])
def test_bad_option_combinations_are_refused(tiny_model, plates, tmp_path, capsys, flags, message):
    assert predict(tiny_model, tmp_path / "out", plates / "p1", extra=flags) == 2
    assert message in capsys.readouterr().err


def test_dask_on_a_running_cluster_by_address(tiny_model, plates, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert predict(tiny_model, tmp_path / "out", plates / "p1", plates / "p2",
                       extra=["--dask", cluster.scheduler_address]) == 0
    assert len(list((tmp_path / "out").glob("*_labels.tif"))) == 5
    assert predict(tiny_model, tmp_path / "mem", plates / "p1") == 0
    np.testing.assert_array_equal(read_labels(tmp_path / "out" / "w0_labels.tif"),
                                  read_labels(tmp_path / "mem" / "w0_labels.tif"))


def test_dask_on_a_local_cluster_of_processes_resumes_too(tiny_model, plates, tmp_path, caplog):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    assert predict(tiny_model, out, plates / "p1" / "w0.tif") == 0
    with caplog.at_level(logging.INFO, logger="napari_deepcolor"):
        # `--dask` right before the images: the first image is not taken for a scheduler address
        assert predict(tiny_model, out, plates / "p1", plates / "p2", extra=["--workers", "1", "--dask"]) == 0
    assert "skipping 1 of 5 images" in caplog.text and "wrote 4 label images" in caplog.text
    assert len(list(out.glob("*_labels.tif"))) == 5


def test_job_outputs_and_finished():
    job = Job(image=__import__("pathlib").Path("a.tif"), labels=__import__("pathlib").Path("/nonexistent/a.tif"))
    assert job.outputs == (job.labels,) and not job.finished()


def test_a_corrupt_tiff_fails_alone(tiny_model, plates, tmp_path, capsys):
    (plates / "p1" / "broken.tif").write_bytes(b"II*\x00 not really a tiff")
    assert predict(tiny_model, tmp_path / "out", plates / "p1") == 2
    assert "broken.tif: " in capsys.readouterr().err
    assert len(list((tmp_path / "out").glob("*_labels.tif"))) == 2


@pytest.mark.parametrize("output_format", ["zarr", "tif"])
def test_an_out_of_core_output_is_recognised_on_a_rerun(tiny_model, plates, tmp_path, caplog, output_format):
    """Out-of-core outputs carry predict's mark too (zarr attribute, BigTIFF Software tag): a rerun skips them."""
    pytest.importorskip("zarr")
    out = tmp_path / "out"
    extra = ("--out-of-core-above", "0", "--output-format", output_format)
    assert predict(tiny_model, out, plates / "p1" / "w0.tif", extra=extra) == 0
    caplog.clear()
    assert predict(tiny_model, out, plates / "p1" / "w0.tif", extra=extra) == 0
    assert "skipping 1 of 1 images whose outputs exist" in caplog.text
