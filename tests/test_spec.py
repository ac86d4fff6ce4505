import pytest
from hypothesis import given
from hypothesis import strategies as st

from wrt.errors import SpecError
from wrt.spec import Partial, format_spec, parse_spec, partials_up_to

X12 = ["x1", "x2"]


@pytest.mark.parametrize(
    ("text", "output", "orders"),
    [
        ("dy/dx1", "y", {"x1": 1}),
        ("d2y/dx1^2", "y", {"x1": 2}),
        ("d2y/dx1dx2", "y", {"x1": 1, "x2": 1}),
        ("d2y/dx2dx1", "y", {"x1": 1, "x2": 1}),
        ("d2y/dx1dx1", "y", {"x1": 2}),
        ("d^2y/dx1^2", "y", {"x1": 2}),
        ("d2y/dx1**2", "y", {"x1": 2}),
        (" d2y / dx1 dx2 ", "y", {"x1": 1, "x2": 1}),
        ("∂2y/∂x1∂x2", "y", {"x1": 1, "x2": 1}),
        ("d4y/dx1^4", "y", {"x1": 4}),
        ("y", "y", {}),
    ],
)
def test_parse_known_names(text, output, orders):
    p = parse_spec(text, X12, ["y"])
    assert p == Partial(output, orders)
    assert p.order == sum(orders.values())


def test_mixed_partials_are_one_key():
    a = parse_spec("d3u/dtdx^2", ["x", "t"], ["u"])
    b = parse_spec("d3u/dx^2dt", ["x", "t"], ["u"])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert str(a) == "d3u/dx^2dt"  # written in the model's input order


def test_longest_name_and_names_containing_d():
    inputs = ["x", "x1", "dx", "d"]
    assert parse_spec("d2y/dxdx1", inputs) == Partial("y", {"x": 1, "x1": 1})
    assert parse_spec("dy/ddx", inputs) == Partial("y", {"dx": 1})
    assert parse_spec("d2y/ddx^2", inputs) == Partial("y", {"dx": 2})


def test_ambiguous_split_is_an_error():
    with pytest.raises(SpecError, match="more than one way"):
        parse_spec("d3y/dxdxdx", ["x", "xdx"])


def test_unknown_input_names_valid_ones_and_closest():
    with pytest.raises(SpecError) as info:
        parse_spec("d2y/dx1dx3", X12, ["y"])
    message = str(info.value)
    assert "'x3'" in message and "x1, x2" in message and "Did you mean" in message


def test_unknown_output():
    with pytest.raises(SpecError, match=r"Unknown output 'f'.*outputs are u, v"):
        parse_spec("df/dx", ["x"], ["u", "v"])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("d3y/dx1dx2", "states order 3 but its powers add up to 2"),
        ("dy/dx1dx2", "total order 2"),
        ("d2y/dx1^0dx2", "at least 1"),
        ("", "Empty"),
        ("dy/", "nothing after"),
        ("dy/dx1/dx2", "more than one '/'"),
        ("y/dx1", "numerator"),
        ("dy/x1", "Cannot split"),
        ("dyy", "Cannot read"),
    ],
)
def test_malformed_specs(text, fragment):
    with pytest.raises(SpecError, match=fragment):
        parse_spec(text, X12, ["y"])


def test_spec_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_spec("d2y/dq", X12, ["y"])


def test_loose_parsing_without_names():
    assert parse_spec("d3u/dx^2dt") == Partial("u", {"x": 2, "t": 1})
    assert parse_spec("d2y/dx2dx1") == Partial("y", {"x1": 1, "x2": 1})


def test_partials_up_to_counts():
    specs = partials_up_to(3, ["a", "b", "c"], ["u", "v"])
    # C(3 + 3, 3) - 1 = 19 multi-indices of order 1..3 per output
    assert len(specs) == 2 * 19 and len(set(specs)) == len(specs)
    with pytest.raises(SpecError):
        partials_up_to(0, ["a"], ["u"])


_name = st.from_regex(r"[a-ce-z][a-ce-z0-9_]{0,3}", fullmatch=True)


@given(
    inputs=st.lists(_name, min_size=1, max_size=4, unique=True),
    output=st.sampled_from(["y", "u", "phi"]),
    powers=st.lists(st.integers(0, 4), min_size=4, max_size=4),
)
def test_round_trip(inputs, output, powers):
    if output in inputs:
        return
    p = Partial(output, dict(zip(inputs, powers, strict=False)))
    try:
        text = format_spec(p)
        parsed = parse_spec(text, inputs, [output])
    except SpecError as exc:
        # Only a genuinely ambiguous set of names may refuse its own spelling.
        assert "more than one way" in str(exc)
        return
    assert parsed == p
    assert parse_spec(format_spec(parsed), inputs, [output]) == p


@given(st.permutations(["x1", "x1", "x2", "x3", "x3", "x3"]))
def test_any_factor_order_is_the_same_partial(factors):
    text = "d6y/" + "".join(f"d{name}" for name in factors)
    assert parse_spec(text, ["x1", "x2", "x3"]) == Partial(
        "y", {"x1": 2, "x2": 1, "x3": 3}
    )


@given(st.text(alphabet="dxyt12^*/ ∂_a0", max_size=20))
def test_any_text_parses_or_raises_a_spec_error(text):
    try:
        partial = parse_spec(text, ["x1", "x2", "t"], ["y"])
    except SpecError:
        return
    assert partial.output == "y"
    assert set(partial.variables) <= {"x1", "x2", "t"}
    assert parse_spec(format_spec(partial), ["x1", "x2", "t"], ["y"]) == partial
