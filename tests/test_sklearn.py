"""scikit-learn: wrt.wrap(estimator), .skops files, pickle refusal, npz softmax.

The estimators are fitted here (scikit-learn is in the dev environment); every
conversion is compared with ``predict`` / ``predict_proba`` (values) and with
float64 central differences of the same (first and second partials). skops is
optional: the tests that read ``.skops`` files skip without it, the message
without it is tested always.
"""

from __future__ import annotations

import gzip
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import wrt
from wrt.errors import UnsupportedEstimatorError
from wrt.importers.sklearn import class_column_names
from wrt.importers.sniff import sniff

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import (  # noqa: E402
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
RNG = np.random.default_rng(13)
X = RNG.normal(size=(120, 3)) * [1.0, 5.0, 0.2] + [0.0, 20.0, 1.0]
Z = (X - [0.0, 20.0, 1.0]) / [1.0, 5.0, 0.2]
Y = np.sin(Z[:, 0]) + Z[:, 1] * Z[:, 2]
# evaluation points, not in the training data (whose extremes are MinMaxScaler's
# clip bounds, where the one-sided derivatives differ)
XT = RNG.normal(size=(12, 3)) * [1.0, 5.0, 0.2] + [0.0, 20.0, 1.0]


def _quiet_fit(estimator, x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: short fits on purpose
        return estimator.fit(x, y)


def _mlp(cls, activation="tanh", **options):
    return cls(
        hidden_layer_sizes=(8, 6),
        activation=activation,
        max_iter=60,
        random_state=0,
        **options,
    )


def _predict(estimator, x: np.ndarray) -> np.ndarray:
    names = getattr(estimator, "feature_names_in_", None)
    data = pd.DataFrame(x, columns=list(names)) if names is not None else x
    method = getattr(estimator, "predict_proba", None) or estimator.predict
    return np.asarray(method(data), np.float64).reshape(len(x), -1)


def _fd_grad(estimator, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """(N, n_out, n_in) float64 central differences of predict / predict_proba."""
    columns = []
    for i in range(x.shape[1]):
        step = h * max(1.0, float(np.abs(x[:, i]).max()))
        up, down = x.copy(), x.copy()
        up[:, i] += step
        down[:, i] -= step
        columns.append(
            (_predict(estimator, up) - _predict(estimator, down)) / (2 * step)
        )
    return np.stack(columns, axis=2)


def _autograd(model: wrt.Model, x: np.ndarray) -> np.ndarray:
    points = torch.tensor(x, dtype=model.dtype, requires_grad=True)
    y = model(points)
    rows = [
        torch.autograd.grad(y[:, o].sum(), points, retain_graph=True)[0]
        for o in range(y.shape[1])
    ]
    return torch.stack(rows, dim=1).double().numpy()


ESTIMATORS = {
    "standard-tanh": lambda: make_pipeline(StandardScaler(), _mlp(MLPRegressor)),
    "minmax-relu": lambda: make_pipeline(MinMaxScaler(), _mlp(MLPRegressor, "relu")),
    "minmax-clip": lambda: make_pipeline(MinMaxScaler(clip=True), _mlp(MLPRegressor)),
    "maxabs-logistic": lambda: make_pipeline(
        MaxAbsScaler(), _mlp(MLPRegressor, "logistic")
    ),
    "robust-identity": lambda: make_pipeline(
        RobustScaler(), _mlp(MLPRegressor, "identity")
    ),
    "chain-passthrough": lambda: Pipeline(
        [
            ("a", StandardScaler(with_mean=False)),
            ("skip", "passthrough"),
            ("b", RobustScaler(with_centering=False)),
            ("mlp", _mlp(MLPRegressor)),
        ]
    ),
    "bare-regressor": lambda: _mlp(MLPRegressor),
    "poisson-exp": lambda: make_pipeline(
        StandardScaler(), _mlp(MLPRegressor, loss="poisson")
    ),
}


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_regressors_match_predict_and_its_differences(kind):
    target = np.exp(Y / 4) if kind == "poisson-exp" else Y  # poisson: y > 0
    estimator = _quiet_fit(ESTIMATORS[kind](), X, target)
    model = wrt.wrap(estimator)
    assert model.format == "sklearn" and model.runtime == "torch"
    assert model.dtype == torch.float64
    assert model.inputs == ("x1", "x2", "x3") and model.outputs == ("y",)
    x = XT
    with torch.no_grad():
        got = model(torch.tensor(x)).numpy()
    # same float64 arithmetic in another order: a few ulps per layer
    np.testing.assert_allclose(got, _predict(estimator, x), rtol=1e-12, atol=1e-12)
    # central differences with h ~ 1e-6: truncation ~1e-12, round-off ~1e-10
    np.testing.assert_allclose(
        _autograd(model, x), _fd_grad(estimator, x), rtol=1e-6, atol=1e-7
    )


def _ttr(transformer, regressor=None, **options):
    from sklearn.compose import TransformedTargetRegressor

    return TransformedTargetRegressor(
        regressor=regressor or _mlp(MLPRegressor), transformer=transformer, **options
    )


TARGETS = {
    "ttr-standard": lambda: _ttr(StandardScaler()),
    "ttr-minmax-pipeline": lambda: _ttr(
        MinMaxScaler(), make_pipeline(RobustScaler(), _mlp(MLPRegressor))
    ),
    "ttr-maxabs": lambda: _ttr(MaxAbsScaler()),
    "ttr-robust": lambda: _ttr(RobustScaler()),
    "ttr-none": lambda: _ttr(None),
    "grid-search": lambda: _grid(),
}


def _grid():
    from sklearn.model_selection import GridSearchCV

    pipe = make_pipeline(StandardScaler(), _mlp(MLPRegressor))
    return GridSearchCV(pipe, {"mlpregressor__alpha": [1e-4, 1e-2]}, cv=2)


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_target_transformers_and_searches(kind):
    estimator = _quiet_fit(TARGETS[kind](), X, 3.0 * Y + 40.0)
    model = wrt.wrap(estimator)
    assert model.outputs == ("y",)
    with torch.no_grad():
        got = model(torch.tensor(XT)).numpy()
    np.testing.assert_allclose(got, _predict(estimator, XT), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(
        _autograd(model, XT), _fd_grad(estimator, XT), rtol=1e-6, atol=1e-6
    )


def test_a_log_target_is_named_as_unsupported():
    estimator = _quiet_fit(
        _ttr(None, func=np.log, inverse_func=np.exp), X, np.exp(Y / 4)
    )
    with pytest.raises(
        UnsupportedEstimatorError, match="FunctionTransformer with func"
    ):
        wrt.wrap(estimator)


def test_derivative_calls_take_the_estimator_itself():
    estimator = _quiet_fit(make_pipeline(StandardScaler(), _mlp(MLPRegressor)), X, Y)
    direct = wrt.partials(estimator, XT, ["dy/dx2"], dtype="float64")
    wrapped = wrt.partials(wrt.wrap(estimator), XT, ["dy/dx2"], dtype="float64")
    torch.testing.assert_close(direct["dy/dx2"], wrapped["dy/dx2"])


def test_several_targets_are_y1_y2():
    estimator = _quiet_fit(_mlp(MLPRegressor), X, np.c_[Y, Y**2])
    model = wrt.wrap(estimator)
    assert model.outputs == ("y1", "y2")
    np.testing.assert_allclose(
        model(torch.tensor(X[:5])).detach().numpy(), estimator.predict(X[:5]), 1e-12
    )


CLASSIFIERS = {
    # classes, fit target, columns of predict_proba
    "three-strings": (
        ["high", "low", "mid"],
        lambda: np.array(["low", "mid", "high"])[np.digitize(Z[:, 0], [-0.4, 0.4])],
    ),
    "binary-ints": (["p_0", "p_1"], lambda: (Z[:, 0] > 0).astype(int)),
    "binary-strings": (
        ["no", "yes"],
        lambda: np.array(["no", "yes"])[(Z[:, 1] > 0).astype(int)],
    ),
    "multilabel": (["p_0", "p_1"], lambda: np.c_[Z[:, 0] > 0, Z[:, 1] > 0].astype(int)),
    "labels-not-names": (
        ["p_2nd", "p_setosa_v1"],
        lambda: np.array(["setosa v1", "2nd"])[(Z[:, 2] > 0).astype(int)],
    ),
}


@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
def test_classifiers_give_predict_proba_named_after_the_classes(kind):
    names, target = CLASSIFIERS[kind]
    estimator = _quiet_fit(
        make_pipeline(StandardScaler(), _mlp(MLPClassifier)), X, target()
    )
    model = wrt.wrap(estimator)
    assert model.outputs == tuple(names)
    x = XT
    with torch.no_grad():
        got = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, _predict(estimator, x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        _autograd(model, x), _fd_grad(estimator, x), rtol=1e-6, atol=1e-8
    )


def test_second_partials_are_exact_and_the_taylor_engine_runs():
    estimator = _quiet_fit(
        make_pipeline(StandardScaler(), _mlp(MLPClassifier)),
        X,
        np.array(["a", "b", "c"])[np.digitize(Z[:, 0] + Z[:, 1], [-0.5, 0.5])],
    )
    model = wrt.wrap(estimator)
    x = X[:6]
    specs = ["d2a/dx1^2", "d2b/dx1dx2", "d2c/dx3^2"]
    taylor = wrt.partials(model, x, specs, engine="taylor")
    autograd = wrt.partials(model, x, specs, engine="autograd")
    for spec in specs:
        np.testing.assert_allclose(
            taylor[spec].numpy(), autograd[spec].numpy(), rtol=1e-10, atol=1e-12
        )
    # d2a/dx1^2 against a second central difference of predict_proba (h = 1e-3 of
    # x1's unit scale: truncation ~1e-7, round-off ~1e-10)
    h = 1e-3
    up, down = x.copy(), x.copy()
    up[:, 0] += h
    down[:, 0] -= h
    second = (
        _predict(estimator, up) - 2 * _predict(estimator, x) + _predict(estimator, down)
    ) / h**2
    np.testing.assert_allclose(
        autograd["d2a/dx1^2"].numpy(), second[:, 0], rtol=1e-4, atol=1e-6
    )


def test_feature_names_from_a_dataframe_and_overrides():
    frame = pd.DataFrame(X, columns=["pressure", "temp (K)", "flow"])
    estimator = _quiet_fit(make_pipeline(MinMaxScaler(), _mlp(MLPRegressor)), frame, Y)
    model = wrt.wrap(estimator)
    assert model.inputs == ("pressure", "temp__K_", "flow")
    with torch.no_grad():
        got = model(torch.tensor(X[:4])).numpy()[:, 0]
    np.testing.assert_allclose(got, estimator.predict(frame[:4]), rtol=1e-12)
    renamed = wrt.wrap(estimator, inputs=["p", "T", "q"], outputs=["rate"])
    assert renamed.inputs == ("p", "T", "q") and renamed.outputs == ("rate",)
    partial = wrt.partials(renamed, X[:3], "drate/dT")
    assert partial["drate/dT"].shape == (3,)
    with pytest.raises(wrt.InvalidNameError):
        wrt.wrap(estimator, inputs=["p", "T"])


def test_class_names_that_clash_with_inputs_get_a_prefix():
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    estimator = _quiet_fit(
        _mlp(MLPClassifier), frame, np.array(["a", "z"])[(Z[:, 0] > 0).astype(int)]
    )
    assert wrt.wrap(estimator).outputs == ("p_a", "p_z")
    assert class_column_names(["x-1", "x_1"], set()) == ("y1", "y2")


def test_dtype_float32_and_float32_fits():
    estimator = _quiet_fit(make_pipeline(StandardScaler(), _mlp(MLPRegressor)), X, Y)
    single = wrt.wrap(estimator, dtype="float32")
    assert single.dtype == torch.float32
    got = single(torch.tensor(X[:5], dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(got[:, 0], estimator.predict(X[:5]), rtol=1e-5)
    fitted32 = _quiet_fit(
        _mlp(MLPRegressor), X.astype(np.float32), Y.astype(np.float32)
    )
    model = wrt.wrap(fitted32)
    assert model.dtype == torch.float32
    assert wrt.wrap(fitted32, dtype="float64").dtype == torch.float64


def test_the_estimator_is_left_as_it_was():
    estimator = _quiet_fit(make_pipeline(StandardScaler(), _mlp(MLPRegressor)), X, Y)
    before = {k: repr(v) for k, v in vars(estimator[-1]).items()}
    keys = set(vars(estimator))
    model = wrt.wrap(estimator)
    with torch.no_grad():
        model.module[1].weight.add_(1.0)  # the converted copy owns its weights
    assert set(vars(estimator)) == keys
    assert {k: repr(v) for k, v in vars(estimator[-1]).items()} == before


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: _fit_tree(), r"cannot convert DecisionTreeRegressor"),
        (
            lambda: _quiet_fit(
                make_pipeline(PolynomialFeatures(), _mlp(MLPRegressor)), X, Y
            ),
            r"step 'polynomialfeatures' \(PolynomialFeatures\)",
        ),
        (
            lambda: make_pipeline(StandardScaler()).fit(X),
            r"step 'standardscaler' \(StandardScaler\)",
        ),
    ],
)
def test_unsupported_estimators_are_named(make, says):
    with pytest.raises(UnsupportedEstimatorError, match=says) as excinfo:
        wrt.wrap(make())
    message = str(excinfo.value)
    assert "MLPRegressor or MLPClassifier" in message and "StandardScaler" in message
    assert isinstance(excinfo.value, TypeError | ValueError)


def _fit_tree():
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(max_depth=2).fit(X, Y)


@pytest.mark.parametrize("kind", ["linear", "normalizer-step"])
def test_estimators_that_onnx_converts_point_there(kind):
    from sklearn.preprocessing import Normalizer

    estimator = (
        LinearRegression().fit(X, Y)
        if kind == "linear"
        else _quiet_fit(make_pipeline(Normalizer(), _mlp(MLPRegressor)), X, Y)
    )
    with pytest.raises(UnsupportedEstimatorError, match=r"skl2onnx\.to_onnx"):
        wrt.wrap(estimator)


def test_an_unfitted_estimator_says_fit_first():
    with pytest.raises(wrt.ModelError, match=r"not fitted.*fit\(X, y\)"):
        wrt.wrap(_mlp(MLPRegressor))
    with pytest.raises(wrt.ModelError, match="not fitted"):
        wrt.wrap(make_pipeline(StandardScaler(), _mlp(MLPRegressor)))


def test_a_conversion_that_disagrees_with_predict_is_reported():
    estimator = _quiet_fit(_mlp(MLPRegressor), X, Y)
    estimator.predict = lambda data: np.zeros(len(data))  # a stand-in that lies
    with pytest.raises(wrt.ModelError, match="differs from scikit-learn"):
        wrt.wrap(estimator)


# --- npz weights with a softmax output ---------------------------------------------


def test_npz_of_an_mlpclassifier_with_softmax(tmp_path):
    target = np.array(["a", "b", "c"])[np.digitize(Z[:, 0], [-0.4, 0.4])]
    estimator = _quiet_fit(_mlp(MLPClassifier), X, target)
    arrays = {}
    for i, (w, b) in enumerate(
        zip(estimator.coefs_, estimator.intercepts_, strict=True), start=1
    ):
        arrays[f"W{i}"], arrays[f"b{i}"] = w, b
    np.savez(
        tmp_path / "clf.npz",
        activations=np.array(["tanh", "tanh", "softmax"]),
        **arrays,
    )
    model = wrt.load(tmp_path / "clf.npz", outputs=["a", "b", "c"])
    with torch.no_grad():
        got = model(torch.tensor(X[:8])).numpy()
    np.testing.assert_allclose(got, estimator.predict_proba(X[:8]), rtol=1e-12)
    taylor = wrt.partials(model, X[:4], ["d2b/dx1dx2"], engine="taylor")
    autograd = wrt.partials(model, X[:4], ["d2b/dx1dx2"], engine="autograd")
    np.testing.assert_allclose(
        taylor["d2b/dx1dx2"].numpy(), autograd["d2b/dx1dx2"].numpy(), rtol=1e-10
    )


@pytest.mark.parametrize(
    "name", ["selu", "relu6", "log_softmax", "mish", "hard_sigmoid"]
)
def test_npz_known_functions_get_no_did_you_mean(tmp_path, name):
    np.savez(tmp_path / "m.npz", W1=np.ones((2, 1)), activations=np.array([name]))
    with pytest.raises(wrt.ModelFormatError) as excinfo:
        wrt.load(tmp_path / "m.npz")
    message = str(excinfo.value)
    assert f"'{name}' is not supported" in message and "Did you mean" not in message
    assert "softmax" in message  # the valid names are listed


def test_npz_typo_of_softmax_suggests_softmax(tmp_path):
    np.savez(tmp_path / "m.npz", W1=np.ones((2, 1)), activations=np.array(["sofmax"]))
    with pytest.raises(wrt.ModelFormatError, match="Did you mean 'softmax'"):
        wrt.load(tmp_path / "m.npz")


# --- files: pickle / joblib refused, skops ---------------------------------------


class _WritesAFile:
    """Unpickling this touches a file: proof that the pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _fitted():
    return _quiet_fit(make_pipeline(StandardScaler(), _mlp(MLPRegressor)), X, Y)


def _joblib(path: Path, compress) -> Path:
    joblib = pytest.importorskip("joblib")
    joblib.dump(_fitted(), path, compress=compress)
    return path


@pytest.mark.parametrize(
    "write",
    [
        lambda p: p.write_bytes(pickle.dumps(_fitted())),
        lambda p: p.write_bytes(pickle.dumps(_fitted(), protocol=2)),
        lambda p: p.write_bytes(pickle.dumps(_fitted(), protocol=0)),
        lambda p: p.write_bytes(pickle.dumps(_fitted(), protocol=1)),
        lambda p: p.write_bytes(gzip.compress(pickle.dumps(_fitted()))),
        lambda p: _joblib(p, 0),
        lambda p: _joblib(p, 3),
        lambda p: _joblib(p, ("gzip", 3)),
        lambda p: _joblib(p, ("bz2", 3)),
        lambda p: _joblib(p, ("xz", 3)),
        lambda p: _joblib(p, ("lzma", 3)),
    ],
    ids=[
        *("pickle", "pickle2", "pickle0", "pickle1", "gzip"),
        *("joblib", "zlib", "jgzip", "bz2", "xz", "lzma"),
    ],
)
def test_pickled_and_joblib_estimators_are_refused_with_skops_advice(tmp_path, write):
    path = tmp_path / "model.bin"
    write(path)
    assert sniff(path).kind == "sklearn-pickle"
    with pytest.raises(wrt.UnsupportedFormatError) as excinfo:
        wrt.load(path)
    message = str(excinfo.value)
    assert "never unpickles" in message
    assert "skops.io.dump(estimator, 'model.skops')" in message
    assert "skl2onnx" in message and "wrt.wrap(estimator)" in message
    assert "torch" not in message


def test_a_joblib_file_of_plain_arrays_is_refused_too(tmp_path):
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "arrays.joblib"
    joblib.dump({"W1": np.ones((2, 3))}, path)
    found = sniff(path)
    assert found.kind == "sklearn-pickle" and "joblib file" in found.description
    with pytest.raises(wrt.UnsupportedFormatError, match="never unpickles"):
        wrt.load(path)


def test_a_malicious_sklearn_pickle_never_runs(tmp_path):
    marker = tmp_path / "ran"
    payload = {
        "model": "sklearn.neural_network.MLPRegressor",
        "x": _WritesAFile(marker),
    }
    path = tmp_path / "model.joblib"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(wrt.UnsupportedFormatError, match="never unpickles"):
        wrt.load(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the payload is live
    assert marker.exists()


def test_skops_files_without_skops_say_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    path = CORPUS / "skops-scaler-mlp.skops"
    assert sniff(path).kind == "skops"
    with pytest.raises(
        wrt.UnsupportedFormatError, match=r"pip install 'wrt\[sklearn\]'"
    ):
        wrt.load(path)


def test_skops_corpus_files_load_with_their_feature_and_class_names():
    pytest.importorskip("skops")
    model = wrt.load(CORPUS / "skops-mlp-classifier.skops")
    assert model.format == "skops" and model.dtype == torch.float64
    assert model.inputs == ("pressure", "temperature", "flow")
    assert model.outputs == ("high", "low", "mid")


def test_skops_files_with_untrusted_types_are_refused(tmp_path):
    sio = pytest.importorskip("skops.io")
    from sklearn.ensemble import RandomForestRegressor

    path = tmp_path / "forest.skops"
    sio.dump(RandomForestRegressor(n_estimators=2, random_state=0).fit(X, Y), path)
    with pytest.raises(wrt.UnsupportedFormatError, match=r"does not trust: .*Tree"):
        wrt.load(path)


def test_skops_files_of_classes_skops_trusts_are_refused_too(tmp_path):
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "linear.skops"
    sio.dump(LinearRegression().fit(X, Y), path)  # skops trusts it by default
    assert sio.get_untrusted_types(file=path) == []
    with pytest.raises(wrt.UnsupportedFormatError, match=r"LinearRegression"):
        wrt.load(path)


def test_skops_files_with_functions_are_refused(tmp_path):
    sio = pytest.importorskip("skops.io")
    estimator = _quiet_fit(
        _ttr(None, func=np.log, inverse_func=np.exp), X, np.exp(Y / 4)
    )
    path = tmp_path / "log.skops"
    sio.dump(estimator, path)
    with pytest.raises(wrt.UnsupportedFormatError, match=r"numpy\.log"):
        wrt.load(path)


def test_skops_target_regressor_with_a_scaler_loads(tmp_path):
    sio = pytest.importorskip("skops.io")
    estimator = _quiet_fit(_ttr(StandardScaler()), X, Y)
    path = tmp_path / "ttr.skops"
    sio.dump(estimator, path)
    model = wrt.load(path)
    with torch.no_grad():
        got = model(torch.tensor(XT)).numpy()[:, 0]
    np.testing.assert_allclose(got, estimator.predict(XT), rtol=1e-12)


def test_a_damaged_skops_file(tmp_path):
    pytest.importorskip("skops")
    whole = (CORPUS / "skops-scaler-mlp.skops").read_bytes()
    path = tmp_path / "cut.skops"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(wrt.ModelFormatError):
        wrt.load(path)
