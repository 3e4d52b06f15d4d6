"""A small, safe evaluator for the math in schedules (`t`, `max_f`, `pw_a`..`pw_d`).

Expressions are parsed with :mod:`ast` and only a whitelist of node types is accepted: numbers,
arithmetic, comparisons, ``and``/``or``/``not``, ``a if c else b`` and calls of the math functions
listed in :data:`FUNCTIONS`. There is no ``eval``; attribute access, indexing, strings, imports,
lambdas and comprehensions are refused when the expression is compiled, with the position of the
offending part. Every number is a Python float, so powers overflow quickly (an error) instead of
building huge integers, and the size and nesting of an expression are bounded.

The syntax is the one numexpr users write in FizzNodes and Deforum schedules: ``**`` is a power,
``where(cond, a, b)`` selects, ``&``/``|``/``~`` are logical and/or/not, and the numpy names
``arcsin``... are accepted next to ``asin``....
"""
from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence

from .errors import ScheduleError, SourceText

MAX_EXPRESSION_LENGTH = 1000
MAX_NODES = 400
MAX_DEPTH = 100
MAX_CALL_ARGS = 32

CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _sign(x: float) -> float:
    return (x > 0) - (x < 0)


def _clamp(x: float, low: float, high: float) -> float:
    return min(max(x, low), high)


def _round(x: float, ndigits: float = 0.0) -> float:
    if not -12 <= ndigits <= 12:
        raise ValueError("round() keeps between -12 and 12 digits")
    return float(round(x, int(ndigits)))


def _log(x: float, base: float | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def _lerp(a: float, b: float, w: float) -> float:
    return a + (b - a) * w


# name: (function, min args, max args); ``where`` is handled lazily in the compiler.
FUNCTIONS: dict[str, tuple[Callable[..., float] | None, int, int]] = {  # None: built in by the compiler
    "sin": (math.sin, 1, 1), "cos": (math.cos, 1, 1), "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1), "acos": (math.acos, 1, 1), "atan": (math.atan, 1, 1),
    "arcsin": (math.asin, 1, 1), "arccos": (math.acos, 1, 1), "arctan": (math.atan, 1, 1),
    "atan2": (math.atan2, 2, 2), "arctan2": (math.atan2, 2, 2),
    "sinh": (math.sinh, 1, 1), "cosh": (math.cosh, 1, 1), "tanh": (math.tanh, 1, 1),
    "asinh": (math.asinh, 1, 1), "acosh": (math.acosh, 1, 1), "atanh": (math.atanh, 1, 1),
    "arcsinh": (math.asinh, 1, 1), "arccosh": (math.acosh, 1, 1), "arctanh": (math.atanh, 1, 1),
    "exp": (math.exp, 1, 1), "expm1": (math.expm1, 1, 1),
    "log": (_log, 1, 2), "log10": (math.log10, 1, 1), "log2": (math.log2, 1, 1), "log1p": (math.log1p, 1, 1),
    "sqrt": (math.sqrt, 1, 1), "abs": (abs, 1, 1), "fabs": (math.fabs, 1, 1),
    "floor": (math.floor, 1, 1), "ceil": (math.ceil, 1, 1), "trunc": (math.trunc, 1, 1),
    "round": (_round, 1, 2), "sign": (_sign, 1, 1),
    "min": (min, 1, MAX_CALL_ARGS), "max": (max, 1, MAX_CALL_ARGS),
    "pow": (math.pow, 2, 2), "fmod": (math.fmod, 2, 2), "hypot": (math.hypot, 2, 2),
    "degrees": (math.degrees, 1, 1), "radians": (math.radians, 1, 1),
    "clamp": (_clamp, 3, 3), "clip": (_clamp, 3, 3), "lerp": (_lerp, 3, 3),
    "where": (None, 3, 3),  # where(condition, if_true, if_false), evaluated lazily
}

_FORBIDDEN_NODES = {
    ast.Attribute: "attribute access (.name) is not allowed",
    ast.Subscript: "indexing ([...]) is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed (a stray comma?)",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Starred: "* arguments are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: float(a // b),
    ast.Mod: lambda a, b: a % b,
    ast.Pow: math.pow,  # floats only: overflow raises instead of building a huge integer
    ast.BitAnd: lambda a, b: float(bool(a) and bool(b)),  # numexpr's logical and
    ast.BitOr: lambda a, b: float(bool(a) or bool(b)),  # numexpr's logical or
}

_BINARY_REFUSED = {
    ast.BitXor: "'^' is not a power here: write ** (for example t**2)",
    ast.LShift: "'<<' is not allowed",
    ast.RShift: "'>>' is not allowed",
    ast.MatMult: "'@' is not allowed",
}

_COMPARE = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}

