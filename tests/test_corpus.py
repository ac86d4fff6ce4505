"""The corpus of real exports through ``wrt.load``, and the coverage table it measures.

Every ``tests/fixtures/corpus/*.ref.npz`` (written by ``fixtures/corpus.py``'s
``save_entry`` from a ``fixtures/make_corpus_*.py`` generator, run by ``make
fixtures``) is one model file and the source framework's numbers. Per entry:

- ``expect="refused"``: ``wrt.load`` raises a :class:`wrt.WrtError` whose message
  matches the entry's ``refusal`` pattern;
- otherwise the file loads with its ``load_options``, with the reference's input and
  output names; values and gradients (default engine) match the source framework
  at the entry's tolerance, relative to the largest reference value;
- ``expect="converted"``: the model is plain torch (``Model.runtime == "torch"``);
  in float64 its first partials agree with the float32 ones at float32 tolerance
  and two second partials by autograd (a pure and a mixed one) with float64
  central differences of its exact gradient; the Taylor engine either agrees with
  those on the mixed one or stops at an operation without a rule, and the table
  says which;
- ``expect="source"``: the model runs through its source framework
  (``Model.runtime != "torch"``) and still matches.

Inputs listed in the entry's ``integer_inputs`` (token ids feeding an Embedding)
are not differentiated along. Formats whose optional packages are missing here
(skops, TensorFlow) are skipped, and their table cells kept as committed.

``docs/coverage.md`` is generated from these measurements; the test fails when the
committed page differs and says how to regenerate it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import wrt
from corpus_table import Cell, Outcome, clean, merge, parse, render
from wrt.spec import Partial

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
COVERAGE = ROOT / "docs" / "coverage.md"
ENTRIES = sorted(CORPUS.glob("*.ref.npz"))
REGENERATE = "WRT_WRITE_COVERAGE=1 python -m pytest tests/test_corpus.py"

#: Optional packages a format needs at load time (absent: the entry is skipped).
NEEDS = {"skops": ("skops",), "tf-savedmodel": ("tensorflow", "tf2onnx")}

# float64 second partials against central differences of the exact float64
# gradient: with a step h = 1e-5 (times the coordinate's scale) the truncation
# error is ~h^2 / 6 |f'''| ~ 1e-11 and the round-off ~1e-16 |f'| / h ~ 1e-11, both
# far below 1e-6 of the largest first or second partial; a conversion error is O(1).
FD_STEP = 1e-5
FD_RTOL = 1e-6
# Taylor against autograd, float64 on the same converted module (a few ulps per op).
TAYLOR_RTOL = 1e-9


def _formats() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location(
        "corpus_formats", ROOT / "fixtures" / "corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.FORMATS)


def _reference(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path) as ref:
        arrays = {key: ref[key] for key in ref.files}
    return arrays, json.loads(str(arrays["meta"]))


def _within(got, want, atol: float, rtol: float, what: str) -> str | None:
    """None when ``|got - want| <= atol + rtol * max|want|``, else the failure."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"{what}: shape {got.shape} != {want.shape}"
    allowed = atol + rtol * float(np.abs(want).max(initial=0.0))
    error = float(np.abs(got - want).max(initial=0.0))
    if not error <= allowed:  # NaN fails too
        return f"{what}: max error {error:.3g} > {allowed:.3g}"
    return None


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _first(
    model: wrt.Model, x: torch.Tensor, names: list[str], **options
) -> np.ndarray:
    """(N, n_out, len(names)) first partials."""
    rows = [[Partial(o, {n: 1}) for n in names] for o in model.outputs]
    got = wrt.partials(model, x, [p for row in rows for p in row], **options)
    return np.stack([np.stack([_numpy(got[p]) for p in row], 1) for row in rows], 1)


def measure(path: Path) -> Outcome:
    """Load one entry and run every check; failures are collected, not raised."""
    ref, meta = _reference(path)
    outcome = Outcome(
        stem=path.name[: -len(".ref.npz")],
        architecture=meta["architecture"],
        format=meta["format"],
        expect=meta["expect"],
    )
    missing = [p for p in NEEDS.get(meta["format"], ()) if not _importable(p)]
    if missing:
        outcome.status = "unavailable"
        outcome.note = f"needs {', '.join(missing)}"
        return outcome
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check(outcome, ref, meta, path.parent)
    for w in caught:
        line = f"{w.category.__name__}: {clean(str(w.message), 160)}"
        if issubclass(w.category, wrt.WrtWarning):
            outcome.warnings.append(line)
        else:
            outcome.failures.append(f"unexpected warning {line}")
    return outcome


