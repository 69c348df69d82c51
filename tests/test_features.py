"""Features go to a self-describing, row-chunked HDF5 file, completely or not at all."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from advinfo.datasets.images import model_inputs, to_unit
from advinfo.nets.features import read_features, read_model_features, write_features

ATTRS = {
    "source": "digits",
    "arch": "resnet_mini",
    "method": "standard",
    "eps": 0.0,
    "seed": 0,
    "target": "digits",
    "weights_sha256": "ab" * 32,
    "advinfo_version": "0.1.0",
}


@pytest.fixture(scope="module")
def splits(digits):
    return {s: model_inputs(digits, s, 8, torch.device("cpu")) for s in ("train", "test")}


def test_features_round_trip_and_equal_one_big_forward_pass(trained_digits_model, splits, tmp_path):
    model = trained_digits_model[0]
    path = tmp_path / "f.h5"
    write_features(path, model, splits, ATTRS, batch_size=100, progress=False)
    data, attrs = read_features(path)
    for name, (images, labels) in splits.items():
        with torch.no_grad():
            expected = model.features(to_unit(images)).numpy()
        z, y = data[name]
        assert z.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(y, labels.numpy())
    assert attrs == {**ATTRS, "feature_dim": model.feature_dim}
    with h5py.File(path) as fh:
        assert fh["train/features"].chunks == (
            min(len(splits["train"][1]), (1 << 20) // (4 * model.feature_dim)),
            model.feature_dim,
        )
        assert fh["test/features"].chunks[1] == model.feature_dim
    assert [p.name for p in tmp_path.iterdir()] == ["f.h5"]


def test_a_failed_extraction_leaves_no_file(trained_digits_model, splits, tmp_path, monkeypatch):
    model = trained_digits_model[0]
    calls = {"n": 0}
    original = model.features

    def failing(x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return original(x)

    monkeypatch.setattr(model, "features", failing)
    with pytest.raises(RuntimeError, match="killed"):
        write_features(tmp_path / "f.h5", model, splits, ATTRS, batch_size=200, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_names_the_file(trained_digits_model, splits, tmp_path):
    path = tmp_path / "f.h5"
    write_features(path, trained_digits_model[0], splits, ATTRS, progress=False)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ValueError, match="f.h5 is missing, truncated or not a features file"):
        read_features(path)


def test_foreign_hdf5_file_is_rejected_naming_what_is_missing(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as fh:
        fh["train/features"] = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"other.h5 is not a features file .*'source'"):
        read_features(path)


class _StridedFeatures(torch.nn.Module):
    """Features that are a non-contiguous view (as channels_last or slicing can give)."""

    feature_dim = 4

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :8].T.contiguous().T[:, ::2]


def test_non_contiguous_features_are_written_correctly(splits, tmp_path):
    model = _StridedFeatures()
    write_features(tmp_path / "f.h5", model, splits, ATTRS, batch_size=64, progress=False)
    z, _ = read_features(tmp_path / "f.h5")[0]["test"]
    np.testing.assert_array_equal(z, model.features(to_unit(splits["test"][0])).numpy())


def test_features_written_in_several_blocks_are_in_order(trained_digits_model, splits, tmp_path, monkeypatch):
    monkeypatch.setattr("advinfo.nets.features.FLUSH_BYTES", 3 * 64 * 4 * trained_digits_model[0].feature_dim)
    write_features(tmp_path / "f.h5", trained_digits_model[0], splits, ATTRS, batch_size=64, progress=False)
    z, _ = read_features(tmp_path / "f.h5")[0]["train"]
    with torch.no_grad():
        expected = trained_digits_model[0].features(to_unit(splits["train"][0])).numpy()
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)


def test_features_of_other_weights_are_refused_naming_the_file(splits, tmp_path):
    path = tmp_path / "f.h5"
    write_features(path, _StridedFeatures(), splits, ATTRS, batch_size=64, progress=False)
    tensors, attrs = read_model_features(path, ATTRS["weights_sha256"])
    z, y = tensors["test"]
    assert isinstance(z, torch.Tensor) and z.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_array_equal(z.numpy(), read_features(path)[0]["test"][0])
    with pytest.raises(ValueError, match="f.h5 was extracted from other weights"):
        read_model_features(path, "cd" * 32)