Evaluator = Callable[[Mapping[str, float]], float]


class Expression:
    """A compiled schedule expression; ``evaluate({"t": 3, "max_f": 15})`` returns a float.

    ``names`` is the set of variables it reads (constants such as ``pi`` excluded), so a
    caller can tell a constant (``not names``) from a per-frame expression (``"t" in names``).
    """

    def __init__(self, text: str, names: frozenset[str], evaluator: Evaluator,
                 source: SourceText | None, index: int):
        self.text = text
        self.names = names
        self._evaluator = evaluator
        self._source = source
        self._index = index

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, variables: Mapping[str, float], *, frame: int | None = None) -> float:
        """Value of the expression; math errors become :class:`ScheduleError` naming the frame."""
        try:
            value = self._evaluator(variables)
        except ScheduleError:
            raise
        except ZeroDivisionError:
            raise self._error("division by zero", variables, frame) from None
        except OverflowError:
            raise self._error("the result is too large", variables, frame) from None
        except (ValueError, TypeError) as exc:
            raise self._error(str(exc) or "math domain error", variables, frame) from None
        except KeyError as exc:
            raise self._error(f"no value for {exc.args[0]}", variables, frame) from None
        if not math.isfinite(value):
            raise self._error("the result is not a finite number", variables, frame)
        return value

    def _error(self, reason: str, variables: Mapping[str, float], frame: int | None) -> ScheduleError:
        context = ""
        if frame is not None:
            context = f" at frame {frame}"
        shown = ", ".join(f"{k}={_fmt(variables[k])}" for k in sorted(self.names) if k in variables)
        if shown:
            context += f" ({shown})"
        message = f"cannot evaluate `{_short(self.text)}`{context}: {reason}"
        if self._source is not None:
            return self._source.error(self._index, message)
        return ScheduleError(message)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def compile_expression(text: str, variables: Iterable[str], *, source: SourceText | None = None,
                       index_map: Sequence[int] | None = None) -> Expression:
    """Compile ``text`` into an :class:`Expression` that may read ``variables``.

    ``source`` and ``index_map`` (source index of every character of ``text``) let errors name
    the line and column in the schedule; without them the column counts within ``text``.
    Raises :class:`ScheduleError` for anything outside the whitelist.
    """
    compiler = _Compiler(text, frozenset(variables), source, index_map)
    return compiler.compile()


