"""Unit tests of grader.mathexpr, in-process: parsing, limits, evaluation, comparison."""

from __future__ import annotations

import ast
import builtins
import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from grader.mathexpr import (
    BinOp, Call, Const, ExpressionError, Neg, Num, Pow, Settings, Var, evaluate, evaluate_constant, normalize_name,
    parse, to_text,
)
from grader.mathexpr.compare import compare
from grader.mathexpr.lexer import MAX_LENGTH, MAX_NESTING
from grader.mathexpr.symbolic import prove_zero, to_sympy

NET = ["a1", "a2", "y", "w2", "x"]
BACKPROP = "(a2 - y)*w2*a1*(1 - a1)*x"


def text(src: str, variables=NET, functions=()) -> str:
    return to_text(parse(src, variables, functions).node)


def error(src: str, variables=NET, functions=()) -> str:
    with pytest.raises(ExpressionError) as info:
        parse(src, variables, functions)
    return str(info.value)


# --- parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("src", [
    "(a2 - y)*w2*a1*(1 - a1)*x",
    "(a2-y) * w2 * a1 * (1-a1) * x",
    r"(a_2 - y) w_2 a_1 (1 - a_1) x",
    r"(a_{2} - y) w_{2} a_{1} (1 - a_{1}) x",
    r"\left( a_2 - y \right) \cdot w_2 \cdot a_1 \cdot \left(1 - a_1\right) \cdot x",
    r"(a_2 - y) \times w_2 \times a_1 \times (1 - a_1) \times x",
    "(a2 − y)·w2·a1·(1 − a1)·x",
    "(a2 - y)(w2)(a1)(1 - a1)(x)",
    "{(a2 - y)} w2 a1 [1 - a1] x",
])
def test_spellings_of_the_same_product_give_the_same_tree(src):
    assert parse(src, NET).node == parse(BACKPROP, NET).node


@pytest.mark.parametrize("src, expected", [
    ("2x", "2*x"),
    ("x^2", "x^2"),
    ("x**2", "x^2"),
    ("x²", "x^2"),
    ("-x^2", "-x^2"),
    ("2^3^2", "2^(3^2)"),
    ("e^-x", "e^(-x)"),
    ("e^{-x}", "e^(-x)"),
    (r"\exp(-x)", "exp(-x)"),
    ("x(1 - x)", "x*(1 - x)"),
    (r"\sigma(x)(1-\sigma(x))", "sigmoid(x)*(1 - sigmoid(x))"),
    ("σ(x)", "sigmoid(x)"),
    ("sigmoid(x)", "sigmoid(x)"),
    (r"1 - \tanh^2(x)", "1 - tanh(x)^2"),
    (r"1 - \tanh^{2}(x)", "1 - tanh(x)^2"),
    (r"\sqrt{x}", "sqrt(x)"),
    (r"\sqrt x", "sqrt(x)"),
    ("√(x)", "sqrt(x)"),
    (r"\sqrt[3]{x}", "x^(1/3)"),
    (r"\ln(x)", "log(x)"),
    (r"\log{x}", "log(x)"),
    ("ln(x)", "log(x)"),
    (r"\frac{1}{x}", "1/x"),
    (r"\frac12 x", "1/2*x"),
    (r"\left| x - y \right|", "abs(x - y)"),
    ("abs(x - y)", "abs(x - y)"),
    ("max(x, y)", "max(x, y)"),
    ("a1 - -y", "a1 - (-y)"),
    ("x - y - a1", "x - y - a1"),
    ("x - (y - a1)", "x - (y - a1)"),
    ("x/y/a1", "x/y/a1"),
    ("x/(y*a1)", "x/(y*a1)"),
    ("2.50x", "2.5*x"),
    ("1e-3 x", "0.001*x"),
    ("pi x", "pi*x"),
    (r"\pi x", "pi*x"),
    (r"x \div y", "x/y"),
    (r"\operatorname{relu}(x)", "relu(x)"),
])
def test_canonical_text(src, expected):
    assert text(src, ["x", "y", "a1"]) == expected


