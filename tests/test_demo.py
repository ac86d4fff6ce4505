"""The demo's pieces: data as in the seed, training, and wrt's evaluation."""

import math

import pytest
import torch
from typer.testing import CliRunner

import wrt
from wrt.cli.app import app
from wrt.cli.demo import DEMO_FILES, keep_users_files
from wrt.demo import (
    DemoConfig,
    collinear_data,
    difference_checks,
    evaluate,
    explanation,
    fd_agreement,
    grid_data,
    run_demo,
    seed_network,
    train,
)


def test_data_is_the_seeds():
    X, y = collinear_data(2000)
    assert X.shape == (2000, 2)
    torch.testing.assert_close(X[:, 1], 1.5 * X[:, 0])
    assert X[-1, 0].item() == torch.tensor(6 * math.pi, dtype=torch.float32).item()
    torch.testing.assert_close(y, torch.sin(X[:, 0]) + torch.cos(X[:, 1]))
    G, _ = grid_data(10)
    assert G.shape == (10 * 15, 2)


def test_seed_network_shape_and_raw_input_standardisation():
    net = seed_network(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
    widths = [m.out_features for m in net if isinstance(m, torch.nn.Linear)]
    assert widths == [64, 64, 32, 32, 16, 16, 8, 1]
    m = wrt.wrap(net)
    # d/dx of the first layer sees 1/std: partials are with respect to raw inputs
    assert m.inputs == ("x1", "x2") and m(torch.zeros(3, 2)).shape == (3, 1)


def test_training_is_deterministic_and_reduces_the_loss():
    X, y = collinear_data(100)
    a = train(X, y, steps=30, seed=3, num_threads=1)
    b = train(X, y, steps=30, seed=3, num_threads=1)
    assert a.losses == b.losses and a.losses[-1] < a.losses[0]
    c = train(X, y, steps=30, seed=4, num_threads=1)
    assert c.losses != a.losses  # the seed is used


def test_training_is_wrt_fit_and_its_loss_is_the_mse():
    """The demo trains with the library's own fit: its history is wrt.fit's, and
    its final loss is the mean squared error of the returned model on the data."""
    X, y = grid_data(6)
    result = train(X, y, steps=20, lbfgs_steps=20, seed=1)
    assert isinstance(result.model, wrt.Model)
    assert isinstance(result.history, wrt.History)
    assert result.history.optimizer == "adam+lbfgs"
    assert result.model.inputs == ("x1", "x2") and result.model.outputs == ("y",)
    with torch.no_grad():
        mse = float(torch.mean((result.model(X)[:, 0] - y) ** 2))
    # float32 network: the recorded loss and a fresh evaluation agree to round-off
    assert result.losses[-1] == pytest.approx(mse, rel=1e-4)
    assert all(not p.requires_grad for p in result.model.module.parameters())
    # input derivatives still work on the frozen network
    P = wrt.partials(result.model, X[:3], ["dy/dx1"])
    assert torch.isfinite(P["dy/dx1"]).all()


def test_training_leaves_no_process_wide_change():
    """The global random state and the thread count are as before, also on error."""
    X, y = collinear_data(50)
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    train(X, y, steps=3, num_threads=1)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)
    with pytest.raises(wrt.DataError, match="steps"):
        train(X, y, steps=-1, num_threads=1)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize(
    ("X", "y"),
    [
        (torch.zeros(5, 3), torch.zeros(5)),  # three inputs
        (torch.zeros(5, 2), torch.zeros(4)),  # one target short
        (torch.zeros(5), torch.zeros(5)),  # not a table
    ],
)
def test_training_refuses_data_of_the_wrong_shape(X, y):
    with pytest.raises(wrt.DataError, match=r"X must be \(N, 2\)"):
        train(X, y, steps=1)


def test_seed_network_is_seeded_privately():
    state = torch.random.get_rng_state()
    a = seed_network(torch.zeros(2), torch.ones(2), seed=5)
    b = seed_network(torch.zeros(2), torch.ones(2), seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(wrt.DataError, match="activation"):
        seed_network(torch.zeros(2), torch.ones(2), activation="swish")


def test_quick_demo_runs_and_measures_with_wrt():
    collinear, grid = run_demo(DemoConfig.quick())
    for result in (collinear, grid):
        errors = result.on_line
        assert all(math.isfinite(v) for v in vars(errors).values())
        # autograd and finite differences agree on the trained models
        assert result.fd_agreement < 1e-8
    assert "x2 = 1.5 x1" in explanation(collinear, grid)


def test_evaluate_of_the_true_function_is_zero():
    truth = wrt.wrap(
        lambda x: torch.sin(x[:, 0]) + torch.cos(x[:, 1]), inputs=["x1", "x2"]
    )
    X, _ = collinear_data(50)
    errors = evaluate(truth, X.double())
    assert max(vars(errors).values()) < 1e-12
    assert fd_agreement(truth, X.double()) < 1e-9


def test_cli_demo_quick(tmp_path):
    (tmp_path / "notes.txt").write_text("the user's notes")
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "collinear" in result.stdout and "grid" in result.stdout
    assert (tmp_path / "partials_on_line.csv").exists()
    for name in ("collinear", "grid"):
        assert "<img" in (tmp_path / f"report-{name}.html").read_text()
    assert "np.diff(y) / 0.01" in result.stdout
    # the user's other files are kept; the demo's own outputs are recognised as
    # its own, so a second run into the same folder may replace them
    assert (tmp_path / "notes.txt").read_text() == "the user's notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["notes.txt", *DEMO_FILES]
    )
    keep_users_files(tmp_path)
    (tmp_path / "report-grid.html").write_text("<html>edited by hand</html>")
    with pytest.raises(wrt.errors.OutputPathError, match="report-grid.html"):
        keep_users_files(tmp_path)


def test_demo_config_refuses_settings_out_of_range():
    with pytest.raises(wrt.DataError, match="n_eval=0"):
        DemoConfig(n_eval=0)
    with pytest.raises(wrt.DataError, match="adam_steps=True"):
        DemoConfig(adam_steps=True)
    assert DemoConfig(seed=2**63 - 1).seed == 2**63 - 1
    assert DemoConfig.quick(seed=7).seed == 7


def test_check_flags_the_collinear_model_and_not_the_grid_model():
    collinear, grid = run_demo(DemoConfig.quick())
    flagged = collinear.check.by_code("not-identifiable")
    assert sorted(f.specs[0] for f in flagged) == ["dy/dx1", "dy/dx2"]
    u = torch.tensor([1.0, 1.5]) / math.sqrt(3.25)
    torch.testing.assert_close(flagged[0].direction.float(), u)
    assert not grid.check.by_code("not-identifiable")


def test_difference_checks_show_the_seed_quotient_was_the_wrong_one():
    truth = wrt.wrap(
        lambda x: torch.sin(x[:, 0]) + torch.cos(x[:, 1]), inputs=["x1", "x2"]
    )
    d = difference_checks(truth)
    assert d.user_quotient > 0.5  # wrong direction and wrong step
    assert d.line_quotient < 1e-3  # along the line with its own step: O(h^2)
    assert d.fd_x1 < 1e-9
    assert d.spacing == pytest.approx(6 * math.pi / 1999, rel=1e-6)