class _Compiler:
    def __init__(self, text: str, variables: frozenset[str], source: SourceText | None,
                 index_map: Sequence[int] | None):
        self.text = text
        self.variables = variables
        self.source = source
        self.index_map = index_map
        self.used: set[str] = set()
        self.node_count = 0
        self.offset = 0

    # -- positions ---------------------------------------------------------------------------
    def _error_at(self, char_index: int, reason: str) -> ScheduleError:
        char_index = max(0, min(char_index, max(len(self.text) - 1, 0)))
        if self.source is not None and self.index_map:
            return self.source.error(self.index_map[min(char_index, len(self.index_map) - 1)], reason)
        if self.source is not None:
            return ScheduleError(reason, source=self.source.name)
        return ScheduleError(reason, line=1, column=char_index + 1)

    def _char_index(self, byte_offset: int | None) -> int:
        """Character index in ``text`` of an ast UTF-8 byte offset into the parsed body."""
        body = self.text[self.offset:]
        offset = max(0, byte_offset or 0)
        chars = len(body.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))
        return self.offset + min(chars, len(body))

    def _node_error(self, node: ast.AST, reason: str) -> ScheduleError:
        index = self._char_index(getattr(node, "col_offset", 0))
        return self._error_at(index, f"in `{_short(self.text)}`: {reason}")

    # -- compile -----------------------------------------------------------------------------
    def compile(self) -> Expression:
        stripped = self.text.strip()
        first = len(self.text) - len(self.text.lstrip())
        if not stripped:
            raise self._error_at(0, "expected an expression, found nothing")
        if len(self.text) > MAX_EXPRESSION_LENGTH:
            raise self._error_at(0, f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
        # eval mode wants one line without leading blanks; replacing line breaks one for one
        # keeps every column valid.
        body = self.text[first:].replace("\n", " ").replace("\t", " ")
        try:
            with warnings.catch_warnings():
                # Python warns about odd escapes in (refused) string literals; the error is ours.
                warnings.simplefilter("ignore")
                tree = ast.parse(body, mode="eval")
        except SyntaxError as exc:
            offset = max((exc.offset or 1) - 1, 0)
            raise self._error_at(first + min(offset, len(body)), f"in `{_short(stripped)}`: invalid expression ({exc.msg})") from None
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            raise self._error_at(first, f"in `{_short(stripped)}`: invalid expression ({exc})") from None
        self.offset = first
        evaluator = self._build(tree.body, 0)
        return Expression(stripped, frozenset(self.used), evaluator, self.source,
                          self.index_map[first] if self.index_map else 0)

    def _build(self, node: ast.AST, depth: int) -> Evaluator:
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise self._node_error(node, f"expression is too large (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise self._node_error(node, f"expression is nested more than {MAX_DEPTH} levels deep")
        depth += 1
        for kind, reason in _FORBIDDEN_NODES.items():
            if isinstance(node, kind):
                raise self._node_error(node, reason)

        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if isinstance(value, str):
                    raise self._node_error(node, "strings are not allowed")
                raise self._node_error(node, f"{value!r} is not a real number")
            try:
                number = float(value)
            except OverflowError:
                raise self._node_error(node, "number is too large") from None
            if not math.isfinite(number):
                raise self._node_error(node, "number is too large")
            return lambda _v: number

        if isinstance(node, ast.Name):
            return self._name(node)

        if isinstance(node, ast.BinOp):
            op_type = type(node.op)
            if op_type in _BINARY_REFUSED:
                raise self._node_error(node, _BINARY_REFUSED[op_type])
            op = _BINARY[op_type]
            left, right = self._build(node.left, depth), self._build(node.right, depth)
            return lambda v: op(left(v), right(v))

        if isinstance(node, ast.UnaryOp):
            operand = self._build(node.operand, depth)
            if isinstance(node.op, ast.USub):
                return lambda v: -operand(v)
            if isinstance(node.op, ast.UAdd):
                return operand
            return lambda v: float(not operand(v))  # ``not`` and numexpr's ``~``

        if isinstance(node, ast.BoolOp):
            parts = [self._build(value, depth) for value in node.values]
            want = not isinstance(node.op, ast.And)  # ``or`` stops at the first true value

            def boolean(v, parts=parts, want=want):
                # Python's rule: the value that decided the result, short-circuited.
                result = 0.0
                for part in parts:
                    result = part(v)
                    if bool(result) == want:
                        return result
                return result

            return boolean

        if isinstance(node, ast.Compare):
            for comparison in node.ops:
                if type(comparison) not in _COMPARE:
                    raise self._node_error(node, f"the comparison {type(comparison).__name__} is not allowed")
            ops = [_COMPARE[type(comparison)] for comparison in node.ops]
            operands = [self._build(node.left, depth)] + [self._build(c, depth) for c in node.comparators]

            def compare(v, ops=ops, operands=operands):
                left = operands[0](v)
                for op, right_fn in zip(ops, operands[1:]):
                    right = right_fn(v)
                    if not op(left, right):
                        return 0.0
                    left = right
                return 1.0

            return compare

        if isinstance(node, ast.IfExp):
            test, body, orelse = (self._build(n, depth) for n in (node.test, node.body, node.orelse))
            return lambda v: body(v) if test(v) else orelse(v)

        if isinstance(node, ast.Call):
            return self._call(node, depth)

        raise self._node_error(node, f"{type(node).__name__} is not allowed in a schedule expression")

    def _name(self, node: ast.Name) -> Evaluator:
        name = node.id
        if name in self.variables:
            self.used.add(name)
            return lambda v: float(v[name])
        if name in CONSTANTS:
            value = CONSTANTS[name]
            return lambda _v: value
        if name in FUNCTIONS:
            raise self._node_error(node, f"{name} is a function: call it, for example {name}(t)")
        allowed = ", ".join(sorted(self.variables) + sorted(CONSTANTS))
        raise self._node_error(node, f"unknown name {name!r} (expected one of {allowed} or a math function)")

    def _call(self, node: ast.Call, depth: int) -> Evaluator:
        if not isinstance(node.func, ast.Name):
            raise self._node_error(node, "only math functions can be called, by name (for example sin(t))")
        name = node.func.id
        if name not in FUNCTIONS:
            if name in self.variables or name in CONSTANTS:
                raise self._node_error(node, f"{name} is not a function")
            known = ", ".join(sorted(FUNCTIONS))
            raise self._node_error(node, f"unknown function {name!r} (expected one of {known})")
        if node.keywords:
            raise self._node_error(node, f"{name}() takes no keyword arguments")
        function, least, most = FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            count = str(least) if least == most else f"{least} to {most}"
            raise self._node_error(node, f"{name}() takes {count} argument(s), got {len(node.args)}")
        args = [self._build(arg, depth) for arg in node.args]
        if name == "where":
            condition, if_true, if_false = args
            return lambda v: if_true(v) if condition(v) else if_false(v)

        def call(v, function=function, args=args):
            result = function(*(arg(v) for arg in args))
            return float(result)

        return call
