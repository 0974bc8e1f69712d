"""Plane-by-plane segmentation with cached network outputs (the compute side of the Segment widget)."""

import threading

import numpy as np
import pytest
from conftest import blobs_pair

from napari_deepcolor.checkpoint import CheckpointError  # noqa: E402
from napari_deepcolor.config import ModelConfig
from napari_deepcolor.predict.stack import Knobs, StackLayout, stack_layout


@pytest.mark.parametrize(
    ("shape", "dtype", "rgb", "leading", "plane"),
    [
        ((30, 40), np.uint16, False, (), (30, 40)),
        ((5, 30, 40), np.float32, False, (5,), (30, 40)),
        ((2, 5, 30, 40), np.uint8, False, (2, 5), (30, 40)),
        ((30, 40, 3), np.uint8, True, (), (30, 40)),
        ((7, 30, 40, 4), np.uint16, True, (7,), (30, 40)),
        ((30, 40), bool, False, (), (30, 40)),
    ],
)
def test_layouts(shape, dtype, rgb, leading, plane):
    layout = stack_layout(np.zeros(shape, dtype), rgb=rgb)
    assert layout == StackLayout(leading, plane, rgb)
    assert layout.shape == (*leading, *plane)
    assert len(list(layout.indices())) == layout.n_planes == int(np.prod(leading))


@pytest.mark.parametrize(
    ("shape", "dtype", "rgb", "message"),
    [
        ((40,), np.uint8, False, r"needs two axes"),
        ((2, 3, 4, 30, 40), np.uint8, False, r"at most 2 more axes \(time, z\).*Split Stack"),
        ((30, 40, 2), np.uint8, True, r"3 or 4 channels"),
        ((0, 40), np.uint8, False, r"empty"),
        ((30, 40), np.complex64, False, r"integers or floats.*complex64"),
        ((256, 256, 2), np.uint8, False, r"last axis .* \(2\) looks like color channels.*Split Stack"),
        ((5, 7), np.uint8, False, r"each plane is 5 × 7 pixels .*too small"),
    ],
)
def test_unsupported_images_say_what_to_do(shape, dtype, rgb, message):
    with pytest.raises(ValueError, match=message):
        stack_layout(np.zeros(shape, dtype), rgb=rgb)


def test_knobs_from_config():
    config = ModelConfig(min_size=12, merge_distance=3, kernel_threshold=0.4, foreground_threshold=0.6)
    assert Knobs.from_config(config) == Knobs(12, 3, 0.4, 0.6, 1.0)
    assert Knobs().replace(min_size=5).min_size == 5


torch = pytest.importorskip("torch")

from napari_deepcolor.postprocess.coloring import colors_to_labels  # noqa: E402
from napari_deepcolor.postprocess.embeddings import cluster_embeddings  # noqa: E402
from napari_deepcolor.predict import network as inference  # noqa: E402
from napari_deepcolor.predict.stack import (  # noqa: E402
    Cancelled,
    ColoringPlane,
    ModelLoaded,
    PlaneDone,
    SemiconvPlane,
    StackResult,
    segment_stack,
)


def run_stack(model, image, *, rgb=False, knobs=None, **kwargs):
    events = list(segment_stack(model, image, rgb=rgb, device="cpu", **kwargs))
    loaded = events[0]
    assert isinstance(loaded, ModelLoaded) and loaded.device == "cpu"
    result = StackResult(stack_layout(image, rgb=rgb), loaded.config, knobs or Knobs.from_config(loaded.config))
    for event in events[1:]:
        assert isinstance(event, PlaneDone)
        result.add(event.index, event.output, event.plane)
    return result, events


@pytest.fixture
def network_calls(monkeypatch):
    """Counts the tiles the network runs on."""
    calls = []
    run_tiled = inference._run_tiled

    def counting(*args, **kwargs):
        calls.append(1)
        return run_tiled(*args, **kwargs)

    monkeypatch.setattr(inference, "_run_tiled", counting)
    return calls


