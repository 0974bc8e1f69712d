"""Out-of-core segmentation: agreement with the in-memory path, inputs and outputs, errors."""

from importlib import resources

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tifffile = pytest.importorskip("tifffile")

from napari_deepcolor.io import read_image, read_labels  # noqa: E402
from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.large import (  # noqa: E402
    image_limits,
    network_alignment,
    segment_large,
    write_label_blocks,
)
from napari_deepcolor.predict.network import load_model, segment  # noqa: E402
from napari_deepcolor.predict.regions import RawTiff, open_image  # noqa: E402
from napari_deepcolor.predict.tiles import plan_tiles  # noqa: E402
from napari_deepcolor.preprocess import intensity_limits, to_channels_first  # noqa: E402

SAMPLE = resources.files("napari_deepcolor") / "samples" / "bbbc010_A01.tif"


@pytest.fixture(scope="module")
def worms():
    return load_model("worms", device="cpu")


@pytest.fixture(scope="module")
def sample_and_reference(worms):
    image = read_image(SAMPLE)
    return image, segment(worms, image)[0]


def test_tiled_and_untiled_agree_on_an_image_that_fits(worms, sample_and_reference, tmp_path):
    image, whole = sample_and_reference
    calls = []
    # 128-pixel tiles (64 network pixels at the model's scale 0.5): 30 tiles, most objects cross a border
    result = segment_large(worms, SAMPLE, tmp_path / "labels.tif", tile_size=128,
                           progress=lambda done, total: calls.append((done, total)))
    labels = read_labels(tmp_path / "labels.tif")
    assert result.tiles == 30 and calls[-1] == (31, 31)
    assert whole.n_instances >= 5 and result.n_instances == whole.n_instances
    assert evaluate(whole.labels, labels)["ap50"] >= 0.99
    assert (labels != whole.labels).mean() < 1e-3  # the default halo is below the full receptive field
    # a halo as wide as the network's reach (122 network pixels) gives the very same labels
    segment_large(worms, SAMPLE, tmp_path / "exact.tif", tile_size=256, halo=256)
    np.testing.assert_array_equal(read_labels(tmp_path / "exact.tif"), whole.labels)


def test_out_of_core_at_another_object_size_agrees_with_the_in_memory_path(tmp_path):
    image = np.kron(read_image(SAMPLE), np.ones((2, 2), np.uint16))  # worms twice as large
    tifffile.imwrite(tmp_path / "enlarged.tif", image)
    model = load_model("worms", device="cpu", object_size=2)  # the network runs at scale 0.25
    whole = segment(model, image)[0]
    result = segment_large(model, tmp_path / "enlarged.tif", tmp_path / "labels.tif", tile_size=512, halo=1024)
    assert result.tiles > 1 and whole.n_instances >= 5 and result.n_instances == whole.n_instances
    np.testing.assert_array_equal(read_labels(tmp_path / "labels.tif"), whole.labels)


def test_zarr_in_and_out_and_tiled_compressed_tiff_in(worms, sample_and_reference, tmp_path):
    zarr = pytest.importorskip("zarr")
    image, _ = sample_and_reference
    reference = segment_large(worms, SAMPLE, tmp_path / "ref.tif", tile_size=256)
    expected = read_labels(tmp_path / "ref.tif")
    zarr.create_array(store=str(tmp_path / "in.zarr"), data=image, chunks=(128, 128))
    tifffile.imwrite(tmp_path / "tiled.tif", image, tile=(128, 128), compression="zlib")
    for source, output in ((tmp_path / "in.zarr", tmp_path / "out.zarr"), (tmp_path / "tiled.tif", tmp_path / "o.tif")):
        result = segment_large(worms, source, output, tile_size=256)
        assert result.n_instances == reference.n_instances
        np.testing.assert_array_equal(np.asarray(open_image(output)[:, :]), expected)
    stored = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert stored.dtype == np.uint16 and stored.chunks == (512, 512)


def test_array_inputs_with_channels(worms, sample_and_reference, tmp_path):
    image, _ = sample_and_reference
    segment_large(worms, image, tmp_path / "gray.tif", tile_size=256)
    rgb_last = np.repeat(image[..., None], 3, axis=-1)  # averaged back to the same gray by the 1-channel model
    segment_large(worms, rgb_last, tmp_path / "last.tif", tile_size=256)
    segment_large(worms, np.moveaxis(rgb_last, -1, 0), tmp_path / "first.tif", tile_size=256, channel_axis=0)
    gray = read_labels(tmp_path / "gray.tif")
    np.testing.assert_array_equal(read_labels(tmp_path / "last.tif"), gray)
    np.testing.assert_array_equal(read_labels(tmp_path / "first.tif"), gray)


def test_raw_tiff_reads_regions_like_tifffile(tmp_path):
    image = np.arange(37 * 23 * 3, dtype=np.uint16).reshape(37, 23, 3)
    tifffile.imwrite(tmp_path / "rgb.tif", image, photometric="rgb")
    raw = open_image(tmp_path / "rgb.tif")
    assert isinstance(raw, RawTiff) and raw.shape == (37, 23, 3)
    np.testing.assert_array_equal(raw[5:20, 3:9], image[5:20, 3:9])
    np.testing.assert_array_equal(raw[30:99, :], image[30:])
    with pytest.raises(IndexError, match="contiguous row ranges"):
        raw[::2, :]
    np.testing.assert_array_equal(raw[4], image[4])  # an integer: the axis dropped, as numpy does
    np.testing.assert_array_equal(raw[-1, 2:5], image[-1, 2:5])
    with pytest.raises(IndexError, match="out of bounds"):
        raw[37]


