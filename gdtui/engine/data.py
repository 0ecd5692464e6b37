"""Data sets for model runs: generated with numpy, shipped by scikit-learn, or the user's CSV.

Everything is seeded and nothing is downloaded. :func:`load_data` takes the ``[data]`` table of a
scenario as a plain dict and returns a :class:`Dataset`: a train/validation split (seeded), the
features standardised with the training split's mean and standard deviation (the target is never
rescaled, so a loss stays in the target's units), the feature names and the task.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdtui.files import MAX_DATA_BYTES, FileInputError, read_text_file
from gdtui.safetext import visible
from gdtui.suggest import closest

REGRESSION = "regression"
CLASSIFICATION = "classification"

# Generated sets: name -> (task, default samples, default noise).
GENERATED: dict[str, tuple[str, int, float]] = {
    "regression": (REGRESSION, 200, 0.5),
    "moons": (CLASSIFICATION, 400, 0.2),
    "spirals": (CLASSIFICATION, 400, 0.2),
    "blobs": (CLASSIFICATION, 300, 1.0),
    "xor": (CLASSIFICATION, 400, 0.1),
    "circles": (CLASSIFICATION, 400, 0.1),
}
# Real sets shipped inside scikit-learn: name -> (loader, task).
SKLEARN: dict[str, tuple[str, str]] = {
    "digits": ("load_digits", CLASSIFICATION),
    "iris": ("load_iris", CLASSIFICATION),
    "wine": ("load_wine", CLASSIFICATION),
    "breast_cancer": ("load_breast_cancer", CLASSIFICATION),
    "diabetes": ("load_diabetes", REGRESSION),
}
DATA_KEYS = (
    "name",
    "path",
    "target",
    "samples",
    "noise",
    "features",
    "classes",
    "validation",
    "standardize",
)


class DataError(ValueError):
    """A bad ``[data]`` setting or a bad data file; ``str()`` is one line."""


@dataclass(frozen=True)
class Dataset:
    """A split data set, ready for a model.

    ``x_*`` are float64 arrays ``(n, features)`` (flattened images for ``digits``; the image
    shape is in ``image_shape``). ``y_*`` are float64 targets for regression and int64 class
    labels ``0 … n_classes-1`` for classification. ``mean``/``std`` are the training split's
    feature statistics used to standardise (None when ``standardize`` is off).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    task: str
    n_classes: int = 0
    class_names: tuple[str, ...] = ()
    image_shape: tuple[int, ...] | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return self.x_train.shape[1]

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return len(self.y_train)


# -- generated sets ------------------------------------------------------------------------------


def make_regression(samples: int, noise: float, features: int, rng: np.random.Generator):
    """y = x·w + b + noise with x ~ U(-3, 3), seeded true w and b."""
    x = rng.uniform(-3.0, 3.0, size=(samples, features))
    w = rng.uniform(-2.0, 2.0, size=features).round(1)
    b = round(float(rng.uniform(-1.0, 1.0)), 1)
    y = x @ w + b + noise * rng.standard_normal(samples)
    return x, y


def make_moons(samples: int, noise: float, rng: np.random.Generator):
    """Two interleaving half circles (as scikit-learn's make_moons), labels 0 and 1."""
    n0 = samples // 2
    n1 = samples - n0
    t0 = np.linspace(0.0, math.pi, n0)
    t1 = np.linspace(0.0, math.pi, n1)
    x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1.0 - np.cos(t1), 0.5 - np.sin(t1)]])
    y = np.r_[np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)]
    return x + noise * rng.standard_normal(x.shape), y


