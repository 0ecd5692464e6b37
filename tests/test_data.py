"""Tests for data sets: generated sets, scikit-learn's, the user's CSV, splitting, standardising."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gdtui.engine.data import GENERATED, SKLEARN, DataError, load_data

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_sets_are_seeded_and_split(name: str) -> None:
    a = load_data({"name": name, "samples": 100}, seed=3)
    b = load_data({"name": name, "samples": 100}, seed=3)
    c = load_data({"name": name, "samples": 100}, seed=4)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert len(a.y_train) == 80 and len(a.y_val) == 20
    assert a.x_train.shape == (80, a.n_features)
    if a.task == "classification":
        assert a.y_train.dtype == np.int64
        assert set(np.unique(np.r_[a.y_train, a.y_val])) == set(range(a.n_classes))


def test_moons_are_two_half_circles_before_noise() -> None:
    d = load_data({"name": "moons", "samples": 200, "noise": 0.0, "standardize": False})
    x = np.r_[d.x_train, d.x_val]
    y = np.r_[d.y_train, d.y_val]
    upper = x[y == 0]
    assert np.allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    lower = x[y == 1]
    assert np.allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)


def test_regression_in_n_dimensions_is_a_plane_plus_noise() -> None:
    d = load_data(
        {"name": "regression", "samples": 500, "features": 3, "noise": 0.0, "standardize": False}
    )
    x = np.c_[d.x_train, np.ones(len(d.x_train))]
    coef, *_ = np.linalg.lstsq(x, d.y_train, rcond=None)
    assert d.n_features == 3
    assert np.allclose(x @ coef, d.y_train)


def test_standardised_with_training_statistics_and_target_untouched() -> None:
    raw = load_data({"name": "regression", "features": 2, "standardize": False}, seed=1)
    std = load_data({"name": "regression", "features": 2}, seed=1)
    assert np.allclose(std.x_train.mean(axis=0), 0.0)
    assert np.allclose(std.x_train.std(axis=0), 1.0)
    assert np.allclose(std.mean, raw.x_train.mean(axis=0))
    # validation rows use the training statistics, not their own
    assert np.allclose(std.x_val, (raw.x_val - std.mean) / std.std)
    assert np.array_equal(std.y_train, raw.y_train)


def test_validation_zero_trains_on_everything() -> None:
    d = load_data({"name": "xor", "samples": 50, "validation": 0})
    assert len(d.y_train) == 50 and len(d.y_val) == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "moon"}, "unknown data set 'moon' (did you mean 'moons'?)"),
        ({"name": "moons", "sampels": 3}, "unknown field 'sampels' in [data] (did you mean"),
        ({"name": "moons", "validation": 1.0}, "validation must be a number from 0 to 1"),
        ({"name": "moons", "samples": 2}, "samples must be a whole number of at least 4"),
        ({"name": "moons", "features": 3}, "features is for regression and blobs"),
        ({}, "give either name"),
        ({"name": "moons", "path": "x.csv"}, "give either name"),
        ({"name": "moons", "standardize": "yes"}, "standardize must be true or false"),
    ],
)
def test_bad_settings_are_one_line(spec: dict, message: str) -> None:
    with pytest.raises(DataError) as err:
        load_data(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", list(SKLEARN))
def test_scikit_learn_sets(name: str) -> None:
    d = load_data({"name": name})
    assert d.task == SKLEARN[name][1]
    assert len(d.feature_names) == d.n_features
    if name == "digits":
        assert d.image_shape == (1, 8, 8) and d.n_features == 64 and d.n_classes == 10


def test_scikit_learn_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError, match=r"pip install 'gdtui\[data\]'"):
        load_data({"name": "digits"})


# -- CSV -------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "points.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_relative_to_base_dir_skips_text_columns(tmp_path: Path) -> None:
    write(tmp_path, "name,a,b,y\nr1,1,2,3\nr2,2,4,5\nr3,3,5,8\nr4,4,7,9\nr5,5,1,2\n")
    d = load_data(
        {"path": "points.csv", "target": "y", "validation": 0, "standardize": False},
        base_dir=tmp_path,
        task="regression",
    )
    assert d.feature_names == ("a", "b")
    order = np.argsort(d.x_train[:, 0])
    assert np.array_equal(d.x_train[order], [[1, 2], [2, 4], [3, 5], [4, 7], [5, 1]])
    assert np.array_equal(d.y_train[order], [3, 5, 8, 9, 2])


def test_csv_class_labels_become_indices(tmp_path: Path) -> None:
    write(tmp_path, "a,kind\n1,cat\n2,dog\n3,cat\n4,dog\n")
    d = load_data(
        {"path": str(tmp_path / "points.csv"), "target": "kind", "validation": 0},
        task="classification",
    )
    assert d.class_names == ("cat", "dog") and d.n_classes == 2
    assert sorted(d.y_train.tolist()) == [0, 0, 1, 1]


def test_the_shipped_csv_example_loads() -> None:
    d = load_data(
        {"path": "points.csv", "target": "score"},
        base_dir=REPO / "scenarios",
        task="regression",
    )
    assert d.feature_names == ("hours_studied", "hours_slept")
    assert d.n_train == 32


@pytest.mark.parametrize(
    ("text", "target", "task", "message"),
    [
        (None, "y", "regression", "points.csv: no such file"),
        ("", "y", "regression", "points.csv: the file is empty"),
        ("a,b\n1,2\n3,4\n", "y", "regression", "points.csv, line 1: no column 'y'"),
        ("a,yy\n1,2\n3,4\n", "y", "regression", "points.csv, line 1: no column 'y' (did you mean"),
        (
            "a,y\n1,2\n3,4\nx,5\n",
            "y",
            "regression",
            "points.csv, line 4, column 'a': 'x' is not a number",
        ),
        (
            "a,y\n1,2\n3,four\n",
            "y",
            "regression",
            "points.csv, line 3, column 'y': 'four' is not a number",
        ),
        ("a,y\n1,2\n3,4,5\n", "y", "regression", "points.csv, line 3: 3 cells, but the header"),
        ("a,y\n1,2\n", "y", "regression", "points.csv: 1 data row(s); at least 2 are needed"),
        ("a,y\n", "y", "regression", "points.csv: 0 data row(s); at least 2 are needed"),
        ("a,y\n1,1\n2,1\n", "y", "classification", "column 'y': only one class ('1')"),
        ("name,y\nu,1\nv,2\n", "y", "regression", "no numeric column besides the target"),
    ],
)
def test_csv_bad_inputs_name_file_line_and_column(
    tmp_path: Path, text: str | None, target: str, task: str, message: str
) -> None:
    if text is not None:
        write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_data({"path": "points.csv", "target": target}, base_dir=tmp_path, task=task)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