def test_precedence_values():
    assert evaluate_constant("2^3^2") == 512
    assert evaluate_constant("-2^2") == -4
    assert evaluate_constant("(-2)^2") == 4
    assert evaluate_constant("2^-1") == 0.5
    assert evaluate_constant("1/2*4") == 2
    assert evaluate_constant("8/2/2") == 2
    assert evaluate_constant("2 - 3 - 4") == -5


def test_call_versus_product():
    # A declared variable before a bracket multiplies; a function calls.
    assert parse("x(1 - x)", ["x"]).node == BinOp("*", Var("x"), BinOp("-", Num(Fraction(1)), Var("x")))
    assert parse("exp(x)", ["x"]).node == Call("exp", (Var("x"),))
    # Declared variables shadow functions and constants.
    assert parse(r"\sigma(z)", ["sigma", "z"]).node == BinOp("*", Var("sigma"), Var("z"))
    assert parse("sigmoid(z)", ["sigma", "z"]).node == Call("sigmoid", (Var("z"),))
    assert parse("e", ["e"]).node == Var("e")
    assert parse("e", ["x"]).node == Const("e")


def test_greek_and_subscripted_variables():
    assert parse(r"\theta_0 + \eta", ["theta0", "eta"]).node == BinOp("+", Var("theta0"), Var("eta"))
    assert parse("θ + η", ["theta", "eta"]).node == parse(r"\theta + \eta", ["theta", "eta"]).node
    assert normalize_name("a_{1}") == "a1"
    assert normalize_name(r"\theta") == "theta"
    assert normalize_name("θ_0") == "theta0"
    with pytest.raises(ValueError):
        normalize_name("1a")


def test_greedy_splitting_of_declared_names():
    parsed = parse("w2a1", NET)
    assert parsed.node == BinOp("*", Var("w2"), Var("a1"))
    assert any("w2*a1" in w for w in parsed.warnings)
    # Longest first piece, backtracking when the rest cannot be split.
    assert text("abc", ["ab", "a", "bc"]) == "a*bc"
    assert text("abc", ["ab", "c", "a", "bc"]) == "ab*c"
    # Long runs are split without recursion, and hit the size limit.
    assert "too long" in error("x" * 1000, ["x"])
    assert len(parse("x" * 100, ["x"]).warnings[0]) < 120
    # Function names are pieces too; the longest wins.
    assert text("xexp(y)", ["x", "y"]) == "x*exp(y)"
    assert text("2pix", ["x"]) == "2*pi*x"


def test_undeclared_names_are_errors_not_letters():
    message = error("q*x")
    assert "unknown name 'q'" in message and "a1, a2, w2, x, y" in message
    assert "unknown name 'xy2'" in error("xy2 + 1")
    assert "unknown name 'alpha'" in error(r"\alpha x")
    # LaTeX commands are never split.
    assert "unknown LaTeX command '\\thetax'" in error(r"\thetax", ["theta", "x"])
    assert text(r"\theta x", ["theta", "x"]) == "theta*x"


def test_function_argument_needs_brackets():
    assert "needs its argument in parentheses" in error(r"\ln x")
    assert "needs its argument in parentheses" in error("exp x")
    assert "whole-number power" in error(r"\tanh^{-1}(x)")
    assert "takes 2 arguments" in error("max(x)")


def test_unbalanced_empty_and_garbage():
    assert error("") == "the expression is empty"
    assert error("   ") == "the expression is empty"
    assert "empty brackets '{}' at position 6" in error(r"\frac{}{}")
    assert "'(' at position 1 is never closed" in error("(x + y")
    assert "unmatched ')' at position 6" in error("x + y)")
    assert "closed by ']'" in error("(x + y]")
    assert "ends too early" in error("x +")
    assert "unexpected '*' at position 1" in error("* x")
    assert "unexpected character '$'" in error("$x$")
    assert "unknown LaTeX command" in error(r"\int x")
    assert "abs(x)" in error("|x|")