def make_spirals(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """``classes`` interleaved arms of a spiral (two by default)."""
    per = np.full(classes, samples // classes)
    per[: samples % classes] += 1
    xs, ys = [], []
    for k, n in enumerate(per):
        r = np.linspace(0.1, 1.0, n)
        t = np.linspace(0.0, 3.0 * math.pi, n) + 2.0 * math.pi * k / classes
        xs.append(np.c_[r * np.cos(t), r * np.sin(t)])
        ys.append(np.full(n, k, dtype=np.int64))
    x = np.concatenate(xs)
    return x + noise * 0.1 * rng.standard_normal(x.shape), np.concatenate(ys)


def make_blobs(samples: int, noise: float, classes: int, features: int, rng: np.random.Generator):
    """Gaussian blobs (standard deviation ``noise``) around seeded centres in [-5, 5]."""
    centres = rng.uniform(-5.0, 5.0, size=(classes, features))
    y = np.arange(samples, dtype=np.int64) % classes
    x = centres[y] + noise * rng.standard_normal((samples, features))
    return x, y


def make_xor(samples: int, noise: float, rng: np.random.Generator):
    """Points in four quadrants; the label is 1 where x·y < 0 (not linearly separable)."""
    centres = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    k = np.arange(samples) % 4
    x = centres[k] * rng.uniform(0.2, 1.0, size=(samples, 2))
    x = x + noise * rng.standard_normal(x.shape)
    return x, (k >= 2).astype(np.int64)


def make_circles(samples: int, noise: float, rng: np.random.Generator):
    """A small circle (label 1) inside a big one (label 0), radii 0.5 and 1."""
    n0 = samples // 2
    n1 = samples - n0
    t0 = np.linspace(0.0, 2.0 * math.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2.0 * math.pi, n1, endpoint=False)
    x = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], 0.5 * np.c_[np.cos(t1), np.sin(t1)]])
    y = np.r_[np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)]
    return x + noise * rng.standard_normal(x.shape), y


# -- checks --------------------------------------------------------------------------------------


