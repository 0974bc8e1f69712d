import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_deepcolor.training.losses import (  # noqa: E402
    IGNORE,
    choose_colors,
    coloring_loss,
    dilate,
    instance_masks,
    orientation_prior,
)


def two_touching_bars(size: int = 32) -> torch.Tensor:
    labels = torch.zeros(size, size, dtype=torch.long)
    labels[4:12, 4:28] = 1
    labels[12:20, 4:28] = 2
    return labels


def logits_from_colors(colors: torch.Tensor, n_colors: int, confidence: float = 6.0) -> torch.Tensor:
    """Logits (1, C, H, W) that put ``confidence`` on the given color map."""
    return torch.nn.functional.one_hot(colors, n_colors).permute(2, 0, 1)[None].float() * confidence


def test_loss_prefers_a_correct_coloring_to_a_merged_one():
    labels = two_touching_bars()
    correct = labels.clone()  # instance 1 -> color 1, instance 2 -> color 2
    merged = (labels > 0).long()  # both instances color 1: one connected component
    loss_correct, _ = coloring_loss(logits_from_colors(correct, 4), labels[None], margin=3, halo_weight=1.0)
    loss_merged, _ = coloring_loss(logits_from_colors(merged, 4), labels[None], margin=3, halo_weight=1.0)
    assert loss_correct.item() < 0.05
    assert loss_merged.item() > 10 * loss_correct.item()


def test_adjacent_instances_get_different_colors_even_when_the_network_prefers_one():
    labels = two_touching_bars()
    merged = (labels > 0).long() * 3  # the network colors everything with color 3
    _, info = coloring_loss(logits_from_colors(merged, 5), labels[None], margin=2, halo_weight=0.0)
    colors = info.colors[0]
    assert colors[0] != colors[1]
    assert 3 in colors  # one of them keeps the preferred color


def test_distant_instances_may_share_a_color():
    labels = torch.zeros(40, 40, dtype=torch.long)
    labels[2:8, 2:8] = 1
    labels[30:36, 30:36] = 2
    uniform = (labels > 0).long() * 2
    _, info = coloring_loss(logits_from_colors(uniform, 4), labels[None], margin=3, halo_weight=1.0)
    assert list(info.colors[0]) == [2, 2]


def test_gradient_pushes_adjacent_instances_apart():
    labels = two_touching_bars()
    logits = logits_from_colors((labels > 0).long(), 3, confidence=2.0).requires_grad_(True)
    loss, info = coloring_loss(logits, labels[None], margin=2, halo_weight=1.0)
    loss.backward()
    second = int(np.flatnonzero(info.colors[0] != 1)[0])  # the instance that was moved off color 1
    pixels = labels == second + 1
    # descending the gradient raises that instance's new color and lowers the shared one
    assert (logits.grad[0, info.colors[0][second]][pixels] < 0).all()
    assert (logits.grad[0, 1][pixels] > 0).all()


def test_ignored_pixels_do_not_contribute():
    labels = two_touching_bars()
    labels_ignored = labels.clone()
    labels_ignored[20:, :] = IGNORE
    logits = torch.randn(1, 4, 32, 32, requires_grad=True)
    loss, _ = coloring_loss(logits, labels_ignored[None], margin=2, halo_weight=1.0)
    loss.backward()
    assert torch.all(logits.grad[0, :, 21:, :] == 0)  # halo of the bars reaches row 21 at most, but ignored


def test_halo_term_only_changes_the_loss_when_trained():
    labels = two_touching_bars()
    logits = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with_halo, _ = coloring_loss(logits, torch.stack([labels, labels]), margin=2, halo_weight=2.0, train_halo=True)
    without, _ = coloring_loss(logits, torch.stack([labels, labels]), margin=2, halo_weight=2.0, train_halo=False)
    assert with_halo.item() > without.item()


