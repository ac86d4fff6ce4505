"""Residual expressions: a small, safe language over outputs, inputs and partials.

``"du/dt + u*du/dx - 0.01/pi*d2u/dx^2"`` is parsed by hand (a Pratt parser; never
``eval``) into a tree whose leaves are numbers, ``pi``, input names, output names
and derivative specs. Specs are read greedily: at a ``d``, the longest text that is
a valid spec of the model is taken (``du/dx^2`` is not a first derivative, so it
reads as ``(du/dx)^2``). Operators: ``+ - * / ^`` (``^`` binds tightest and to the
right, ``-x^2`` is ``-(x^2)``), parentheses, and the functions sin, cos, tan, exp,
log, sqrt, tanh and abs. A malformed expression raises
:class:`~wrt.errors.ExpressionError` quoting it with a caret under the bad token.

The tree is evaluated on tensors (one value per point), and can say whether it is
provably bounded below (for :func:`wrt.objective`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from wrt.errors import ExpressionError, SpecError
from wrt.spec import Partial, parse_spec

FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "tanh": torch.tanh,
    "abs": torch.abs,
}
CONSTANTS = {"pi": math.pi}
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[^\W\d]\w*")
_LOOKS_LIKE_SPEC = re.compile(r"d\^?\d*[^\W\d]\w*/d")
_SPEC_CHARS = re.compile(r"[\w^/]*")


@dataclass(frozen=True)
class Node:
    """A node of the expression tree.

    Attributes:
        kind: ``number``, ``input``, ``output``, ``partial``, ``neg``, ``call``, or an
            operator ``+ - * / ^``.
        value: the number, the name, the :class:`~wrt.spec.Partial`, or the
            function name.
        args: child nodes.
        text: the source text of this node (for messages).
    """

    kind: str
    value: Any = None
    args: tuple[Node, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Token:
    """A token with its column (0-based) in the source."""

    kind: str  # number, name, partial, op, lparen, rparen, end
    value: Any
    column: int
    text: str


class Expression:
    """A parsed expression; see the module docstring.

    Attributes:
        source: the text as given.
        tree: the root :class:`Node`.
    """

    def __init__(
        self, source: str, inputs: Sequence[str], outputs: Sequence[str]
    ) -> None:
        self.source = source
        self._inputs = tuple(inputs)
        self._outputs = tuple(outputs)
        self._tokens = _tokenize(source, self._inputs, self._outputs)
        self._at = 0
        self.tree = self._parse(0)
        token = self._tokens[self._at]
        if token.kind != "end":
            self._fail(token, f"unexpected {token.text!r}")

    # --------------------------------------------------------------- reading

    def partials(self) -> list[Partial]:
        """Every derivative spec and output the expression reads (order 0: values)."""
        found: dict[Partial, None] = {}
        for node in _walk(self.tree):
            if node.kind == "partial":
                found[node.value] = None
            elif node.kind == "output":
                found[Partial(node.value, {})] = None
        return list(found)

    def inputs_used(self) -> list[str]:
        """Input names the expression reads as coordinates."""
        return list(
            dict.fromkeys(n.value for n in _walk(self.tree) if n.kind == "input")
        )

    def evaluate(
        self,
        values: Mapping[Partial, torch.Tensor],
        coordinates: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        """The expression's value per point.

        Args:
            values: each partial (outputs as order-0 partials) -> tensor (N,).
            coordinates: input name -> tensor (N,).
        """
        return _evaluate(self.tree, values, coordinates)

    def bounded_below(self) -> bool:
        """Whether the expression is provably bounded below (:func:`lower_bound`)."""
        return lower_bound(self.tree) is not None

    def __str__(self) -> str:
        return self.source

    # --------------------------------------------------------------- parsing

    def _parse(self, min_power: int) -> Node:
        token = self._next()
        left = self._prefix(token)
        while True:
            token = self._tokens[self._at]
            if token.kind != "op":
                break
            power = _BINDING[token.value]
            if power < min_power:
                break
            self._at += 1
            right_power = power if token.value == "^" else power + 1
            right = self._parse(right_power)
            left = Node(
                token.value, None, (left, right), f"{left.text}{token.text}{right.text}"
            )
        return left

    def _prefix(self, token: Token) -> Node:
        if token.kind == "number":
            return Node("number", token.value, (), token.text)
        if token.kind == "partial":
            return Node("partial", token.value, (), token.text)
        if token.kind == "op" and token.value in "+-":
            operand = self._parse(_UNARY)
            if token.value == "+":
                return operand
            return Node("neg", None, (operand,), f"-{operand.text}")
        if token.kind == "lparen":
            inner = self._parse(0)
            closing = self._next()
            if closing.kind != "rparen":
                self._fail(
                    closing,
                    f"expected ')' to close the '(' at column {token.column + 1}",
                )
            return Node(inner.kind, inner.value, inner.args, f"({inner.text})")
        if token.kind == "name":
            name = token.value
            if name in FUNCTIONS:
                opening = self._next()
                if opening.kind != "lparen":
                    self._fail(opening, f"expected '(' after the function {name}")
                argument = self._parse(0)
                closing = self._next()
                if closing.kind != "rparen":
                    self._fail(closing, f"expected ')' to close {name}(")
                return Node("call", name, (argument,), f"{name}({argument.text})")
            if name in CONSTANTS:
                return Node("number", CONSTANTS[name], (), name)
            if name in self._outputs:
                return Node("output", name, (), name)
            if name in self._inputs:
                return Node("input", name, (), name)
            self._fail(token, f"unknown name {name!r}; {self._vocabulary()}")
        if token.kind == "end":
            self._fail(token, "the expression ends too early")
        self._fail(token, f"unexpected {token.text!r}")
        raise AssertionError  # unreachable

    def _next(self) -> Token:
        token = self._tokens[self._at]
        self._at += 1 if token.kind != "end" else 0
        return token

    def _vocabulary(self) -> str:
        return (
            f"outputs: {', '.join(self._outputs)}; inputs: {', '.join(self._inputs)}; "
            f"functions: {', '.join(FUNCTIONS)}; constant: pi"
        )

    def _fail(self, token: Token, what: str) -> None:
        raise ExpressionError(_pointed(self.source, token.column, what))


_BINDING = {"+": 10, "-": 10, "*": 20, "/": 20, "^": 40}
_UNARY = 30  # -x^2 = -(x^2); -x*y = (-x)*y


def _tokenize(
    text: str, inputs: tuple[str, ...], outputs: tuple[str, ...]
) -> list[Token]:
    tokens = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "+-*/^":
            tokens.append(Token("op", c, i, c))
            i += 1
            continue
        if c == "(":
            tokens.append(Token("lparen", c, i, c))
            i += 1
            continue
        if c == ")":
            tokens.append(Token("rparen", c, i, c))
            i += 1
            continue
        number = _NUMBER.match(text, i)
        if number:
            tokens.append(Token("number", float(number.group()), i, number.group()))
            i = number.end()
            continue
        spec = _spec_at(text, i, inputs, outputs)
        if spec is not None:
            partial, end = spec
            tokens.append(Token("partial", partial, i, text[i:end]))
            i = end
            continue
        name = _NAME.match(text, i)
        if name:
            tokens.append(Token("name", name.group(), i, name.group()))
            i = name.end()
            continue
        raise ExpressionError(_pointed(text, i, f"unexpected character {c!r}"))
    tokens.append(Token("end", None, len(text), "end of the expression"))
    return tokens


def _spec_at(
    text: str, i: int, inputs: tuple[str, ...], outputs: tuple[str, ...]
) -> tuple[Partial, int] | None:
    """The longest valid derivative spec starting at ``i``, and where it ends."""
    if text[i] != "d" or "/" not in text[i:]:
        return None
    run = _SPEC_CHARS.match(text, i)
    end = run.end() if run else i
    first: SpecError | None = None
    for stop in range(end, i + 3, -1):
        candidate = text[i:stop]
        if "/d" not in candidate or candidate.endswith(("/", "^")):
            continue
        if stop < len(text) and (text[stop - 1] + text[stop]).isidentifier():
            continue  # would cut a name in two: du/dxx is not du/dx then x
        try:
            return parse_spec(candidate, inputs, outputs), stop
        except SpecError as exc:
            first = first or exc  # the longest reading's complaint
    if first is not None and _LOOKS_LIKE_SPEC.match(text, i):
        # a spec that is wrong (unknown name, order): its own error, pointed at
        # the name it blames, not "unknown name 'du'"
        message = " ".join(str(first).split())
        blamed = re.search(r"(?:input|output) '([^']+)'", message)
        column = i
        if blamed is not None:
            name = blamed.group(1)
            for where in re.finditer(re.escape(name), text[i:end]):
                column = i + where.start()
                if text[i:column].count("/") == ("input" in blamed.group(0)):
                    break
        raise ExpressionError(_pointed(text, column, message))
    return None


def _pointed(source: str, column: int, what: str) -> str:
    return (
        f"In the expression, column {column + 1}: {what.rstrip('.')}"
        f"{'' if what.endswith('?') else '.'}\n"
        f"  {source}\n  {' ' * column}^"
    )


def _walk(node: Node):
    yield node
    for child in node.args:
        yield from _walk(child)


def _evaluate(
    node: Node,
    values: Mapping[Partial, torch.Tensor],
    coordinates: Mapping[str, torch.Tensor],
):
    kind = node.kind
    if kind == "number":
        return node.value
    if kind == "partial":
        return values[node.value]
    if kind == "output":
        return values[Partial(node.value, {})]
    if kind == "input":
        return coordinates[node.value]
    args = [_evaluate(a, values, coordinates) for a in node.args]
    if kind == "neg":
        return -args[0]
    if kind == "call":
        value = args[0]
        if not isinstance(value, torch.Tensor):
            value = torch.tensor(float(value), dtype=torch.float64)
        return FUNCTIONS[node.value](value)
    a, b = args
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "/":
        return a / b
    if kind == "^":
        return a**b
    raise ExpressionError(f"unknown node {kind}")  # pragma: no cover


def lower_bound(node: Node) -> float | None:
    """A constant that ``node`` never goes below, or None when none is provable.

    Sums of squares (even integer powers), absolute values, exponentials and square
    roots are >= 0; so are their sums and products, and their quotients by positive
    constants. Constants bound themselves; a sum is bounded by the sum of bounds;
    multiplying by a non-negative constant scales the bound. Anything else (a raw
    derivative, an output, an odd power) is not provably bounded.
    """
    kind = node.kind
    if kind == "number":
        return float(node.value)
    if kind == "call" and node.value in ("abs", "exp", "sqrt"):
        return 0.0
    if kind == "call" and node.value == "tanh":
        return -1.0
    if kind == "call" and node.value in ("sin", "cos"):
        return -1.0
    if kind == "^":
        base, exponent = node.args
        if exponent.kind == "number":
            p = float(exponent.value)
            if p.is_integer() and p % 2 == 0 and p > 0:
                return 0.0
            below = lower_bound(base)
            if below is not None and below >= 0 and p > 0:
                return below**p
        return None
    if kind == "+":
        a, b = (lower_bound(x) for x in node.args)
        return None if a is None or b is None else a + b
    if kind == "-":
        left, right = node.args
        a = lower_bound(left)
        if a is not None and right.kind == "number":
            return a - float(right.value)
        return None
    if kind == "*":
        left, right = node.args
        for const, other in ((left, right), (right, left)):
            if const.kind == "number" and float(const.value) >= 0:
                below = lower_bound(other)
                if below is not None and below >= 0:
                    return float(const.value) * below
                if below is not None and float(const.value) == 0:
                    return 0.0
        a, b = lower_bound(left), lower_bound(right)
        if a is not None and b is not None and a >= 0 and b >= 0:
            return a * b
        return None
    if kind == "/":
        left, right = node.args
        a = lower_bound(left)
        if (
            a is not None
            and a >= 0
            and right.kind == "number"
            and float(right.value) > 0
        ):
            return a / float(right.value)
        return None
    return None