def _importable(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _check(
    outcome: Outcome, ref: dict[str, np.ndarray], meta: dict, folder: Path
) -> None:
    fail = outcome.failures
    try:
        model = wrt.load(folder / meta["file"], **meta["load_options"])
    except wrt.WrtError as exc:
        outcome.status, outcome.note = "refused", clean(str(exc))
        if meta["expect"] != "refused":
            fail.append(f"refused: {outcome.note}")
        elif not re.search(meta["refusal"], str(exc)):
            fail.append(f"refusal does not match {meta['refusal']!r}: {outcome.note}")
        return
    except Exception as exc:  # noqa: BLE001 - a crash is what the table must show
        fail.append(f"load crashed: {type(exc).__name__}: {clean(str(exc))}")
        return
    if meta["expect"] == "refused":
        fail.append("loaded, though the entry expects a refusal")
    outcome.status = "converted" if model.runtime == "torch" else "source"
    if meta["expect"] in ("converted", "source") and outcome.status != meta["expect"]:
        fail.append(f"runtime {model.runtime!r}, expected {meta['expect']}")
    try:
        _compare(outcome, model, ref, meta)
    except Exception as exc:  # noqa: BLE001 - any crash is a failure of the entry
        fail.append(f"crashed: {type(exc).__name__}: {clean(str(exc))}")


def _compare(outcome: Outcome, model, ref, meta) -> None:
    fail = outcome.failures
    for kind in ("input", "output"):
        got, want = list(getattr(model, f"{kind}s")), list(ref[f"{kind}_names"])
        if got != want:
            fail.append(f"{kind} names {got} != {want}")
    if fail:
        return
    tolerance = meta["tolerance"]
    integer = set(meta.get("integer_inputs", []))
    names = [n for n in model.inputs if n not in integer]
    columns = [model.inputs.index(n) for n in names]
    x = torch.from_numpy(ref["points"]).to(model.dtype or torch.float32)
    values = _numpy(model(x))
    grad = _first(model, x, names)
    for problem in (
        _within(values, ref["values"], *tolerance["values"], "values"),
        _within(grad, ref["grad"][:, :, columns], *tolerance["grad"], "gradients"),
    ):
        if problem:
            fail.append(problem)
    if outcome.status == "converted" and names:
        _float64(outcome, model.converted("float64"), ref, names, grad, tolerance)


def _float64(outcome: Outcome, model, ref, names, grad32, tolerance) -> None:
    """First partials vs float32, second vs central differences, Taylor vs autograd."""
    fail = outcome.failures
    x = torch.from_numpy(ref["points"]).double()
    grad = _first(model, x, names)
    problem = _within(grad, grad32, *tolerance["grad"], "float64 vs float32 gradients")
    if problem:
        fail.append(problem)
    out, a = model.outputs[0], names[0]
    b = names[1] if len(names) > 1 else names[0]
    pure, mixed = Partial(out, {a: 2}), Partial(out, {a: 1, b: 1})
    second = wrt.partials(model, x, [pure, mixed], engine="autograd")
    first = Partial(out, {a: 1})
    steps = []
    for name in (a, b):
        j = model.inputs.index(name)
        h = FD_STEP * max(1.0, float(x[:, j].abs().max()))
        step = torch.zeros_like(x[0])
        step[j] = h
        steps.append((step, h))
    shifted = torch.cat([x + s for s, _ in steps] + [x - s for s, _ in steps])
    g = _numpy(wrt.partials(model, shifted, first, engine="autograd")[first])
    g = g.reshape(4, len(x))
    scale = max(float(np.abs(grad).max()), 1e-300)
    for k, (partial, (_, h)) in enumerate(zip((pure, mixed), steps, strict=True)):
        difference = (g[k] - g[k + 2]) / (2 * h)
        exact = _numpy(second[partial])
        bound = FD_RTOL * max(scale, float(np.abs(exact).max()))
        error = float(np.abs(exact - difference).max())
        if not error <= bound:
            fail.append(f"{partial} vs differences: {error:.3g} > {bound:.3g}")
    try:
        taylor = wrt.partials(model, x, mixed, engine="taylor")[mixed]
    except wrt.EngineError as exc:
        missing = re.search(r"no Taylor rule for ((?:aten\.[\w.]+(?:, )?)+)", str(exc))
        outcome.taylor = (
            f"no rule for {missing.group(1)}" if missing else clean(str(exc), 200)
        )
        return
    reference = _numpy(second[mixed])
    bound = TAYLOR_RTOL * max(scale, float(np.abs(reference).max()))
    error = float(np.abs(_numpy(taylor) - reference).max())
    if error <= bound:
        outcome.taylor = True
    else:
        fail.append(f"Taylor {mixed} vs autograd: {error:.3g} > {bound:.3g}")


@pytest.fixture(scope="module")
def measured():
    """Measure each entry once per module run (the table reuses the entry tests')."""
    outcomes: dict[Path, Outcome] = {}

    def get(path: Path) -> Outcome:
        if path not in outcomes:
            outcomes[path] = measure(path)
        return outcomes[path]

    return get


def test_the_corpus_is_not_empty():
    assert ENTRIES, f"no *.ref.npz in {CORPUS}: run make fixtures"


def test_every_corpus_file_has_a_reference():
    named = {_reference(p)[1]["file"] for p in ENTRIES}
    present = {p.name for p in CORPUS.iterdir() if not p.name.endswith(".ref.npz")}
    assert present <= named, f"files without a reference: {sorted(present - named)}"
    assert named <= present, f"references without a file: {sorted(named - present)}"


@pytest.mark.parametrize("path", ENTRIES, ids=lambda p: p.name[: -len(".ref.npz")])
def test_corpus_entry(path, measured):
    outcome = measured(path)
    if outcome.status == "unavailable":
        pytest.skip(f"{outcome.stem}: {outcome.note}")
    assert not outcome.failures, "\n".join([outcome.stem, *outcome.failures])
    assert outcome.status == outcome.expect


def _cells(measured) -> tuple[dict[tuple[str, str], Cell], list[str]]:
    """Measured cells; unmeasurable ones kept from the committed page."""
    committed = parse(COVERAGE.read_text()) if COVERAGE.exists() else {}
    grouped: dict[tuple[str, str], list[Outcome]] = {}
    for path in ENTRIES:
        outcome = measured(path)
        grouped.setdefault((outcome.architecture, outcome.format), []).append(outcome)
    cells, kept = {}, []
    for key, outcomes in grouped.items():
        if any(o.status == "unavailable" for o in outcomes) and key in committed:
            cells[key] = committed[key]
            kept.append(f"{key[0]} / {key[1]}")
        else:
            cells[key] = merge([o.cell() for o in outcomes])
    return cells, kept


def test_coverage_table_is_what_the_corpus_measures(measured):
    cells, kept = _cells(measured)
    text = render(cells, _formats())
    if os.environ.get("WRT_WRITE_COVERAGE"):
        COVERAGE.write_text(text)
    committed = COVERAGE.read_text() if COVERAGE.exists() else ""
    assert committed == text, (
        f"docs/coverage.md differs from what the corpus measures"
        f"{' (cells kept as committed: ' + ', '.join(kept) + ')' if kept else ''}; "
        f"regenerate with: {REGENERATE}"
    )


def test_table_round_trips_and_cleans_messages():
    cells = {
        ("mlp-tanh", "keras"): Cell("converted · taylor"),
        ("lstm", "keras"): Cell("converted", ("Taylor engine: no rule for aten.x",)),
        ("lstm", "onnx-tf2onnx"): Cell("refused", ("ONNX op Foo (node n1) ...",)),
        ("zeta", "npz"): Cell("refused", ("ONNX op Foo (node n1) ...",)),
    }
    text = render(cells, ("onnx-tf2onnx", "keras", "npz"))
    assert parse(text) == cells
    assert text.index("| mlp-tanh") < text.index("| lstm") < text.index("| zeta")
    assert text.count("[^2]:") == 1 and "[^3]" not in text  # shared footnote
    shuffled = dict(reversed(list(cells.items())))
    assert render(shuffled, ("onnx-tf2onnx", "keras", "npz")) == text
    message = "/home/someone/work/model.onnx is refused | see '/tmp/x/y.txt'"
    assert clean(message) == "model.onnx is refused / see 'y.txt'"
    assert clean("node 'a/b/c' (Loop)") == "node 'a/b/c' (Loop)"


def _tampered(tmp_path: Path, stem: str, **changes) -> Path:
    """A copy of a corpus entry in ``tmp_path``, its arrays or meta changed."""
    ref, meta = _reference(CORPUS / f"{stem}.ref.npz")
    (tmp_path / meta["file"]).write_bytes((CORPUS / meta["file"]).read_bytes())
    meta.update(changes.pop("meta", {}))
    ref.update(changes)
    ref["meta"] = np.array(json.dumps(meta))
    path = tmp_path / f"{stem}.ref.npz"
    np.savez(path, **ref)
    return path


def test_measure_reports_every_kind_of_mismatch(tmp_path):
    # the harness must be able to fail: wrong numbers, names, runtime, refusals
    stem = "torch-export-energy-pairwise"
    ref, _ = _reference(CORPUS / f"{stem}.ref.npz")
    assert measure(_tampered(tmp_path, stem)).failures == []  # the copy is fine
    cases = {
        "values": {"values": ref["values"] * 1.01},
        "gradients": {"grad": ref["grad"] + 1e-2},
        "output names": {"output_names": np.array(["y"])},
        "runtime 'torch', expected source": {"meta": {"expect": "source"}},
        "loaded, though the entry expects a refusal": {
            "meta": {"expect": "refused", "refusal": "never"}
        },
    }
    for says, change in cases.items():
        outcome = measure(_tampered(tmp_path, stem, **change))
        assert any(says in f for f in outcome.failures), (says, outcome.failures)
        assert outcome.cell().label == "FAILS"

    refused = {"expect": "refused", "load_options": {"bogus": 1}}
    outcome = measure(_tampered(tmp_path, stem, meta={**refused, "refusal": "apply"}))
    assert (outcome.status, outcome.failures) == ("refused", [])
    assert outcome.cell().label == "refused"
    assert "bogus do not apply" in outcome.cell().notes[0]
    assert str(tmp_path) not in outcome.cell().notes[0]  # no local folders
    outcome = measure(_tampered(tmp_path, stem, meta={**refused, "refusal": "zzz"}))
    assert outcome.failures[0].startswith("refusal does not match 'zzz'")