@pytest.mark.parametrize("src, fragment", [
    ("x^100000", "too large"),
    ("9**9**9**9", "too large"),
    ("9^{9^{9}}", "too large"),
    ("2^(10^10)", "too large"),
    ("x^(10^10)", "too large"),
    ("10^400", "too large"),
    ("(10^50)^3", "too large"),
    ("e^(e^(e^(e^x)))*0 + e^(e^(e^(e^5)))", "too large"),
    ("1e400", "too large"),
    ("1" * 40, "more than 30 digits"),
    ("1/0 + x", "undefined"),
    ("log(-1) + x", "undefined"),
    ("-" * 400 + "x", "nested too deeply"),
    ("x" + "^x" * 300, "too long"),
    ("+".join(["x"] * 300), "too long"),
    ("(" * 60 + "x" + ")" * 60, "nested more than"),
])
def test_limits(src, fragment):
    start = time.perf_counter()
    assert fragment in error(src)
    assert time.perf_counter() - start < 1.0


def test_length_limit():
    assert "characters long" in error("x+" * MAX_LENGTH)
    assert MAX_NESTING <= 100


def test_allowed_powers_still_work():
    assert evaluate_constant("2^100") == 2.0**100
    assert evaluate_constant("10^-5") == pytest.approx(1e-5)
    assert text("x^100") == "x^100"


def test_evaluate_constant():
    assert evaluate_constant("sqrt(2)/2") == pytest.approx(math.sqrt(2) / 2)
    assert evaluate_constant(r"\frac{3}{4}") == 0.75
    assert evaluate_constant("e^-1") == pytest.approx(math.exp(-1))
    assert evaluate_constant("2pi") == pytest.approx(2 * math.pi)
    assert evaluate_constant("sigmoid(0)") == 0.5
    for bad in ("x", "(-8)^(1/3)", "sqrt(-1)", "__import__('os')", "1/0"):
        with pytest.raises(ExpressionError):
            evaluate_constant(bad)


def test_numeric_evaluation_real_semantics():
    node = parse("log(x) + sqrt(y)", ["x", "y"]).node
    values = evaluate(node, {"x": np.array([1.0, -1.0, 1.0]), "y": np.array([4.0, 4.0, -4.0])})
    assert values[0] == 2.0 and not np.isfinite(values[1]) and not np.isfinite(values[2])
    cube = parse("x^3", ["x"]).node
    assert evaluate(cube, {"x": np.array([-2.0])})[0] == -8.0


# --- round trip ----------------------------------------------------------------------------------

def _trees():
    leaves = st.one_of(
        st.sampled_from([Var("x"), Var("y"), Const("pi"), Const("e")]),
        st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False).map(lambda d: Num(Fraction(d))),
    )

    def grow(children):
        def safe(builder, *parts):
            try:
                return builder(*parts)
            except ExpressionError:
                return None

        return st.one_of(
            children.map(lambda a: safe(Neg, a)),
            st.tuples(st.sampled_from("+-*/"), children, children).map(lambda t: safe(BinOp, *t)),
            st.tuples(children, st.integers(0, 3).map(lambda k: Num(Fraction(k)))).map(lambda t: safe(Pow, *t)),
            st.tuples(children, children).map(lambda t: safe(Pow, *t)),
            st.tuples(st.sampled_from(["exp", "sigmoid", "tanh"]), children).map(lambda t: safe(Call, t[0], (t[1],))),
            st.tuples(children, children).map(lambda t: safe(Call, "max", t)),
        ).filter(lambda n: n is not None)

    return st.recursive(leaves, grow, max_leaves=12)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_trees())
def test_printing_round_trips(tree):
    assume(tree is not None)
    assert parse(to_text(tree), ["x", "y"]).node == tree


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("xy12+-*/^()[]{}.,_ \\eplnsqrtfacigm|")), max_size=40))
def test_arbitrary_text_either_parses_or_raises_expression_error(src):
    try:
        parsed = parse(src, ["x", "y"])
    except ExpressionError as exc:
        assert str(exc)
    else:
        parse(to_text(parsed.node), ["x", "y"])


# --- comparison ----------------------------------------------------------------------------------

S_NET = Settings(variables=tuple(NET), simplify=True)
S_Z = Settings(variables=("z",), simplify=True)


