"""Every fixed subset comes from one seeded, class-stratified sampler: on a dataset stored class
by class, a subset holds every class (a prefix would hold one), and every model gets the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinfo.datasets.images import ImageDataset, model_inputs
from advinfo.sampling import stratified_indices
from advinfo.training.methods.arat import ACCURACY_IMAGES, weight_images

SORTED = np.repeat(np.arange(10), 100)  # a class-sorted split: 100 images of class 0, then class 1, ...


def test_a_subset_of_a_class_sorted_split_holds_every_class_in_proportion():
    idx = stratified_indices(SORTED, 50, seed=0)
    assert len(set(idx)) == 50
    np.testing.assert_array_equal(np.bincount(SORTED[idx], minlength=10), [5] * 10)
    assert len(set(SORTED[:50])) == 1  # what a prefix would have held


def test_an_imbalanced_split_keeps_its_class_shares():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)
    counts = np.bincount(labels[stratified_indices(labels, 100, seed=3)], minlength=3)
    np.testing.assert_array_equal(counts, [60, 30, 10])
    odd = np.bincount(labels[stratified_indices(labels, 7, seed=3)], minlength=3)  # 4.2, 2.1, 0.7
    np.testing.assert_array_equal(odd, [4, 2, 1])  # largest remainders get the rest


def test_fewer_images_than_classes_take_distinct_classes():
    for seed in range(5):
        assert len(set(SORTED[stratified_indices(SORTED, 7, seed)])) == 7


def test_balanced_draws_equal_counts_as_far_as_small_classes_allow():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    np.testing.assert_array_equal(np.bincount(labels[stratified_indices(labels, 30, 0, balanced=True)]), [10, 10, 10])
    np.testing.assert_array_equal(np.bincount(labels[stratified_indices(labels, 60, 0, balanced=True)]), [25, 25, 10])
    proportional = np.bincount(labels[stratified_indices(labels, 30, 0)], minlength=3)
    np.testing.assert_array_equal(proportional, [27, 3, 0])


def test_same_seed_same_images_and_order_is_mixed():
    a, b = stratified_indices(SORTED, 200, seed=5), stratified_indices(SORTED, 200, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(a), np.sort(stratified_indices(SORTED, 200, seed=6)))
    # held-out shares (the mutual information's last quarter) see many classes, not the last ones
    assert len(set(SORTED[a[-50:]])) >= 8


def test_asking_for_all_images_or_more_gives_each_once():
    idx = stratified_indices(SORTED, 5000, seed=0)
    assert sorted(idx) == list(range(len(SORTED)))
    assert sorted(stratified_indices(SORTED, None, seed=0)) == list(range(len(SORTED)))
    with pytest.raises(ValueError, match="cannot sample -1"):
        stratified_indices(SORTED, -1, seed=0)


def _sorted_dataset() -> ImageDataset:
    labels = torch.from_numpy(SORTED)
    images = (labels[:, None, None, None] * 20).expand(-1, 1, 4, 4).to(torch.uint8).contiguous()
    return ImageDataset("sorted", images, labels, images, labels, tuple(str(c) for c in range(10)))


def test_model_inputs_subsets_are_stratified_and_need_a_seed():
    ds = _sorted_dataset()
    x, y = model_inputs(ds, "test", 8, torch.device("cpu"), limit=30, seed=0)
    assert x.shape == (30, 3, 8, 8) and sorted(torch.bincount(y).tolist()) == [3] * 10
    assert torch.equal(x[:, 0, 0, 0], (y * 20).to(torch.uint8))  # images stay with their labels
    assert len(model_inputs(ds, "train", 4, torch.device("cpu"))[1]) == 1000  # no limit: the whole split
    with pytest.raises(ValueError, match="needs the seed"):
        model_inputs(ds, "test", 8, torch.device("cpu"), limit=30)


def test_arat_weighs_by_every_class():
    labels = torch.from_numpy(np.repeat(np.arange(10), 300))
    keep = weight_images(labels, seed=0)
    assert len(keep) == ACCURACY_IMAGES and torch.bincount(labels[keep]).tolist() == [100] * 10