def test_background_weight_reweights_background_pixels_in_the_mean():
    labels = two_touching_bars()
    logits = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    n_background, n_instance = float((labels == 0).sum()), float((labels > 0).sum())
    background_sum = -torch.log_softmax(logits, 1)[0, 0][labels == 0].sum().item()
    full, _ = coloring_loss(logits, labels[None], margin=2, halo_weight=1.0, train_halo=False)
    instance_sum = full.item() * (n_instance + n_background) - background_sum  # both bars are the same size
    light, _ = coloring_loss(logits, labels[None], margin=2, halo_weight=1.0, train_halo=False,
                             background_weight=0.25)
    expected = (instance_sum + 0.25 * background_sum) / (n_instance + 0.25 * n_background)
    assert light.item() == pytest.approx(expected, rel=1e-5)
    # what it is for: a pixel of a faint object gets a larger push away from the background
    grads = []
    for weight in (1.0, 0.25):
        x = logits.clone().requires_grad_(True)
        coloring_loss(x, labels[None], margin=2, halo_weight=1.0, train_halo=False,
                      background_weight=weight)[0].backward()
        grads.append(x.grad[0, 0][labels > 0].sum().item())  # d loss / d background logit on object pixels
    assert grads[1] > grads[0] > 0


def test_empty_labels_train_background_only():
    logits = torch.zeros(1, 3, 8, 8, requires_grad=True)
    loss, info = coloring_loss(logits, torch.zeros(1, 8, 8, dtype=torch.long), margin=2, halo_weight=1.0)
    assert loss.item() == pytest.approx(np.log(3), rel=1e-5)
    assert info.colors[0].size == 0


def test_choose_colors_respects_the_graph_and_reports_conflicts():
    scores = np.array([[0.0, -1.0], [0.0, -1.0], [0.0, -1.0]])
    triangle = ~np.eye(3, dtype=bool)
    colors, conflicts = choose_colors(scores, triangle)
    assert sorted(colors[:2]) == [1, 2] or len(set(colors)) == 2
    assert conflicts == 1  # three mutual neighbours, two colors


def test_masks_and_dilation():
    labels = torch.zeros(9, 9, dtype=torch.long)
    labels[4, 4] = 7
    labels[0, 0] = IGNORE
    masks = instance_masks(labels)
    assert masks.shape == (1, 9, 9)
    assert dilate(masks, 2)[0].sum() == 25


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="expected logits"):
        coloring_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 9, 9, dtype=torch.long), margin=1, halo_weight=1)


def crossing_bars(size: int = 40) -> torch.Tensor:
    """A horizontal and a vertical bar that touch (an L), as two instances."""
    labels = torch.zeros(size, size, dtype=torch.long)
    labels[18:22, 4:20] = 1
    labels[4:36, 20:24] = 2
    return labels


def test_orientation_prior_prefers_the_color_of_each_axis_and_ignores_round_shapes():
    masks = torch.zeros(3, 40, 40, dtype=torch.bool)
    masks[0, 18:22, 5:35] = True  # horizontal: color 1 stands for 0°
    masks[1, 5:35, 18:22] = True  # vertical: color 5 stands for 90° when C = 9
    masks[2, 10:20, 10:20] = True  # a square has no axis
    prior = orientation_prior(masks, 9).numpy()
    assert prior.shape == (3, 8)
    assert np.argmax(prior[0]) == 0 and np.argmax(prior[1]) == 4
    assert prior[0, 0] == pytest.approx(-prior[0, 4], abs=1e-6) and prior[0, 0] > 0.9
    np.testing.assert_allclose(prior[2], 0, atol=1e-6)


def test_orientation_prior_overrides_an_undecided_network_consistently():
    labels = crossing_bars()
    undecided = torch.zeros(1, 9, *labels.shape)  # every color equally likely
    _, without = coloring_loss(undecided, labels[None], margin=2, halo_weight=1.0)
    _, with_prior = coloring_loss(undecided, labels[None], margin=2, halo_weight=1.0, prior_weight=1.0)
    assert list(with_prior.colors[0]) == [1, 5]  # horizontal -> 0°, vertical -> 90°
    assert without.colors[0][0] != without.colors[0][1]
    # rotating the image by 90° swaps which bar is horizontal, and the colors follow the bars' axes
    _, rotated = coloring_loss(undecided, torch.rot90(labels, 1)[None], margin=2, halo_weight=1.0, prior_weight=1.0)
    assert list(rotated.colors[0]) == [5, 1]


def test_a_decided_network_outweighs_a_weak_prior():
    labels = crossing_bars()
    logits = logits_from_colors(labels.clamp(max=2) * 3 % 9, 9)  # bar 1 confidently color 3, bar 2 color 6
    _, info = coloring_loss(logits, labels[None], margin=2, halo_weight=1.0, prior_weight=0.1)
    assert list(info.colors[0]) == [3, 6]