def test_a_stack_is_predicted_plane_by_plane(tiny_model):
    stack = np.stack([blobs_pair(seed)[0] for seed in range(3)])
    result, events = run_stack(tiny_model, stack, knobs=Knobs(min_size=0))
    assert [e.index for e in events[1:]] == [(0,), (1,), (2,)]
    assert result.probs.shape == (4, 3, 48, 48) and result.labels.shape == (3, 48, 48)
    model = inference.load_model(tiny_model, device="cpu")
    for k in range(3):
        probs = inference.predict_probs(model, stack[k])
        np.testing.assert_allclose(result.probs[:, k], probs, atol=1e-6)
        np.testing.assert_array_equal(result.colors[k], probs.argmax(0))
        np.testing.assert_array_equal(result.labels[k], colors_to_labels(probs, min_size=0).labels)
    assert result.n_instances() == sum(int(result.labels[k].max()) for k in range(3)) > 0


def test_a_2d_image_keeps_the_network_output_without_a_copy(tiny_model):
    image = blobs_pair(0)[0]
    result, events = run_stack(tiny_model, image)
    assert result.probs is events[1].output and result.probs.shape == (4, 48, 48)
    assert isinstance(events[1].plane, ColoringPlane)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
@pytest.mark.parametrize("channels", [3, 4])
def test_rgb_images_of_any_dtype(tiny_model, dtype, channels):
    rng = np.random.default_rng(0)
    image = (rng.random((2, 32, 40, channels)) * (200 if dtype != np.float64 else 1)).astype(dtype)
    result, _ = run_stack(tiny_model, image, rgb=True)
    assert result.labels.shape == (2, 32, 40) and result.probs.shape == (4, 2, 32, 40)


def test_new_knobs_redecode_without_the_network(spotty_model, network_calls):
    stack = np.stack([blobs_pair(seed)[0] for seed in range(2)])
    result, _ = run_stack(spotty_model, stack, knobs=Knobs(min_size=0))
    calls = len(network_calls)
    before = result.labels.copy()
    assert result.set_knobs(Knobs(min_size=30)) == [(0,), (1,)]
    assert len(network_calls) == calls
    assert not np.array_equal(before, result.labels)
    for k in range(2):
        np.testing.assert_array_equal(
            result.labels[k], colors_to_labels(result.probs[:, k], min_size=30).labels)
    assert result.set_knobs(Knobs(min_size=0), indices=[(1,), (5,)]) == [(1,)]
    np.testing.assert_array_equal(result.labels[1], before[1])


def test_cancel_stops_before_the_next_plane_or_tile(tiny_model):
    cancel = threading.Event()
    stack = np.zeros((4, 48, 48), np.float32)
    events = []
    with pytest.raises(Cancelled):
        for event in segment_stack(tiny_model, stack, device="cpu", cancel=cancel):
            events.append(event)
            if isinstance(event, PlaneDone):
                cancel.set()
    assert [type(e) for e in events] == [ModelLoaded, PlaneDone]

    class CancelAfter(threading.Event):  # set once the run has asked this many times: inside the first plane's tiles
        def __init__(self, checks: int) -> None:
            super().__init__()
            self.checks = checks

        def is_set(self) -> bool:
            self.checks -= 1
            return self.checks < 0

    cancel = CancelAfter(3)  # before loading, before the plane, after the first tile
    tiles = segment_stack(tiny_model, np.zeros((100, 100), np.float32), device="cpu", cancel=cancel, tile_size=48,
                          overlap=8)
    with pytest.raises(Cancelled):
        next(tiles)
    assert cancel.checks == -1  # it stopped at the first check that said so


