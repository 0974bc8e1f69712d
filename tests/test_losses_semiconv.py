import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_deepcolor.models.semiconv import add_positions, positions  # noqa: E402
from napari_deepcolor.training.losses_semiconv import IGNORE, embedding_loss, kernel_log, semiconv_loss  # noqa: E402


def two_bars(size: int = 24) -> torch.Tensor:
    labels = torch.zeros(size, size, dtype=torch.long)
    labels[2:8, 2:20] = 1
    labels[12:18, 4:10] = 2
    return labels


def piecewise(labels: torch.Tensor, values: dict[int, list[float]], dims: int) -> torch.Tensor:
    """Embeddings (1, D, H, W) constant inside each instance (background 0)."""
    out = torch.zeros(1, dims, *labels.shape)
    for k, v in values.items():
        out[0, :, labels == k] = torch.tensor(v, dtype=torch.float32)[:, None]
    return out


def test_embedding_equal_to_the_instance_mean_gives_zero():
    labels = two_bars()
    psi = piecewise(labels, {1: [0.0, 1.0, 2.0], 2: [5.0, -1.0, 0.5]}, 3)
    psi[0, :, labels == 0] = torch.randn(3, int((labels == 0).sum()))  # background does not count
    assert embedding_loss(psi, labels[None]).item() == pytest.approx(0.0, abs=1e-5)


def test_embedding_loss_is_the_non_squared_distance_to_the_mean():
    labels = torch.tensor([[1, 1, 0, 2, 2, 2]])
    psi = torch.tensor([[[0.0, 2.0, 9.0, 0.0, 0.0, 3.0]]])  # D = 1: instance 1 mean 1, instance 2 mean 1
    # instance 1: |0-1|, |2-1| -> 1; instance 2: (1 + 1 + 2) / 3; mean over instances
    expected = (1.0 + 4.0 / 3.0) / 2
    assert embedding_loss(psi[:, :, None], labels[:, None]).item() == pytest.approx(expected, rel=1e-4)


def test_ignored_pixels_are_excluded_from_every_term():
    labels = two_bars()
    output = torch.randn(1, 6, 24, 24, requires_grad=True)
    ignored = labels.clone()
    ignored[20:, :] = IGNORE
    sigma = torch.tensor(0.5, requires_grad=True)
    loss, _ = semiconv_loss(output, ignored[None], sigma=sigma, coordinate_scale=8.0)
    loss.backward()
    assert torch.all(output.grad[0, :, 20:, :] == 0)
    assert output.grad[0, :, :20].abs().sum() > 0
    # changing ignored pixels' outputs does not change the loss
    changed = output.detach().clone()
    changed[0, :, 20:] = 100.0
    again, _ = semiconv_loss(changed, ignored[None], sigma=sigma, coordinate_scale=8.0)
    assert again.item() == pytest.approx(loss.item(), rel=1e-6)


def test_sigma_gets_a_gradient_from_the_kernel_term():
    labels = two_bars()
    output = torch.randn(2, 6, 24, 24)
    log_sigma = torch.zeros((), requires_grad=True)
    loss, info = semiconv_loss(output, torch.stack([labels, labels]), sigma=log_sigma.exp(), coordinate_scale=8.0,
                               embedding_weight=0, foreground_weight=0, seed_weight=0)
    loss.backward()
    assert log_sigma.grad is not None and log_sigma.grad.abs().item() > 0
    assert info.instances == 4 and info.kernel > 0


def test_a_perfect_embedding_has_a_small_kernel_loss_and_a_bad_one_a_large_one():
    labels = two_bars()
    good = piecewise(labels, {1: [0.0, 0.0, 0.0], 2: [10.0, 0.0, 0.0]}, 3)
    good[0, 0, labels == 0] = -10.0  # background far from both
    # subtract the positions the loss adds, so Ψ = the piecewise-constant field above
    phi = good - add_positions(torch.zeros_like(good), 8.0)
    fg = torch.where(labels > 0, 20.0, -20.0)[None, None]
    output = torch.cat([phi, fg, torch.zeros_like(fg)], dim=1)
    sigma = torch.tensor(0.2)
    loss, info = semiconv_loss(output, labels[None], sigma=sigma, coordinate_scale=8.0)
    assert info.embedding == pytest.approx(0, abs=1e-4)
    assert info.kernel < 0.01 and info.foreground < 1e-6
    merged = torch.cat([torch.zeros_like(phi) - add_positions(torch.zeros_like(phi), 8.0), fg,
                        torch.zeros_like(fg)], dim=1)  # Ψ = 0 everywhere: both instances and background merged
    _, bad = semiconv_loss(merged, labels[None], sigma=sigma, coordinate_scale=8.0)
    assert bad.kernel > 10 * info.kernel


def test_kernel_log_is_stable_at_both_ends():
    log_k, log_not_k = kernel_log(torch.tensor([0.0, 1e-9, 1.0, 1e4]), torch.tensor(1.0))
    assert torch.isfinite(log_k).all() and torch.isfinite(log_not_k).all()
    np.testing.assert_allclose(log_k[2].item(), -1.0, rtol=1e-6)
    np.testing.assert_allclose(log_not_k[2].item(), np.log(1 - np.exp(-1.0)), rtol=1e-6)


def test_without_instances_only_the_foreground_term_trains():
    output = torch.randn(1, 6, 16, 16, requires_grad=True)
    loss, info = semiconv_loss(output, torch.zeros(1, 16, 16, dtype=torch.long), sigma=torch.tensor(0.5),
                               coordinate_scale=8.0)
    loss.backward()
    assert info.instances == 0 and info.embedding == 0 and info.kernel == 0
    assert output.grad[0, 4].abs().sum() > 0 and output.grad[0, :4].abs().sum() == 0


def test_positions_are_in_units_of_the_coordinate_scale():
    pos = positions((3, 4), 2.0)
    assert pos.shape == (2, 3, 4)
    assert pos[0, 2, 1].item() == 1.0 and pos[1, 2, 3].item() == 1.5
    psi = add_positions(torch.zeros(1, 4, 3, 4), 2.0)
    assert torch.equal(psi[0, :2], pos) and torch.all(psi[0, 2:] == 0)


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="expected an output"):
        semiconv_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 8, 8, dtype=torch.long), sigma=torch.tensor(1.0),
                      coordinate_scale=8.0)
    with pytest.raises(ValueError, match="expected embeddings"):
        embedding_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 9, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="integers"):
        embedding_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 8, 8))


def test_foreground_term_weighs_foreground_and_background_equally():
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    labels[0, :2, :2] = 1  # 4 of 1024 pixels
    output = torch.zeros(1, 6, 32, 32)
    output[0, 4] = -3.0  # "background everywhere": cheap under a plain mean, not under the balanced one
    _, info = semiconv_loss(output, labels, sigma=torch.tensor(0.5), coordinate_scale=8.0)
    softplus = torch.nn.functional.softplus
    expected = 0.5 * (softplus(torch.tensor(3.0)) + softplus(torch.tensor(-3.0)))
    assert info.foreground == pytest.approx(expected.item(), rel=1e-5)
