"""A model's metrics.csv is read only when it has every epoch and column it should: a truncated
file raises naming it, instead of giving the final ‖w‖ of another epoch."""

from __future__ import annotations

import pandas as pd
import pytest

from advinfo.report.history import COLUMNS, read_history


def test_the_trainer_writes_the_columns_the_reader_expects(trained_digits_model):
    _, history, _ = trained_digits_model
    assert tuple(pd.DataFrame(history).columns) == COLUMNS


@pytest.fixture
def metrics(tmp_path, trained_digits_model):
    path = tmp_path / "metrics.csv"
    pd.DataFrame(trained_digits_model[1]).to_csv(path, index=False)
    return path


def test_a_complete_history_reads(metrics):
    frame = read_history(metrics, epochs=4)
    assert frame["epoch"].tolist() == [1, 2, 3, 4] and frame["weight_norm"].notna().all()


def test_a_history_that_lost_its_last_epochs_names_the_file(metrics):
    lines = metrics.read_text().splitlines(keepends=True)
    metrics.write_text("".join(lines[:-2]))  # cut at a line end: still valid CSV
    with pytest.raises(ValueError, match=rf"{metrics} has the epochs \[1, 2\] — expected 1 to 4 \(pretrain.epochs\)"):
        read_history(metrics, epochs=4)


def test_a_history_cut_mid_line_names_the_file(metrics):
    text = metrics.read_text()
    metrics.write_text(text[: text.rindex(",") - 3])
    with pytest.raises(ValueError, match=rf"{metrics} has empty values in .*truncated"):
        read_history(metrics, epochs=4)


def test_a_foreign_csv_names_its_missing_columns(metrics):
    pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [1.0] * 4}).to_csv(metrics, index=False)
    with pytest.raises(ValueError, match=rf"{metrics} lacks the columns \['lr', 'train_loss'"):
        read_history(metrics, epochs=4)


def test_an_imported_model_has_one_row(tmp_path):
    path = tmp_path / "metrics.csv"
    pd.DataFrame([{"epoch": None, "weight_norm": 3.5}]).to_csv(path, index=False)
    assert read_history(path, epochs=None)["weight_norm"].tolist() == [3.5]
    pd.DataFrame([{"epoch": 1, "weight_norm": 3.5}] * 2).to_csv(path, index=False)
    with pytest.raises(ValueError, match="has 2 rows — expected the one row of an imported model"):
        read_history(path, epochs=None)