def _whole(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataError(f"[data] {key} must be a whole number of at least {minimum}, got {value!r}")
    return int(value)


def _real(key: str, value: Any, low: float, high: float, *, high_open: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bound = f"{low:g} to {high:g}" + (" (not included)" if high_open else "")
        raise DataError(f"[data] {key} must be a number from {bound}, got {value!r}")
    return value


# -- scikit-learn's sets ---------------------------------------------------------------------------


def _sklearn_set(name: str):
    loader, task = SKLEARN[name]
    try:
        import sklearn.datasets as datasets
    except ImportError:
        raise DataError(
            f"data set '{name}' comes with scikit-learn, which is not installed: "
            "pip install 'gdtui[data]'"
        ) from None
    bunch = getattr(datasets, loader)()
    x = np.asarray(bunch.data, dtype=np.float64)
    features = tuple(str(f) for f in getattr(bunch, "feature_names", range(x.shape[1])))
    if task == CLASSIFICATION:
        y = np.asarray(bunch.target, dtype=np.int64)
        classes = tuple(str(c) for c in getattr(bunch, "target_names", np.unique(y)))
    else:
        y = np.asarray(bunch.target, dtype=np.float64)
        classes = ()
    image_shape = (1, 8, 8) if name == "digits" else None
    return x, y, features, task, classes, image_shape


# -- CSV -------------------------------------------------------------------------------------------


def _number_or_none(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _cell(text: str) -> str:
    """A name or cell of the user's file in a message: controls visible, cut."""
    return visible(text, 60)


def _name(text: str) -> str:
    """A column name or class label the data set carries (shown in the app): controls visible."""
    return visible(text, max(1, 4 * len(text)))


def read_csv(path: Path, target: str, task: str):
    """Parse a CSV with a header row: the target column and every other numeric column.

    A column where no cell is a number is not a feature (a name, an id); any other column must
    be numbers throughout. For classification the target may be labels (numbers or words); they
    become classes 0 … k-1 in sorted order. Errors name the file, line and column.

    The file is read through :func:`gdtui.files.read_text_file`: a FIFO, a device, a folder, a
    symlink loop, a file over :data:`~gdtui.files.MAX_DATA_BYTES` or bytes that are not UTF-8
    are refused in one line without blocking; a byte-order mark is accepted. Column names and
    class labels keep their text but control characters are made visible (``\\x1b``) in the
    names the data set carries, so a header cannot drive the terminal where it is shown.
    """
    where = visible(str(path), 120)
    try:
        text = read_text_file(path, what="CSV", max_bytes=MAX_DATA_BYTES)
    except FileInputError as err:
        raise DataError(str(err)) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as err:  # a cell over csv's field size limit, a stray quote mode error
        raise DataError(f"{where}, line {reader.line_num}: not valid CSV: {visible(err)}") from None
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(cell.strip() for cell in r)]
    if not numbered:
        raise DataError(f"{where}: the file is empty (a header row and data rows are needed)")
    header_line, header = numbered[0]
    header = [h.strip() for h in header]
    if target not in header:
        raise DataError(
            f"{where}, line {header_line}: no column '{_cell(target)}'"
            f"{visible(closest(target, header), 100)}; columns: {visible(', '.join(header), 200)}"
        )
    data = numbered[1:]
    for line, row in data:
        if len(row) != len(header):
            raise DataError(
                f"{where}, line {line}: {len(row)} cells, but the header has {len(header)}"
            )
    if len(data) < 2:
        raise DataError(f"{where}: {len(data)} data row(s); at least 2 are needed")
    t = header.index(target)
    parsed = [[_number_or_none(row[c].strip()) for _, row in data] for c in range(len(header))]
    feature_cols = [
        c for c in range(len(header)) if c != t and any(v is not None for v in parsed[c])
    ]
    if not feature_cols:
        raise DataError(f"{where}: no numeric column besides the target '{_cell(target)}'")
    for c in feature_cols + ([t] if task == REGRESSION else []):
        for (line, row), value in zip(data, parsed[c], strict=True):
            if value is None:
                raise DataError(
                    f"{where}, line {line}, column '{_cell(header[c])}': "
                    f"'{_cell(row[c].strip())}' is not a number"
                )
    x = np.array([parsed[c] for c in feature_cols], dtype=np.float64).T
    features = tuple(_name(header[c]) for c in feature_cols)
    if task == REGRESSION:
        return x, np.array(parsed[t], dtype=np.float64), features, ()
    labels = [row[t].strip() for _, row in data]
    for line, label in zip((line for line, _ in data), labels, strict=True):
        if not label:
            raise DataError(f"{where}, line {line}, column '{_cell(target)}': empty class label")
    numeric = all(v is not None for v in parsed[t])
    keys = sorted(set(labels), key=(lambda s: float(s)) if numeric else str)
    if len(keys) < 2:
        raise DataError(
            f"{where}, column '{_cell(target)}': only one class ('{_cell(keys[0])}'); "
            "classification needs at least 2"
        )
    index = {k: i for i, k in enumerate(keys)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    return x, y, features, tuple(_name(k) for k in keys)


# -- the entry point -------------------------------------------------------------------------------


def data_task(spec: Mapping[str, Any]) -> str | None:
    """The task a named set fixes (None for a CSV file, where the loss decides)."""
    name = spec.get("name")
    if isinstance(name, str):
        key = name.strip().lower()
        if key in GENERATED:
            return GENERATED[key][0]
        if key in SKLEARN:
            return SKLEARN[key][1]
    return None


def load_data(
    spec: Mapping[str, Any],
    *,
    seed: int = 0,
    base_dir: str | Path | None = None,
    task: str | None = None,
) -> Dataset:
    """The ``[data]`` table (see :data:`DATA_KEYS`) as a split, standardised :class:`Dataset`.

    ``task`` is needed for a CSV file (``"regression"`` or ``"classification"``, from the loss);
    named sets know their own. ``base_dir`` anchors a relative ``path`` (the scenario's folder).
    """
    for key in spec:
        if key not in DATA_KEYS:
            raise DataError(
                f"unknown field '{key}' in [data]{closest(key, DATA_KEYS)}; "
                f"allowed: {', '.join(DATA_KEYS)}"
            )
    name, path = spec.get("name"), spec.get("path")
    if (name is None) == (path is None):
        raise DataError("[data] give either name (a built-in set) or path (a CSV file)")
    validation = _real("validation", spec.get("validation", 0.2), 0.0, 1.0, high_open=True)
    standardize = spec.get("standardize", True)
    if not isinstance(standardize, bool):
        raise DataError(f"[data] standardize must be true or false, got {standardize!r}")
    rng = np.random.default_rng(seed)
    image_shape = None
    classes: tuple[str, ...] = ()
    if path is not None:
        if not isinstance(path, str | Path) or not str(path).strip():
            raise DataError(f"[data] path must be a file name, got {path!r}")
        target = spec.get("target")
        if not isinstance(target, str) or not target.strip():
            raise DataError("[data] a CSV file needs target = the name of the column to predict")
        extra = [k for k in ("samples", "noise", "features", "classes") if k in spec]
        if extra:
            raise DataError(f"[data] {extra[0]} is for generated sets, not a CSV file")
        if task not in (REGRESSION, CLASSIFICATION):
            raise DataError(f"[data] unknown task {task!r} for a CSV file")
        file = Path(str(path)).expanduser()
        if not file.is_absolute() and base_dir is not None:
            file = Path(base_dir) / file
        x, y, features, classes = read_csv(file, target.strip(), task)
        label, target_name = _name(file.name), _name(target.strip())
    else:
        if not isinstance(name, str):
            raise DataError(f"[data] name must be a string, got {name!r}")
        key = name.strip().lower()
        if key in SKLEARN:
            extra = [k for k in ("samples", "noise", "features", "classes", "target") if k in spec]
            if extra:
                raise DataError(f"[data] {extra[0]} does not apply to the real set '{key}'")
            x, y, features, task, classes, image_shape = _sklearn_set(key)
        elif key in GENERATED:
            task, default_samples, default_noise = GENERATED[key]
            if "target" in spec:
                raise DataError("[data] target is for a CSV file, not a generated set")
            samples = _whole("samples", spec.get("samples", default_samples), 4)
            noise = _real("noise", spec.get("noise", default_noise), 0.0, 1e6)
            allowed_features = key in ("regression", "blobs")
            allowed_classes = key in ("spirals", "blobs")
            if "features" in spec and not allowed_features:
                raise DataError(f"[data] features is for regression and blobs, not '{key}'")
            if "classes" in spec and not allowed_classes:
                raise DataError(f"[data] classes is for spirals and blobs, not '{key}'")
            n_features = _whole("features", spec.get("features", 1 if key != "blobs" else 2), 1)
            n_classes = _whole("classes", spec.get("classes", 3 if key == "blobs" else 2), 2)
            if key == "regression":
                x, y = make_regression(samples, noise, n_features, rng)
            elif key == "moons":
                x, y = make_moons(samples, noise, rng)
            elif key == "spirals":
                x, y = make_spirals(samples, noise, n_classes, rng)
            elif key == "blobs":
                x, y = make_blobs(samples, noise, n_classes, n_features, rng)
            elif key == "xor":
                x, y = make_xor(samples, noise, rng)
            else:
                x, y = make_circles(samples, noise, rng)
            features = tuple(f"x{i + 1}" for i in range(x.shape[1]))
            if task == CLASSIFICATION:
                classes = tuple(str(c) for c in range(int(y.max()) + 1))
        else:
            names = [*GENERATED, *SKLEARN]
            raise DataError(
                f"unknown data set '{name}'{closest(key, names)}; choose one of: {', '.join(names)}"
            )
        label, target_name = key, "y"
    return split(
        label,
        x,
        y,
        features,
        target_name,
        task,
        classes,
        image_shape,
        validation,
        standardize,
        np.random.default_rng(seed + 1),
    )


def split(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    features: tuple[str, ...],
    target: str,
    task: str,
    classes: tuple[str, ...],
    image_shape: tuple[int, ...] | None,
    validation: float,
    standardize: bool,
    rng: np.random.Generator,
) -> Dataset:
    """Shuffle, hold out ``validation`` of the rows, standardise with the training rows' stats."""
    n = len(y)
    order = rng.permutation(n)
    n_val = round(validation * n)
    if validation > 0 and n_val == 0:
        n_val = 1
    if n - n_val < 1:
        raise DataError(f"[data] validation = {validation:g} leaves no training rows out of {n}")
    val, train = order[:n_val], order[n_val:]
    x_train, x_val = x[train], x[val]
    mean = std = None
    if standardize:
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # a constant feature stays 0 instead of NaN
        x_train = (x_train - mean) / std
        x_val = (x_val - mean) / std
    return Dataset(
        name,
        np.ascontiguousarray(x_train),
        y[train].copy(),
        np.ascontiguousarray(x_val),
        y[val].copy(),
        features,
        target,
        task,
        len(classes) if task == CLASSIFICATION else 0,
        classes,
        image_shape,
        mean,
        std,
    )
