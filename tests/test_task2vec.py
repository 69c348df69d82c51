"""Task2Vec embeddings: per-image squared gradients against an autograd loop, the Fisher's
sampled labels, class balance, determinism and the file round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from advinfo.nets.models import Normalize, resnet_mini
from advinfo.transfer.task2vec import (
    embedded_weights,
    fisher_embedding,
    load_embedding,
    sample_labels,
    save_embedding,
    squared_grads,
)


@pytest.fixture
def network() -> torch.nn.Module:
    torch.manual_seed(0)
    model = resnet_mini(5, Normalize([0.5] * 3, [0.25] * 3), width=4)
    for module in model.modules():  # running statistics unlike a fresh batch's
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_embedded_weights_are_the_filters_below_the_head(network):
    names = embedded_weights(network)
    assert names and all(n.endswith("weight") for n in names)
    assert not any(n.startswith("head.") for n in names)
    assert "stem.0.weight" in names and "stem.1.weight" in names  # a convolution and its BatchNorm


def test_squared_grads_equal_a_per_image_autograd_loop(network):
    x, y = torch.rand(6, 3, 8, 8), torch.randint(0, 5, (6,))
    names = embedded_weights(network)
    got = squared_grads(network, x, y, names)
    params = dict(network.named_parameters())
    expected = {n: torch.zeros_like(params[n]) for n in names}
    for i in range(len(x)):
        network.zero_grad()
        F.cross_entropy(network(x[i : i + 1]), y[i : i + 1]).backward()
        for n in names:
            expected[n] += params[n].grad ** 2
    for n in names:
        torch.testing.assert_close(got[n], expected[n], rtol=1e-4, atol=1e-10)
    assert not network.training


def test_labels_are_drawn_from_the_model_not_the_data():
    generator = torch.Generator().manual_seed(0)
    certain = torch.tensor([[0.0, 50.0, 0.0], [50.0, 0.0, 0.0]]).repeat(50, 1)
    assert sample_labels(certain, generator).tolist() == [1, 0] * 50
    uniform = sample_labels(torch.zeros(3000, 3), generator)
    assert np.allclose(np.bincount(uniform.numpy(), minlength=3) / 3000, 1 / 3, atol=0.04)


def test_embedding_is_one_mean_per_filter_and_deterministic(network):
    images = (torch.rand(24, 3, 8, 8) * 255).to(torch.uint8)
    emb, layers = fisher_embedding(network, images, batch_size=8, seed=1, progress=False)
    params = dict(network.named_parameters())
    assert len(emb) == sum(params[n].shape[0] for n in embedded_weights(network)) == len(layers)
    assert np.all(emb >= 0) and emb.sum() > 0
    again, _ = fisher_embedding(network, images, batch_size=5, seed=1, progress=False)
    np.testing.assert_allclose(again, emb, rtol=1e-5)
    other, _ = fisher_embedding(network, images, batch_size=8, seed=2, progress=False)
    assert not np.allclose(other, emb)


def test_embedding_round_trip_and_corrupt_file(tmp_path):
    path = tmp_path / "e.h5"
    save_embedding(np.arange(3.0), ["a", "a", "b"], {"dataset": "digits", "weights_sha256": "abc"}, path)
    emb, attrs = load_embedding(path)
    np.testing.assert_array_equal(emb, [0.0, 1.0, 2.0])
    assert attrs["dataset"] == "digits" and attrs["weights_sha256"] == "abc"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="e.h5 is missing, truncated"):
        load_embedding(path)
