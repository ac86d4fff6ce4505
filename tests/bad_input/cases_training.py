"""Bad input of training: ``wrt train CONFIG.toml`` and ``wrt.fit`` with its terms.

Every config case starts from a small valid config (:data:`BASE`) with one edit,
beside an earlier run's folder ``out/`` that must stay byte-for-byte intact; each
asserts exit 2 and a message naming ``table.key`` (or the file) and what is valid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import wrt
from bad_input.harness import Api, Cli, write
from wrt.errors import (
    DataError,
    ExpressionError,
    NotATermError,
    SpecError,
    UnboundedLossError,
)

BASE = """
[model]
inputs = ["x", "t"]
outputs = ["u"]
hidden = [4]

[[terms]]
kind = "residual"
expr = "du/dt + u*du/dx"
points = { sampler = "sobol", n = 16, box = { x = [-1, 1], t = [0, 1] } }

[[terms]]
kind = "match"
target = "u"
values = "-sin(pi*x)"
points = { sampler = "uniform", n = 8, box = { x = [-1, 1], t = [0, 0] } }

[train]
optimizer = "adam"
steps = 3
lr = 1e-3

[output]
folder = "out"
"""


def _earlier_run(folder) -> None:
    """An earlier run's folder, which no refused run may touch."""
    write(folder, "out/history.csv", "step,loss\n0,1.0\n")
    write(folder, "out/model.pt2", "earlier model")
    write(folder, "out/checkpoint.pt", "earlier checkpoint")


def _train(old: str = "", new: str = "", *, append: str = "", earlier: bool = True):
    """argv of ``wrt train`` on BASE with ``old`` replaced by ``new``."""

    def argv(folder):
        assert old in BASE, old
        text = (BASE.replace(old, new, 1) if old else BASE) + append
        if earlier:
            _earlier_run(folder)
        return ["train", str(write(folder, "run.toml", text))]

    return argv


def _config_case(id_, old, new, says, **kw):
    return Cli(id_, _train(old, new, **kw), 2, says)


def _with_file(name, content, old, new, *, append=""):
    """argv of ``wrt train`` on an edited BASE beside a file ``name``."""
    edit = _train(old, new, append=append)

    def argv(folder):
        write(folder, name, content)
        return edit(folder)

    return argv


def _diverging(folder):
    """A learning rate so large that the loss overflows at the second step."""
    text = BASE.replace("lr = 1e-3", "lr = 1e300").replace(
        'folder = "out"', 'folder = "fresh"'
    )
    return ["train", str(write(folder, "run.toml", text))]


def _single_terms_table(folder):
    """``[terms]`` (one table) where ``[[terms]]`` (an array of tables) goes."""
    head, rest = BASE.split("[[terms]]", 1)
    first = rest.split("[[terms]]", 1)[0]
    train = BASE[BASE.index("[train]") :]
    _earlier_run(folder)
    return ["train", str(write(folder, "run.toml", head + "[terms]" + first + train))]


def _model():
    return wrt.mlp(["x"], ["u"], hidden=[3])


def _x(n: int = 6):
    return torch.linspace(0, 1, n, dtype=torch.float64)[:, None]


def _fit(terms, **kw):
    return lambda f: wrt.fit(_model(), terms() if callable(terms) else terms, **kw)


def _match():
    return wrt.match("u", _x(), np.zeros(6))


def _rows_without_labels(folder):
    return wrt.fit(_model(), [wrt.rows(pd.DataFrame({"x": [0.0, 1.0]}))])