@pytest.mark.parametrize("answer", [
    r"(a_2 - y) w_2 a_1 (1 - a_1) x",
    "x*a1*w2*(a2 - y)*(1 - a1)",
    "w2a1(a2 - y)(1 - a1)x",
    "a2*w2*a1*x - a2*w2*a1^2*x - y*w2*a1*x + y*w2*a1^2*x",
    "(a2 - y)*w2*(a1 - a1^2)*x",
])
def test_equivalent_backprop_answers(answer):
    outcome = compare(answer, BACKPROP, S_NET)
    assert outcome.equivalent and outcome.method in ("identical", "symbolic")


@pytest.mark.parametrize("answer, reference", [
    (r"\sigma(z)(1-\sigma(z))", "exp(-z)/(1+exp(-z))^2"),
    (r"\frac{e^{-z}}{(1+e^{-z})^2}", "sigmoid(z)*(1 - sigmoid(z))"),
    ("σ(z)·(1 − σ(z))", "exp(-z)/(1+exp(-z))^2"),
    (r"1 - \tanh^2(z)", "1/cosh(z)^2"),
    ("sech(z)^2", "1 - tanh(z)^2"),
])
def test_equivalent_activation_derivatives(answer, reference):
    outcome = compare(answer, reference, S_Z)
    assert outcome.equivalent and outcome.method == "symbolic", outcome


@pytest.mark.parametrize("answer", [
    "(y - a2)*w2*a1*(1 - a1)*x",  # sign error
    "(a2 - y)*w2*a1*x",  # missing factor
    "(a2 - y)*w2*a1*(1 - a1)",  # missing x
    "(a2 - y)*w2*a1*(1 + a1)*x",
])
def test_wrong_backprop_answers(answer):
    outcome = compare(answer, BACKPROP, S_NET)
    assert not outcome.equivalent and outcome.method == "different"
    assert set(outcome.point) == set(NET)
    assert outcome.answer_value is not None and outcome.reference_value is not None
    assert outcome.answer_value != pytest.approx(outcome.reference_value)


def test_wrong_activation_derivative():
    assert not compare(r"\sigma(z)(1+\sigma(z))", "exp(-z)/(1+exp(-z))^2", S_Z).equivalent
    assert not compare(r"1 + \tanh^2(z)", "1/cosh(z)^2", S_Z).equivalent


def test_comparison_is_reproducible():
    first = compare("(a2 - y)*w2*a1*x", BACKPROP, S_NET)
    second = compare("(a2 - y)*w2*a1*x", BACKPROP, S_NET)
    assert first == second


def test_numeric_only_when_simplify_is_off():
    outcome = compare(r"1 - \tanh^2(z)", "1/cosh(z)^2", Settings(variables=("z",), simplify=False))
    assert outcome.equivalent and outcome.method == "numeric" and outcome.points == 10


def test_points_where_the_reference_is_undefined_are_redrawn():
    s = Settings(variables=("x",), domain=(("x", 0.0, 1.0),), points=12)
    outcome = compare("(x - 0.7)^(1/2)", "sqrt(x - 0.7)", s)
    assert outcome.equivalent and outcome.points == 12


def test_answer_undefined_where_reference_is_defined():
    outcome = compare("sqrt(x - 1)", "x", Settings(variables=("x",)))
    assert not outcome.equivalent and outcome.answer_value is None


def test_zero_reference_with_rounding_noise():
    outcome = compare("sin(x)^2 + cos(x)^2 - 1", "0", Settings(variables=("x",), domain=(("x", -3.0, 3.0),)))
    assert outcome.equivalent


def test_tolerance():
    s = Settings(variables=("x",), simplify=False)
    assert not compare("x*1.0001", "x", s).equivalent
    assert compare("x*1.0001", "x", Settings(variables=("x",), rtol=1e-3, simplify=False)).equivalent


def test_declared_functions_are_unknown_functions():
    s = Settings(variables=("x", "y"), functions=("f", "g"))
    assert compare("g(y) f(x)", "f(x)*g(y)", s).equivalent
    assert not compare("f(y)", "f(x)", s).equivalent
    assert not compare("f(x)^2", "f(x^2)", s).equivalent
    assert not compare("2f(x)", "f(2x)", s).equivalent


