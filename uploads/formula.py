"""Per-realm score formulas over a snapshot's numeric columns, e.g. DKP = `t4_kills * 5 + t5_kills * 10 +
deads * 15` (FRAGSTATS_SNAPSHOT_FORMULAS). Parsed once with Python's `ast` and evaluated by a small
tree walk that knows only numbers, column names, + - * / and parentheses: no names of Python, no
calls, no attributes. A column a row lacks counts as 0; a division by zero gives no score (None).
"""

from __future__ import annotations

import ast
import operator

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


class FormulaError(ValueError):
    """A formula that is not arithmetic over column names."""


class Formula:
    def __init__(self, text: str):
        self.text = text
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError as exc:
            raise FormulaError(f"formula {text!r} is not an arithmetic expression: {exc.msg}") from None
        self.columns: set[str] = set()
        self._check(tree)
        self.tree = tree

    def _check(self, node) -> None:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self._check(node.operand)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            pass
        elif isinstance(node, ast.Name):
            self.columns.add(node.id)
        else:
            raise FormulaError(f"formula {self.text!r}: only numbers, column names, + - * / and parentheses")

    def __call__(self, row: dict) -> float | None:
        """The score of a row (`{column: number}`), or None when a division by zero happens."""
        try:
            return float(self._eval(self.tree, row))
        except ZeroDivisionError:
            return None

    def _eval(self, node, row):
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](self._eval(node.left, row), self._eval(node.right, row))
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, row)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Constant):
            return node.value
        value = row.get(node.id, 0)
        return value if isinstance(value, (int, float)) else 0


def formula_for(formulas: dict[str, str], realm: str) -> Formula | None:
    """The realm's formula, else the `*` one, else None. Raises FormulaError for a bad formula."""
    text = formulas.get(realm) or formulas.get("*")
    return Formula(text) if text else None
