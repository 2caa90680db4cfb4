"""A tiny, safe arithmetic language for derived parameters in study files.

    noise_loc = "base + 0.5 * log(model.latent_dim / 16) + delta"

Allowed: numbers, names (dotted config keys, constants, searched parameters), + - * / ** unary -,
and the functions log, exp, sqrt, min, max, abs, round. Nothing else parses.
"""

from __future__ import annotations

import ast
import math
from typing import Any, Callable, Mapping

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "log": math.log,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
}
_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


class ExprError(ValueError):
    """An expression is malformed or refers to unknown names."""


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def names(expr: str) -> set[str]:
    """Every variable name an expression reads (dotted names kept whole)."""
    tree = _parse(expr)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted(node)
            if name and name not in FUNCTIONS and not any(name.startswith(f + ".") for f in FUNCTIONS):
                found.add(name)
    # drop prefixes of dotted names ("model" from "model.latent_dim")
    return {n for n in found if not any(o.startswith(n + ".") for o in found)}


def _parse(expr: str) -> ast.Expression:
    try:
        return ast.parse(expr, mode="eval")
    except SyntaxError as err:
        raise ExprError(f"cannot parse {expr!r}: {err.msg}") from None


def evaluate(expr: str, env: Mapping[str, Any]) -> float:
    """Evaluate `expr` with variables from `env` (keys may be dotted)."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted(node)
            if name is None or name not in env:
                raise ExprError(f"{expr!r} uses unknown name {name!r} (known: {', '.join(sorted(env))})")
            return env[name]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = ev(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FUNCTIONS
            and not node.keywords
        ):
            return FUNCTIONS[node.func.id](*[ev(a) for a in node.args])
        raise ExprError(
            f"{expr!r}: {ast.unparse(node)!r} is not allowed (numbers, names, + - * / **, {', '.join(FUNCTIONS)})"
        )

    try:
        return ev(_parse(expr))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError) as err:
        if isinstance(err, ExprError):
            raise
        raise ExprError(f"{expr!r} cannot be evaluated here: {err}") from None
