"""TRADES (the paper's Eq. 2): the KL divergence, its inner maximisation, and the training
loss against the definition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advinfo.nets.models import Normalize, resnet_mini
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.augment import epoch_generator
from advinfo.training.loop import Trainer
from advinfo.training.methods.trades import trades_attack, trades_kl


def test_trades_kl_is_kl_from_the_clean_to_the_adversarial_prediction():
    logits_adv = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    p_clean = torch.tensor([[0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]])
    q = F.softmax(logits_adv, dim=1)
    expected = (p_clean * (p_clean.log() - q.log())).sum(1)
    torch.testing.assert_close(trades_kl(logits_adv, p_clean), expected)
    assert trades_kl(logits_adv, q)[0] == pytest.approx(0.0, abs=1e-6)


@pytest.fixture
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return resnet_mini(5, Normalize([0.5] * 3, [0.25] * 3), width=4)


def test_the_inner_maximisation_raises_the_kl_within_the_ball(model):
    cfg = TrainConfig.from_schema(method="trades", eps=0.5, attack_steps=5)
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        p_clean = F.softmax(model(x), dim=1)
    x_adv = trades_attack(model, cfg)(x, p_clean, torch.Generator().manual_seed(2))
    assert ((x_adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    start = TrainConfig.from_schema(
        method="trades", eps=0.5, attack_steps=1, step_size_factor=0.0
    )  # the random start only
    x_start = trades_attack(model, start)(x, p_clean, torch.Generator().manual_seed(2))
    with torch.no_grad():
        kl_adv, kl_start = trades_kl(model(x_adv), p_clean), trades_kl(model(x_start), p_clean)
    assert kl_adv.mean() > 2 * kl_start.mean() > 0


def test_the_trades_loss_is_clean_cross_entropy_plus_beta_times_the_kl(model):
    cfg = TrainConfig.from_schema(method="trades", eps=0.5, attack_steps=3, trades_beta=4.0)
    trainer = Trainer(model, cfg, steps_per_epoch=1)
    x, y = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(3)), torch.arange(6) % 5
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    loss, logits = trainer.batch_loss(x, y, epoch_generator(0, 0, x.device))
    # the same attack, replayed with the same generator from the same BatchNorm state, and the definition
    model.load_state_dict(before)
    model.eval()
    with torch.no_grad():
        p_clean = F.softmax(model(x), dim=1)
    x_adv = trades_attack(model, cfg)(x, p_clean, epoch_generator(0, 0, x.device))
    model.train()
    clean = model(x)
    expected = F.cross_entropy(clean, y) + 4.0 * trades_kl(model(x_adv), F.softmax(clean, dim=1)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(logits, clean)
    assert loss.item() > F.cross_entropy(clean, y).item(), "the KL term adds to the clean loss"


def test_with_beta_zero_trades_trains_like_standard_training(model):
    """β = 0 leaves only the clean cross-entropy: one epoch of one batch gives the standard weights
    (BatchNorm's running statistics differ: TRADES also forwards x_adv in train mode, as the official code)."""
    images = (torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(4)) * 255).to(torch.uint8)
    labels = torch.arange(16) % 5
    states = []
    for cfg in (
        TrainConfig.from_schema(method="trades", eps=0.5, trades_beta=0.0, epochs=1, batch_size=16, crop_padding=0),
        TrainConfig.from_schema(method="standard", eps=0.0, epochs=1, batch_size=16, crop_padding=0),
    ):
        net = resnet_mini(5, Normalize([0.5] * 3, [0.25] * 3), width=4)
        net.load_state_dict(model.state_dict())
        Trainer(net, cfg, steps_per_epoch=1).train_epoch(images, labels, 0, progress=False)
        states.append(dict(net.named_parameters()))
    for name in states[0]:
        torch.testing.assert_close(states[0][name], states[1][name], rtol=1e-5, atol=1e-6, msg=name)