def test_symbolic_budget_is_respected():
    from grader.mathexpr.symbolic import make_symbols

    names = ("x", "y", "z", "w")
    symbols = make_symbols({n: (0.1, 0.9) for n in names})
    a = to_sympy(parse("(x+y+z+w)^30*(x-y)", names).node, symbols)
    b = to_sympy(parse("(x+y+z+w)^30*x - (x+y+z+w)^30*y", names).node, symbols)
    start = time.perf_counter()
    step, note = prove_zero(a - b, 0.2)
    assert step is None and "out of time" in note
    assert time.perf_counter() - start < 1.5


# --- nothing evaluates text ----------------------------------------------------------------------

FORBIDDEN_CALLS = {"eval", "exec", "sympify", "parse_expr", "parse_latex", "lambdify", "S"}
FORBIDDEN_BUILTINS = FORBIDDEN_CALLS | {"compile", "__import__"}
FORBIDDEN_IMPORTS = {"pickle", "marshal", "dill", "shelve"}


def test_sources_never_call_evaluating_functions():
    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "grader" / "mathexpr").glob("*.py")) + [root / "grader" / "kinds" / "expression.py"]
    # the derivatives solver builds sympy objects from instructors' text: the same rule holds
    files.append(root / "reference" / "derivatives.py")
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name):
                    assert func.id not in FORBIDDEN_BUILTINS, f"{path.name}:{node.lineno} calls {func.id}"
                elif isinstance(func, ast.Attribute):
                    assert func.attr not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {func.attr}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                assert not FORBIDDEN_IMPORTS & {m.split(".")[0] for m in modules if m}, f"{path.name} imports {modules}"
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sympy"):
                assert not {a.name for a in node.names} & FORBIDDEN_CALLS