def test_image_limits_are_exact_for_small_images_and_sampled_for_large(tmp_path):
    image = np.random.default_rng(0).gamma(2.0, 300.0, (300, 410)).astype(np.uint16)
    exact = intensity_limits(to_channels_first(image, 1), percentiles=(1.0, 99.8))
    assert image_limits(image, percentiles=(1.0, 99.8), in_channels=1) == exact
    sampled = image_limits(image, percentiles=(1.0, 99.8), in_channels=1, max_samples=5000)
    np.testing.assert_allclose(sampled, exact, rtol=0.1)
    rgb = np.stack([image, image // 2, image // 4], axis=-1)
    assert image_limits(rgb, percentiles=(1.0, 99.8), in_channels=3) == intensity_limits(
        to_channels_first(rgb, 3), percentiles=(1.0, 99.8))


def test_tiles_cover_every_pixel_once_and_windows_start_aligned():
    for shape, tile, halo, align in (((100, 130), 32, 8, 16), ((520, 696), 128, 64, 32), ((50, 50), 64, 64, 32)):
        kept = np.zeros(shape, int)
        for t in plan_tiles(shape, tile, halo, align=align):
            kept[t.keep] += 1
            for read, keep in zip(t.read, t.keep):
                assert read.start % align == 0 and keep.start % align == 0
                assert read.start <= keep.start < keep.stop <= read.stop
        assert (kept == 1).all()
    with pytest.raises(ValueError, match="tile_size >= 1"):
        plan_tiles((10, 10), 0, 0)


def test_network_alignment(worms, tiny_model):
    assert network_alignment(worms) == 32  # depth 4 at scale 0.5
    assert network_alignment(load_model(tiny_model, device="cpu")) == 4  # depth 2 at scale 1


def test_interrupted_writes_leave_nothing_under_the_final_name(tmp_path):
    def failing(region):
        if region[0].start > 0:
            raise RuntimeError("disk full")
        return np.ones((region[0].stop - region[0].start, region[1].stop - region[1].start), np.int32)

    for name in ("labels.tif", "labels.zarr"):
        with pytest.raises(RuntimeError, match="disk full"):
            write_label_blocks(tmp_path / name, (1100, 300), 1, failing)
    assert list(tmp_path.iterdir()) == []


def test_errors(worms, tmp_path):
    with pytest.raises(ValueError, match=r"name it \*.zarr or \*.tif"):
        segment_large(worms, SAMPLE, tmp_path / "labels.png")
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 16, 16\)"):
        segment_large(worms, np.zeros((2, 3, 16, 16)), tmp_path / "labels.tif")
    with pytest.raises(ValueError, match="min_size >= 0"):
        segment_large(worms, SAMPLE, tmp_path / "labels.tif", min_size=-1)
    with pytest.raises(FileNotFoundError, match="no such image"):
        segment_large(worms, tmp_path / "missing.tif", tmp_path / "labels.tif")
    assert not (tmp_path / "labels.tif").exists()


def test_semiconv_models_are_refused(tmp_path):
    from napari_deepcolor.checkpoint import Checkpoint, save_checkpoint
    from napari_deepcolor.config import ModelConfig
    from napari_deepcolor.models import create_model

    config = ModelConfig(method="semiconv", depth=2, width=4, embedding_dims=4)
    path = save_checkpoint(tmp_path / "semi.safetensors", Checkpoint(config, create_model(config).state_dict(), {}))
    with pytest.raises(ValueError, match="needs a coloring model"):
        segment_large(load_model(path, device="cpu"), np.zeros((64, 64), np.float32), tmp_path / "labels.tif")


def test_a_killed_runs_temporary_tiles_are_removed_by_the_next_run(worms, tmp_path):
    stale = tmp_path / ".labels.tif.abc123.tiles"
    stale.mkdir()
    np.save(stale / "0_0.npy", np.zeros((4, 4), np.uint32))
    keep = tmp_path / ".labels.tif.other.tiles"  # not ours: holds something else
    keep.mkdir()
    (keep / "notes.txt").write_text("x")
    segment_large(worms, np.zeros((64, 64), np.uint16), tmp_path / "labels.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".labels.tif.other.tiles", "labels.tif"]


def test_a_mask_model_refuses_a_large_microscope_image_and_splits_a_large_mask(tmp_path, tiny_mask_model):
    model = load_model(tiny_mask_model, device="cpu")
    mask = np.zeros((300, 300), np.uint8)
    mask[20:280, 20:280] = 255  # tiles in the middle lie wholly inside the object
    labels = segment_large(model, mask, tmp_path / "mask.tif", tile_size=96, min_size=0)
    assert np.array_equal(read_labels(tmp_path / "mask.tif") > 0, mask > 0) and labels is not None
    with pytest.raises(ValueError, match="over 99% of this image is nonzero: it looks like a microscope image"):
        segment_large(model, mask.astype(np.uint16) + 1, tmp_path / "image.tif", tile_size=96)
