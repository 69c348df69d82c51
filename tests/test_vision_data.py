"""Real datasets through torchvision: small files in each format's own on-disk layout, read by
the same ``build_dataset`` call the prepare_dataset job makes for real data."""

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from torchvision import datasets

from advinfo.datasets.builders import BuildOptions, build_dataset
from advinfo.datasets.readers import TORCHVISION

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "MNIST" / "raw"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar10(folder: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """CIFAR-10's python version: pickled dicts of (N, 3072) uint8 rows and label lists."""
    folder.mkdir(parents=True)
    arrays = {}
    for name, n in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 5)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": data, "labels": labels}, fh)
        arrays[name] = (data, np.array(labels))
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, fh)
    return arrays


def pin_cifar10(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Point torchvision's MD5 table at the written files, as it is for the published ones."""
    monkeypatch.setattr(
        datasets.CIFAR10, "train_list", [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")] for i in range(1, 6)]
    )
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setattr(
        datasets.CIFAR10,
        "meta",
        {"filename": "batches.meta", "key": "label_names", "md5": md5(folder / "batches.meta")},
    )


def test_cifar10_pickle_batches(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py", rng)
    pin_cifar10(monkeypatch, tmp_path / "cifar10" / "cifar-10-batches-py")
    ds = build_dataset("cifar10", BuildOptions.from_schema(root=str(tmp_path)))
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (5, 3, 32, 32)
    assert ds.classes == tuple(f"class{i}" for i in range(10))
    data, labels = arrays["data_batch_1"]
    np.testing.assert_array_equal(ds.x_train[:4].numpy(), data.reshape(4, 3, 32, 32))
    np.testing.assert_array_equal(ds.y_train[:4].numpy(), labels)
    np.testing.assert_array_equal(ds.y_test.numpy(), arrays["test_batch"][1])


def test_modified_cifar_file_is_refused_before_unpickling(tmp_path):
    """Files that are not the published ones (their MD5 differs) are never unpickled."""
    write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"cifar10 in .*cifar10.*MD5"):
        build_dataset("cifar10", BuildOptions.from_schema(root=str(tmp_path)))


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """An IDX file (big-endian magic, sizes, then the bytes), gzipped as published."""
    magic = 2051 if array.ndim == 3 else 2049
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def read_only(folder: Path) -> list[Path]:
    """Make ``folder`` and everything in it read-only; returns what it holds, to compare after."""
    held = sorted(folder.rglob("*"))
    for path in [*held, folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return held


def test_mnist_idx_gz_is_read_from_a_read_only_folder_without_writing_there(tmp_path):
    """The published .gz files are unpacked into a temporary folder of the cache's (data.root),
    removed after the read, never beside them: the user's copy may be read-only."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    raw = data / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    images = {s: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for s, n in (("train", 12), ("t10k", 6))}
    labels = {s: rng.integers(0, 10, len(images[s])).astype(np.uint8) for s in images}
    for s in images:
        write_idx_gz(raw / f"{s}-images-idx3-ubyte.gz", images[s])
        write_idx_gz(raw / f"{s}-labels-idx1-ubyte.gz", labels[s])
    held = read_only(data)
    ds = build_dataset("mnist", BuildOptions.from_schema(root=str(data), scratch=str(cache)))
    assert sorted(data.rglob("*")) == held and not list(cache.iterdir())  # nothing written, nothing left
    assert ds.x_train.shape == (12, 1, 28, 28)
    np.testing.assert_array_equal(ds.x_train[:, 0].numpy(), images["train"])
    np.testing.assert_array_equal(ds.y_test.numpy(), labels["t10k"])
    assert ds.num_classes == 10 and ds.classes[0].startswith("0")


def test_svhn_mat(tmp_path, monkeypatch):
    root = tmp_path / "svhn"
    root.mkdir()
    rng = np.random.default_rng(2)
    written = {}
    for split, n in (("train", 7), ("test", 3)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # SVHN writes the digit 0 as label 10
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
        written[split] = (x, y)
    split_list = {s: ["", f"{s}_32x32.mat", md5(root / f"{s}_32x32.mat")] for s in written}
    monkeypatch.setattr(datasets.SVHN, "split_list", split_list)
    ds = build_dataset("svhn", BuildOptions.from_schema(root=str(tmp_path)))
    x, y = written["train"]
    np.testing.assert_array_equal(ds.x_train.numpy(), x.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(ds.y_train.numpy(), y[:, 0] % 10)
    assert ds.classes == tuple(str(d) for d in range(10))


def test_image_folder_is_resized_and_labelled_by_folder(tmp_path):
    rng = np.random.default_rng(3)
    sizes = [(40, 30), (25, 50), (64, 64)]
    for split in ("train", "test"):
        for c in ("bird_a", "bird_b"):
            folder = tmp_path / "birds" / split / c
            folder.mkdir(parents=True)
            for i, (w, h) in enumerate(sizes):
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    ds = build_dataset("birds", BuildOptions.from_schema(folder=str(tmp_path / "birds"), size=20))
    assert ds.x_train.shape == (6, 3, 20, 20) and ds.x_test.shape == (6, 3, 20, 20)
    assert ds.classes == ("bird_a", "bird_b")
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1]


def test_image_folder_with_mismatched_classes_names_the_folder(tmp_path):
    for split, c in (("train", "a"), ("test", "b")):
        (tmp_path / split / c).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / split / c / "0.png")
    with pytest.raises(ValueError, match="different class folders"):
        build_dataset("dogs", BuildOptions.from_schema(folder=str(tmp_path), size=8))
    with pytest.raises(FileNotFoundError, match=r"indoor: .*nowhere/train does not exist"):
        build_dataset("indoor", BuildOptions.from_schema(folder=str(tmp_path / "nowhere"), size=8))


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_missing_data_without_download_says_where_and_how(tmp_path, name):
    with pytest.raises(FileNotFoundError) as err:
        build_dataset(name, BuildOptions.from_schema(root=str(tmp_path), download=False))
    message = str(err.value)
    assert str(tmp_path / name) in message and "data.download: true" in message


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="real MNIST files not present")
def test_real_mnist(tmp_path):
    """The shared copy is read-only: it is read where it is."""
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "MNIST").symlink_to(SHARED_MNIST.parent)
    held = sorted(SHARED_MNIST.iterdir())
    ds = build_dataset("mnist", BuildOptions.from_schema(root=str(tmp_path), scratch=str(tmp_path / "cache")))
    assert sorted(SHARED_MNIST.iterdir()) == held
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels of MNIST
    assert ds.y_train.bincount().min() > 5000
