"""Datasets: deterministic, in range, balanced, cached atomically, adapted to the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinfo.datasets.builders import BUILDERS, BuildOptions, build_dataset
from advinfo.datasets.images import adapt, channel_stats, load_dataset, save_dataset, train_subset
from advinfo.datasets.synthetic import LETTER_CLASSES, NUMERAL_CLASSES, SHAPE_CLASSES, TEXTURE_CLASSES
from advinfo.plan.catalog import GENERATED_DATASETS

SMALL = BuildOptions.from_schema(n_train=60, n_test=20, seed=3)


@pytest.mark.parametrize(
    "name,shape,classes",
    [
        ("digits", (1, 8, 8), 10),
        ("mnist5k", (1, 28, 28), 10),
        ("shapes", (3, 32, 32), 10),
        ("letters", (1, 28, 28), 26),
        ("numerals", (3, 32, 32), 10),
        ("textures", (3, 32, 32), 10),
    ],
)
def test_dataset_shapes_labels_and_classes(name, shape, classes):
    ds = build_dataset(name, SMALL)
    assert ds.x_train.dtype == torch.uint8 and tuple(ds.x_train.shape[1:]) == shape
    assert ds.x_test.shape[1:] == ds.x_train.shape[1:]
    assert ds.num_classes == classes
    assert int(ds.y_train.min()) == 0 and int(ds.y_train.max()) == classes - 1
    assert len(ds.x_train) == len(ds.y_train) and len(ds.x_test) == len(ds.y_test)
    assert ds.x_train.float().std() > 10  # real images, not blanks


def test_embedded_datasets_have_their_documented_sizes():
    digits, mnist = build_dataset("digits"), build_dataset("mnist5k")
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert len(mnist.x_train) + len(mnist.x_test) == 5000
    # stratified split: every class keeps its share in the test split
    counts = torch.bincount(mnist.y_test, minlength=10)
    assert counts.min() == counts.max() == 100


@pytest.mark.parametrize("name", ["shapes", "letters", "numerals", "textures", "digits"])
def test_generation_is_deterministic_in_the_seed(name):
    a, b = build_dataset(name, SMALL), build_dataset(name, SMALL)
    c = build_dataset(name, BuildOptions.from_schema(n_train=60, n_test=20, seed=4))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


def test_generated_datasets_are_balanced_and_train_differs_from_test():
    ds = build_dataset("shapes", BuildOptions.from_schema(n_train=100, n_test=50, seed=0))
    assert torch.bincount(ds.y_train).tolist() == [10] * 10
    assert ds.classes == SHAPE_CLASSES
    assert not torch.equal(ds.x_train[:50], ds.x_test)
    letters = build_dataset("letters", BuildOptions.from_schema(n_train=52, n_test=26, seed=0))
    assert torch.bincount(letters.y_train).tolist() == [2] * 26 and letters.classes == LETTER_CLASSES
    for name, classes in (("numerals", NUMERAL_CLASSES), ("textures", TEXTURE_CLASSES)):
        ds = build_dataset(name, BuildOptions.from_schema(n_train=50, n_test=20, seed=0))
        assert torch.bincount(ds.y_train).tolist() == [5] * 10 and ds.classes == classes


def test_texture_stripes_run_the_way_their_class_says():
    """Horizontal stripes change down the image, vertical ones across it: a swapped label fails."""
    ds = build_dataset("textures", BuildOptions.from_schema(n_train=200, n_test=10, seed=0))
    x = ds.x_train.float().mean(1)
    down, across = (x.diff(dim=1).abs().mean((1, 2)), x.diff(dim=2).abs().mean((1, 2)))
    for name, steeper in (("horizontal", down > across), ("vertical", across > down)):
        assert steeper[ds.y_train == TEXTURE_CLASSES.index(name)].all(), name


def test_cache_roundtrip(tmp_path):
    ds = build_dataset("shapes", SMALL)
    path = tmp_path / "shapes.npz"
    save_dataset(ds, path)
    back = load_dataset(path)
    assert back.name == "shapes" and back.classes == ds.classes
    for a, b in zip(ds.split("train") + ds.split("test"), back.split("train") + back.split("test"), strict=True):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["shapes.npz"]  # no temporary left behind


def test_truncated_cache_raises_naming_the_file(tmp_path):
    path = tmp_path / "digits.npz"
    save_dataset(build_dataset("digits"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="digits.npz.*corrupt or truncated"):
        load_dataset(path)


def test_missing_cache_raises_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_dataset(tmp_path / "nowhere.npz")


def test_foreign_npz_is_rejected(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz.*missing arrays"):
        load_dataset(path)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; expected one of digits"):
        build_dataset("cifar")


def test_adapt_replicates_grey_and_resizes():
    grey = torch.arange(2 * 8 * 8, dtype=torch.uint8).view(2, 1, 8, 8)
    out = adapt(grey, 3, 16)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.uint8
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    same = adapt(grey, 3, 8)
    assert torch.equal(same[:, 2:3], grey)  # no resize when the size already matches
    with pytest.raises(ValueError, match="cannot adapt 3-channel images to 1"):
        adapt(out, 1)


def test_resize_preserves_a_constant_image():
    x = torch.full((1, 3, 28, 28), 200, dtype=torch.uint8)
    assert torch.all(adapt(x, 3, 16) == 200)


def test_channel_stats_match_numpy():
    x = torch.randint(0, 256, (20, 3, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = channel_stats(x)
    ref = x.numpy().astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, ref.transpose(1, 0, 2, 3).reshape(3, -1).std(axis=1, ddof=1), rtol=1e-4)


def test_size_options_apply_exactly_to_the_generated_datasets():
    """The workflow passes data.n_train/n_test only to GENERATED_DATASETS (so resizing them
    does not retrain models on the embedded ones): that list must be right."""
    for name in BUILDERS:
        sized = len(build_dataset(name, BuildOptions.from_schema(n_train=30, n_test=10)).x_train) == 30
        assert sized == (name in GENERATED_DATASETS), name


@pytest.mark.parametrize("n,channels,side,size", [(5, 1, 8, 16), (5, 3, 32, 16), (1, 3, 28, 16), (4, 1, 28, 32)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_resize_is_torchvisions(n, channels, side, size, dtype):
    """data.resize stands in for torchvision's v2 resize (whose import costs every job a second):
    the same values, bit for bit, for grey (expanded) and colour images, up and down."""
    from torchvision.transforms.v2 import functional as TF

    images = torch.randint(0, 256, (n, channels, side, side), generator=torch.Generator().manual_seed(side))
    images = images.to(dtype).expand(-1, 3, -1, -1) if channels == 1 else images.to(dtype)
    ours = adapt(images, 3, size)
    theirs = TF.resize(images, [size, size], antialias=True)
    assert ours.dtype == dtype and ours.shape == (n, 3, size, size)
    assert torch.equal(ours, theirs.contiguous())


def test_train_subset_is_balanced_ordered_seeded_and_leaves_the_test_split():
    ds = build_dataset("digits")  # 1,437 training images, classes of 139 to 146
    sub = train_subset(ds, 100, seed=0)
    assert torch.bincount(sub.y_train).tolist() == [10] * 10
    assert torch.equal(sub.x_test, ds.x_test) and torch.equal(sub.y_test, ds.y_test)
    rows = {bytes(x.numpy()): i for i, x in enumerate(ds.x_train)}
    kept = [rows[bytes(x.numpy())] for x in sub.x_train]
    assert kept == sorted(kept)  # the stored order
    assert torch.equal(train_subset(ds, 100, seed=0).x_train, sub.x_train)
    assert not torch.equal(train_subset(ds, 100, seed=1).x_train, sub.x_train)
    assert train_subset(ds, None, seed=0) is ds and train_subset(ds, 5000, seed=0) is ds