def test_bad_images_devices_and_models_are_errors(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="at most 2 more axes"):
        next(segment_stack(tiny_model, np.zeros((2, 2, 2, 8, 8)), device="cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device 'cuda' is not available.*choose 'auto'.*or 'cpu'"):
            next(segment_stack(tiny_model, np.zeros((8, 8)), device="cuda"))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a napari-deepcolor checkpoint"):
        next(segment_stack(broken, np.zeros((8, 8)), device="cpu"))


def test_a_lazy_stack_is_read_plane_by_plane(tiny_model):
    da = pytest.importorskip("dask.array")
    stack = np.stack([blobs_pair(seed)[0] for seed in range(2)])
    lazy, _ = run_stack(tiny_model, da.from_array(stack, chunks=(1, 48, 48)))
    eager, _ = run_stack(tiny_model, stack)
    np.testing.assert_array_equal(lazy.labels, eager.labels)


def test_a_stacks_object_size_is_estimated_once_on_its_middle_plane(tiny_model, monkeypatch):
    """One microscope, one magnification: the estimate reads the middle plane once; each plane checks it."""
    from napari_deepcolor.predict import object_size

    da = pytest.importorskip("dask.array")
    stack = np.stack([blobs_pair(seed)[0] for seed in range(3)])
    estimated, reads = [], []
    monkeypatch.setattr(object_size, "at_estimated_size",
                        lambda model, plane, size, **_: estimated.append(plane) or (model, object_size.given_size(1.0)))
    lazy = da.from_array(stack, chunks=(1, 48, 48)).map_blocks(lambda block: reads.append(block.size) or block)
    _, events = run_stack(tiny_model, lazy, object_size=None)
    assert len(estimated) == 1 and np.array_equal(estimated[0], stack[1])
    assert sum(size > 1 for size in reads) == 3  # the middle plane read once (dask calls it on tiny blocks for types)
    assert [e.index for e in events[1:]] == [(0,), (1,), (2,)]


def test_semiconv_stack_foreground_vectors_and_kernel_knobs(tiny_semiconv_model, network_calls):
    stack = np.stack([blobs_pair(seed)[0] for seed in range(2)])
    knobs = Knobs(min_size=0, threshold=0.5, foreground_threshold=0.3)
    result, events = run_stack(tiny_semiconv_model, stack, knobs=knobs)
    assert result.probs is None and result.colors is None
    assert result.foreground.shape == result.labels.shape == (2, 48, 48)
    plane = events[1].plane
    assert isinstance(plane, SemiconvPlane)
    e = plane.embeddings
    np.testing.assert_array_equal(result.foreground[0], e.foreground)
    expected = cluster_embeddings(e.embeddings, e.foreground, sigma=e.sigma, seeds=e.seeds, threshold=0.5,
                                  foreground_threshold=0.3)
    np.testing.assert_array_equal(result.labels[0], expected.labels)
    calls = len(network_calls)
    # a wider kernel (larger σ) never gives more instances
    result.set_knobs(knobs.replace(sigma_scale=20.0))
    wide = [int(result.labels[k].max()) for k in range(2)]
    result.set_knobs(knobs.replace(sigma_scale=0.05))
    narrow = [int(result.labels[k].max()) for k in range(2)]
    assert len(network_calls) == calls
    assert all(w <= n for w, n in zip(wide, narrow)) and wide != narrow
    vectors = result.vectors(step=4)
    assert vectors.ndim == 3 and vectors.shape[1:] == (2, 3)
    assert set(np.unique(vectors[:, 0, 0])) <= {0.0, 1.0} and (vectors[:, 1, 0] == 0).all()


def test_vectors_are_for_semiconv_only(tiny_model):
    result, _ = run_stack(tiny_model, blobs_pair(0)[0])
    with pytest.raises(ValueError, match="semiconv models only"):
        result.vectors()


def test_a_semiconv_plane_keeps_its_clustering_and_decodes_every_knob_move_as_from_scratch():
    """τ re-numbers the kept clustering, the kernel knobs reuse the k-d tree; each result equals a fresh
    cluster_embeddings with the same knobs, whatever the order of the moves."""
    from napari_deepcolor.postprocess.embeddings import cluster_embeddings  # noqa: E402
    from napari_deepcolor.predict.network import Embeddings
    from napari_deepcolor.predict.stack import SemiconvPlane

    rng = np.random.default_rng(0)
    labels = np.zeros((40, 50), np.int32)
    labels[3:15, 4:20], labels[20:35, 5:12], labels[25:27, 40:42] = 1, 2, 3
    embeddings = rng.normal(0, 0.2, (3, 40, 50)).astype(np.float32)
    for k, centre in {1: [0.0, 0.0, 1.0], 2: [2.0, 0.5, 0.0], 3: [0.0, 3.0, 0.0]}.items():
        embeddings[:, labels == k] += np.asarray(centre, np.float32)[:, None]
    foreground = np.where(labels > 0, 0.9, 0.1).astype(np.float32) + rng.uniform(0, 0.05, labels.shape).astype(
        np.float32)
    e = Embeddings(embeddings=embeddings, foreground=foreground, seeds=foreground, sigma=0.5, unit=1.0)
    plane = SemiconvPlane(e)
    knobs = Knobs(min_size=0, merge_distance=0, threshold=0.5, foreground_threshold=0.5, sigma_scale=1.0,
                  absorb_fragments=False)
    for change in ({}, {"min_size": 5}, {"threshold": 0.3}, {"min_size": 0}, {"sigma_scale": 0.5},
                   {"foreground_threshold": 0.92}, {"min_size": 5}, {"foreground_threshold": 0.5}):
        knobs = knobs.replace(**change)
        expected = cluster_embeddings(embeddings, foreground, sigma=0.5 * knobs.sigma_scale, seeds=foreground,
                                      threshold=knobs.threshold, min_size=knobs.min_size,
                                      foreground_threshold=knobs.foreground_threshold).labels
        np.testing.assert_array_equal(plane.decode(knobs).labels, expected, err_msg=str(change))


def test_semiconv_planes_are_clustered_in_the_worker(tiny_semiconv_model):
    """Given the knobs, segment_stack clusters each plane before yielding it: the GUI thread only numbers it."""
    from napari_deepcolor.predict.stack import PlaneDone, SemiconvPlane, segment_stack

    stack = np.stack([blobs_pair(0)[0], blobs_pair(1)[0]])
    events = list(segment_stack(tiny_semiconv_model, stack, device="cpu", knobs=None))
    assert all(e.plane._clustering is None for e in events if isinstance(e, PlaneDone))
    config = events[0].config
    knobs = Knobs.from_config(config).replace(foreground_threshold=0.3)
    planes = [e.plane for e in segment_stack(tiny_semiconv_model, stack, device="cpu", knobs=knobs)
              if isinstance(e, PlaneDone)]
    assert all(isinstance(p, SemiconvPlane) and p._clustering is not None for p in planes)
    kept = planes[0]._clustering
    planes[0].decode(knobs.replace(min_size=5))  # τ: the worker's clustering is used, not redone
    assert planes[0]._clustering is kept


def test_a_partial_result_adopts_the_planes_it_lacks(tiny_model):
    stack = np.stack([blobs_pair(seed)[0] for seed in range(3)])
    complete, events = run_stack(tiny_model, stack)
    partial = StackResult(complete.layout, complete.config, complete.knobs.replace(min_size=5))
    first = events[1]
    partial.add(first.index, first.output, first.plane)
    assert partial.adopt(complete) == [(1,), (2,)]
    np.testing.assert_array_equal(partial.probs, complete.probs)
    expected = StackResult(complete.layout, complete.config, partial.knobs)
    for event in events[1:]:
        expected.add(event.index, event.output, event.plane)
    np.testing.assert_array_equal(partial.labels, expected.labels)  # decoded with the partial result's knobs
    with pytest.raises(ValueError, match="same image layout"):
        partial.adopt(run_stack(tiny_model, stack[:2])[0])


def test_planes_decoded_in_threads_are_stored_and_no_longer_stale(tiny_model):
    result, _ = run_stack(tiny_model, np.stack([blobs_pair(seed)[0] for seed in range(4)]), knobs=Knobs(min_size=0))
    assert result.stale() == []
    knobs = Knobs(min_size=40)
    result.set_knobs(knobs, indices=[(3,)])  # the shown plane at once
    assert result.stale() == [(0,), (1,), (2,)]
    decoded = {}

    def decode(index):  # two threads on one plane and others: each plane's lock keeps its caches whole
        decoded[index] = result.planes[index].decode(knobs)

    threads = [threading.Thread(target=decode, args=(index,)) for index in [(0,), (1,), (2,), (0,)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, instances in decoded.items():
        result.store(index, instances, knobs)
    assert result.stale() == []
    expected, _ = run_stack(tiny_model, np.stack([blobs_pair(seed)[0] for seed in range(4)]), knobs=knobs)
    np.testing.assert_array_equal(result.labels, expected.labels)
    assert result.n_instances() == expected.n_instances()


def test_a_mask_stack_is_checked_as_a_whole_and_a_plane_may_be_all_object(tiny_mask_model):
    masks = np.stack([blobs_pair(seed)[1] for seed in range(3)])
    masks[1] = 5  # one plane inside an object
    result, _ = run_stack(tiny_mask_model, masks, knobs=Knobs(min_size=0))
    assert np.all(result.labels[1] > 0) and np.all((result.labels[0] > 0) == (masks[0] > 0))
    images = np.stack([blobs_pair(seed)[0] + 1 for seed in range(3)])  # microscope planes: refused, naming the stack
    with pytest.raises(ValueError, match="of this stack is nonzero: it looks like a microscope image"):
        run_stack(tiny_mask_model, images)