CASES = [
    # -- unknown keys, in every table, with the closest valid key ------------
    _config_case("train-unknown-key-model", "hidden = [4]", "hiden = [4]",
                 r"unknown key 'hiden' in \[model\].*'hidden'"),
    _config_case("train-unknown-key-output", 'folder = "out"', 'folde = "out"',
                 r"unknown key 'folde' in \[output\].*'folder'"),
    _config_case("train-unknown-key-train", "lr = 1e-3", "learning_rate = 1e-3",
                 r"unknown key 'learning_rate' in \[train\].*valid keys.*lr"),
    _config_case("train-unknown-key-term", 'expr = "du/dt + u*du/dx"',
                 'expr = "du/dt + u*du/dx"\nweigth = 2',
                 r"unknown key 'weigth' in \[terms\[1\] \(residual\)\].*'weight'"),
    _config_case("train-unknown-key-points", "sampler = \"sobol\"",
                 "smapler = \"sobol\"",
                 r"unknown key 'smapler' in \[terms\[1\]\.points\].*'sampler'"),
    _config_case("train-unknown-table", "[output]", "[outputs]",
                 r"unknown table 'outputs'.*'output'"),
    _config_case("train-term-kind", 'kind = "residual"', 'kind = "pde"',
                 r"terms\[1\]\.kind = \"pde\".*residual"),
    # -- values of the wrong type or range ------------------------------------
    _config_case("train-hidden-int", "hidden = [4]", "hidden = 8",
                 r"model\.hidden = 8.*list of layer widths"),
    _config_case("train-hidden-text", "hidden = [4]", 'hidden = [8, "a"]',
                 r"model\.hidden = \[8, \"a\"\].*whole numbers >= 1"),
    _config_case("train-hidden-zero", "hidden = [4]", "hidden = [0]",
                 r"model\.hidden = \[0\]"),
    _config_case("train-lr-text", "lr = 1e-3", 'lr = "fast"',
                 r"train\.lr = \"fast\".*number > 0"),
    _config_case("train-lr-negative", "lr = 1e-3", "lr = -1.0",
                 r"train\.lr = -1\.0.*> 0"),
    _config_case("train-lr-bool", "lr = 1e-3", "lr = true",
                 r"train\.lr = true.*number"),
    _config_case("train-steps-negative", "steps = 3", "steps = -3",
                 r"train\.steps = -3.*whole number >= 1"),
    _config_case("train-steps-fraction", "steps = 3", "steps = 5.7",
                 r"train\.steps = 5\.7.*whole number"),
    _config_case("train-steps-bool", "steps = 3", "steps = true",
                 r"train\.steps = true.*whole number"),
    _config_case("train-optimizer", 'optimizer = "adam"', 'optimizer = "sgd"',
                 r"train\.optimizer = \"sgd\".*'adam'.*'lbfgs'"),
    _config_case("train-population", "lr = 1e-3", "lr = 1e-3\npopulation = 1",
                 r"train\.population = 1.*>= 2"),
    _config_case("train-checkpoint-every", "lr = 1e-3",
                 "lr = 1e-3\ncheckpoint_every = 2.5",
                 r"train\.checkpoint_every = 2\.5"),
    _config_case("train-lbfgs-steps-ignored", "lr = 1e-3",
                 "lr = 1e-3\nlbfgs_steps = 50",
                 r"train\.lbfgs_steps = 50.*'adam\+lbfgs', not by 'adam'"),
    _config_case("train-lr-ignored", 'optimizer = "adam"', 'optimizer = "cma"',
                 r"train\.lr = 0\.001.*not by 'cma'"),
    _config_case("train-faces-without-boundary", "n = 16", 'n = 16, faces = ["x"]',
                 r"terms\[1\]\.points\.faces.*boundary = true"),
    _config_case("train-hidden-with-file", 'inputs = ["x", "t"]',
                 'file = "m.pt2"\ninputs = ["x", "t"]',
                 r"model\.hidden = \[4\].*model read from model\.file"),
    _config_case("train-activation", "hidden = [4]",
                 'hidden = [4]\nactivation = "swish"',
                 r"model\.activation = \"swish\".*'tanh'"),
    _config_case("train-dtype", "hidden = [4]", 'hidden = [4]\ndtype = "float16"',
                 r"model\.dtype = \"float16\".*'float32', 'float64'"),
    _config_case("train-inputs-not-names", 'inputs = ["x", "t"]', 'inputs = "x"',
                 r"model\.inputs = \"x\".*list of distinct names"),
    _config_case("train-weight-negative", 'expr = "du/dt + u*du/dx"',
                 'expr = "du/dt + u*du/dx"\nweight = -1',
                 r"terms\[1\]\.weight = -1.*>= 0"),
    _config_case("train-n-zero", "n = 16", "n = 0",
                 r"terms\[1\]\.points\.n = 0.*from 1 to"),
    _config_case("train-sampler", 'sampler = "sobol"', 'sampler = "halton"',
                 r"terms\[1\]\.points\.sampler = \"halton\".*'sobol'"),
    _config_case("train-box-reversed", "x = [-1, 1], t = [0, 1]",
                 "x = [1, -1], t = [0, 1]",
                 r"terms\[1\]\.points\.box\.x = \[1, -1\].*low must be <= high"),
    _config_case("train-box-missing-input", "x = [-1, 1], t = [0, 1]",
                 "x = [-1, 1]", r"terms\[1\]\.points\.box.*missing: t"),
    _config_case("train-box-not-interval", "x = [-1, 1], t = [0, 1]",
                 "x = [-1, 1, 2], t = [0, 1]",
                 r"terms\[1\]\.points\.box\.x = \[-1, 1, 2\].*two finite numbers"),
    _config_case("train-boundary-not-bool", "n = 16", 'n = 16, boundary = "yes"',
                 r"terms\[1\]\.points\.boundary = \"yes\".*true or false"),
    _config_case("train-values-bool", 'values = "-sin(pi*x)"', "values = true",
                 r"terms\[2\]\.values = true"),
    _config_case("train-term-missing-expr", 'expr = "du/dt + u*du/dx"', "",
                 r"terms\[1\]\.expr is missing"),
    _config_case("train-points-missing-n", "n = 16, ", "",
                 r"terms\[1\]\.points\.n is missing"),
    _config_case("train-column-needs-file", 'values = "-sin(pi*x)"',
                 'values = { column = "u" }', r"terms\[2\]\.values.*from a file"),
    # -- files the config names -------------------------------------------------
    _config_case("train-model-file-missing",
                 'inputs = ["x", "t"]\noutputs = ["u"]\nhidden = [4]',
                 'file = "nope.pt2"', r"model\.file = \"nope\.pt2\".*does not exist"),
    _config_case("train-rows-file-missing", "",
                 "", r"terms\[3\]\.file = \"data\.csv\".*does not exist",
                 append='\n[[terms]]\nkind = "rows"\nfile = "data.csv"\n'),
    _config_case("train-points-file-missing", "sampler = \"sobol\", n = 16, "
                 "box = { x = [-1, 1], t = [0, 1] }", 'file = "pts.csv"',
                 r"terms\[1\]\.points\.file = \"pts\.csv\".*does not exist"),
    Cli("train-no-config", lambda f: ["train", str(f / "missing.toml")], 2,
        r"no config file at .*missing\.toml"),
    _config_case("train-broken-toml", "", "", r"not valid TOML",
                 append="\n[[terms]\n"),
    Cli("train-single-terms-table", _single_terms_table, 2,
        r"at least one \[\[terms\]\] table \(with double brackets"),
    Cli("train-model-file-garbage", _with_file(
            "m.pt2", "garbage", 'inputs = ["x", "t"]\noutputs = ["u"]\nhidden = [4]',
            'file = "m.pt2"'), 2,
        r"model\.file = \"m\.pt2\".*not a model file"),
    Cli("train-rows-file-empty", _with_file(
            "data.csv", "", "", "",
            append='\n[[terms]]\nkind = "rows"\nfile = "data.csv"\n'), 2,
        r"terms\[3\] \(rows\).*data\.csv"),
    Cli("train-rows-label-unknown", _with_file(
            "data.csv", "x,t,label,value\n1,0,w,2\n", "", "",
            append='\n[[terms]]\nkind = "rows"\nfile = "data.csv"\n'), 2,
        r"terms\[3\] \(rows\).*'w'"),
    Cli("train-points-file-lacks-input", _with_file(
            "p.csv", "x,s\n1,2\n",
            'sampler = "sobol", n = 16, box = { x = [-1, 1], t = [0, 1] }',
            'file = "p.csv"'), 2, r"terms\[1\] \(residual\).*lack column.*t"),
    _config_case("train-values-not-finite", 'values = "-sin(pi*x)"',
                 'values = "log(x)"', r"terms\[2\] \(match\).*NaN or Inf"),
    # a diverging run keeps its last finite parameters in a checkpoint (new file)
    Cli("train-loss-diverges", _diverging, 2,
        r"loss of term .* is (inf|nan).*lower \[train\] lr.*--resume",
        new_files=True),
    # -- terms that do not fit the model: named by their table --------------------
    _config_case("train-expr-syntax", 'expr = "du/dt + u*du/dx"',
                 'expr = "du/dt + * u"', r"terms\[1\] \(residual\).*du/dt \+ \* u"),
    _config_case("train-expr-unknown-input", 'expr = "du/dt + u*du/dx"',
                 'expr = "du/dt + u*du/dy"', r"terms\[1\] \(residual\).*du/dy"),
    _config_case("train-match-unknown-target", 'target = "u"', 'target = "v"',
                 r"terms\[2\] \(match\).*'v'"),
    _config_case("train-objective-unbounded", 'kind = "residual"',
                 'kind = "objective"', r"terms\[1\] \(objective\).*bounded below"),
    # -- the output folder ---------------------------------------------------------
    Cli("train-earlier-run-refused", _train(), 2,
        r"out holds an earlier run.*--overwrite.*--resume"),
    Cli("train-resume-and-overwrite", lambda f: [*_train()(f), "--resume",
                                                  "--overwrite"], 2,
        r"--resume.*--overwrite.*one of them"),
    Cli("train-folder-under-a-file",
        lambda f: (write(f, "afile", "x"),
                   _train('folder = "out"', 'folder = "afile/run"')(f))[1],
        2, r"lies under .*afile, which is a file"),
    Cli("train-folder-is-a-file",
        lambda f: (write(f, "afile", "x"),
                   _train('folder = "out"', 'folder = "afile"')(f))[1],
        2, r"afile is a file, not a folder"),
    Cli("train-resume-without-checkpoint",
        lambda f: [*_train('folder = "out"', 'folder = "fresh"')(f), "--resume"],
        2, r"--resume: no checkpoint in .*fresh"),
    Cli("train-resume-foreign-checkpoint",
        lambda f: [*_train()(f), "--resume"], 2,
        r"checkpoint\.pt is not a readable wrt checkpoint.*--overwrite"),
    # -- the Python API -------------------------------------------------------------
    Api("fit-non-term-in-list", _fit(lambda: [_match(), "du/dx"]), NotATermError,
        r"terms\[1\] is a str, not a term"),
    Api("fit-non-term-nested", _fit(lambda: [[_match(), 3]]), NotATermError,
        r"terms\[0\]\[1\] is a int"),
    Api("fit-terms-a-string", _fit("du/dx"), NotATermError, r"not str"),
    Api("fit-steps-fraction", _fit(lambda: [_match()], steps=5.7), DataError,
        r"steps must be a whole number >= 0, not 5\.7"),
    Api("fit-steps-negative", _fit(lambda: [_match()], steps=-3), DataError,
        r"steps must be >= 0, not -3"),
    Api("fit-lr-text", _fit(lambda: [_match()], lr="fast"), DataError,
        r"lr must be a number > 0, not 'fast'"),
    Api("fit-lr-nan", _fit(lambda: [_match()], lr=float("nan")), DataError,
        r"lr must be a finite number > 0, not nan"),
    Api("fit-population-one", _fit(lambda: [_match()], optimizer="pso",
                                   population=1), DataError, r"population.*>= 2"),
    Api("fit-unknown-optimizer", _fit(lambda: [_match()], optimizer="sgd"),
        DataError, r"unknown optimizer 'sgd'.*adam"),
    Api("fit-no-terms", _fit([]), DataError, r"no terms"),
    Api("residual-syntax", _fit(lambda: [wrt.residual("du/dx +", _x())]),
        ExpressionError, r"du/dx \+"),
    Api("objective-unbounded", _fit(lambda: [wrt.objective("du/dx", _x())]),
        UnboundedLossError, r"not provably bounded below.*wrt\.residual"),
    Api("match-unknown-spec", _fit(lambda: [wrt.match("du/dz", _x(), np.zeros(6))]),
        SpecError, r"z"),
    Api("match-wrong-count", _fit(lambda: [wrt.match("u", _x(), np.zeros(5))]),
        DataError, r"5 values for 6 points"),
    Api("rows-no-labels", _rows_without_labels, DataError, r"no label columns"),
]  # fmt: skip