def test_student_text_never_reaches_eval_or_exec(monkeypatch):
    seen: list[str] = []
    real_eval, real_exec = builtins.eval, builtins.exec

    def spy_eval(source, *args, **kwargs):
        seen.append(str(source))
        return real_eval(source, *args, **kwargs)

    def spy_exec(source, *args, **kwargs):
        seen.append(str(source))
        return real_exec(source, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", spy_eval)
    monkeypatch.setattr(builtins, "exec", spy_exec)
    s = Settings(variables=("qq", "rr"))
    compare("qq^2 rr - rr qq qq + exp(qq)", "exp(qq) + 0*rr", s)
    compare("qq rr (1 - qq)", "qq*rr - qq^2*rr", s)
    assert not any("qq" in source for source in seen)


# --- definitions ---------------------------------------------------------------------------------

INPUTS = ("x", "w1", "b1", "w2", "b2", "y")
FORWARD = (("z1", "w1*x + b1"), ("a1", "sigmoid(z1)"), ("z2", "w2*a1 + b2"), ("a2", "sigmoid(z2)"))
S_FORWARD = Settings(variables=INPUTS, definitions=FORWARD, simplify=True)


def test_settings_with_definitions_survive_json():
    assert Settings.from_json(S_FORWARD.to_json()) == S_FORWARD
    assert S_FORWARD.names == INPUTS + ("z1", "a1", "z2", "a2")


@pytest.mark.parametrize("answer", [
    "(a2 - y)*w2*sigmoid(z1)*(1 - sigmoid(z1))*x",
    "(sigmoid(w2*a1 + b2) - y)*w2*a1*(1 - a1)*x",
    "(sigmoid(w2*sigmoid(w1*x + b1) + b2) - y)*w2*sigmoid(w1*x + b1)*(1 - sigmoid(w1*x + b1))*x",
])
def test_answers_are_functions_of_the_free_variables(answer):
    outcome = compare(answer, BACKPROP, S_FORWARD)
    assert outcome.equivalent and outcome.method == "symbolic", outcome


def test_a_difference_is_reported_at_a_point_of_the_free_variables():
    outcome = compare("(a2 - y)*w2*a1*x", BACKPROP, S_FORWARD)
    assert not outcome.equivalent and set(outcome.point) == set(INPUTS)
    point = {name: outcome.point[name] for name in INPUTS}
    a1 = 1 / (1 + math.exp(-(point["w1"] * point["x"] + point["b1"])))
    a2 = 1 / (1 + math.exp(-(point["w2"] * a1 + point["b2"])))
    assert outcome.reference_value == pytest.approx((a2 - point["y"]) * point["w2"] * a1 * (1 - a1) * point["x"], rel=1e-12)
    assert outcome.answer_value == pytest.approx((a2 - point["y"]) * point["w2"] * a1 * point["x"], rel=1e-12)


def test_a_broken_definition_is_the_references_problem_not_the_students():
    from grader.mathexpr import ReferenceProblem

    with pytest.raises(ReferenceProblem, match="a definition is unusable: a1: uses z1, defined after it"):
        compare("a1", "a1", Settings(variables=("x",), definitions=(("a1", "sigmoid(z1)"), ("z1", "x"))))


# --- sympy back to our grammar (for the derivatives solver) ---------------------------------------

@pytest.mark.parametrize("src", [
    "(a2 - y)*w2*a1*(1 - a1)*x",
    "-a1 - y/2 + 3*x^2",
    "exp(-x)/(1 + exp(-x))^2",
    "sqrt(x)/(2*a1) - 1/sqrt(y)",
    "x^(3/2) + e^2 + pi*log(a2)",
    "1 - tanh(x)^2 + arctan(y) + abs(x - y)",
    "max(x, y)*min(a1, a2) + max(max(x, y), a1)",
])
def test_from_sympy_writes_an_equal_expression_in_the_grammar(src):
    from grader.mathexpr.symbolic import from_sympy, make_symbols

    symbols = make_symbols({n: (0.1, 0.9) for n in NET})
    node = parse(src, NET).node
    back = parse(to_text(from_sympy(to_sympy(node, symbols))), NET).node
    env = {n: np.linspace(0.15, 0.85, 7) + 0.01 * k for k, n in enumerate(NET)}
    np.testing.assert_allclose(evaluate(back, env), evaluate(node, env), rtol=1e-12)


def test_abstract_sigmoid_differentiates_through_its_value():
    import sympy as sp

    from grader.mathexpr.symbolic import ABSTRACT, from_sympy

    z = sp.Symbol("z", positive=True)
    node = parse("sigmoid(z)", ["z"]).node
    assert to_text(from_sympy(sp.diff(to_sympy(node, {"z": z}, ABSTRACT), z))) == "(1 - sigmoid(z))*sigmoid(z)"
    softplus = to_sympy(parse("softplus(z)", ["z"]).node, {"z": z}, ABSTRACT)
    assert to_text(from_sympy(sp.diff(softplus, z))) == "sigmoid(z)"


def test_products_keep_the_chain_order_and_one_sign():
    import sympy as sp

    from grader.mathexpr.symbolic import product_from_sympy

    a1, a2, w2, x, y, s1, s2, Z = sp.symbols("a1 a2 w2 x y s1 s2 Z")
    assert to_text(product_from_sympy([a2 - y, w2, a1 * (1 - a1), x])) == "(a2 - y)*w2*a1*(1 - a1)*x"
    assert to_text(product_from_sympy([-s1 / Z, s2])) == "-s1*s2/Z"
    assert to_text(product_from_sympy([sp.Rational(-3, 4), x / y])) == "-3*x/(4*y)"


@pytest.mark.parametrize("build", [
    lambda sp, x: sp.Heaviside(x),
    lambda sp, x: sp.Float(0.5) * x,
    lambda sp, x: sp.Derivative(sp.Function("f")(x), x),
    lambda sp, x: sp.I * x,
])
def test_from_sympy_refuses_what_the_grammar_cannot_write(build):
    import sympy as sp

    from grader.mathexpr.symbolic import from_sympy

    with pytest.raises(ValueError, match="cannot be written in the expression grammar"):
        from_sympy(build(sp, sp.Symbol("x")))
