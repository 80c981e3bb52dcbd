"""The `expression` kind end to end, through the worker process: grading, hostile input, timeouts."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from grader import mathexpr
from grader.kinds import get, names
from grader.kinds.base import InvalidAnswer, Verdict
from grader.mathexpr import client as worker_client

Expression = get("expression")
NET = ["a_1", "a_2", "y", "w_2", "x"]
BACKPROP = "(a2 - y)*w2*a1*(1 - a1)*x"
PWNED = Path("/tmp/pwned_expr")


def comparator(**options):
    return Expression(Expression.Options(**options))


@pytest.fixture(scope="module")
def net():
    c = comparator(variables=NET, simplify=True)
    return c, c.reference(BACKPROP)


@pytest.fixture(scope="module")
def z():
    return comparator(variables=["z"], simplify=True)


def grade(c, answer, ref) -> Verdict:
    verdict = c.check(answer, ref)
    assert isinstance(verdict, Verdict)
    assert ref not in verdict.message
    return verdict


# --- options and reference -----------------------------------------------------------------------

def test_registered_with_documented_defaults():
    assert "expression" in names()
    options = Expression.Options(variables=["a_{1}", r"\theta", "x"])
    assert options.variables == ["a1", "theta", "x"]
    assert (options.functions, options.domain, options.points, options.rtol, options.timeout_s, options.simplify) \
        == ([], {}, 10, 1e-6, 3.0, False)
    assert mathexpr.DEFAULT_DOMAIN == (0.1, 0.9)


@pytest.mark.parametrize("options", [
    {},
    {"variables": []},
    {"variables": ["x"], "tolerance": 0.1},
    {"variables": ["x", "x"]},
    {"variables": ["1x"]},
    {"variables": ["x"], "domain": {"y": [0, 1]}},
    {"variables": ["x"], "domain": {"x": [1, 0]}},
    {"variables": ["x"], "functions": ["exp"]},
    {"variables": ["x"], "functions": ["x"]},
    {"variables": ["x"], "points": 0},
    {"variables": ["x"], "timeout_s": 0},
])
def test_bad_options_are_rejected(options):
    with pytest.raises(ValidationError):
        Expression.Options(**options)


def test_reference_is_validated_and_canonical(net):
    c, ref = net
    assert ref == BACKPROP
    assert c.reference(r"(a_2 - y) w_2 a_1 (1 - a_1) x") == BACKPROP
    assert c.show(ref) == BACKPROP
    for bad in ("(a2 - q)*x", "(a2 - y", "", r"\frac{}{}", float("nan"), None, True, ["x"]):
        with pytest.raises(ValueError):
            c.reference(bad)
    assert c.reference(2) == "2"
    with pytest.raises(ValueError, match="undefined"):
        c.reference("log(-x)")
    # ... unless the domain makes it defined.
    neg = comparator(variables=["x"], domain={"x": [-2.0, -1.0]})
    assert neg.reference("log(-x)") == "log(-x)"


# --- grading -------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    BACKPROP,
    r"(a_2 - y) w_2 a_1 (1 - a_1) x",
    r"\left(a_{2} - y\right) \cdot w_{2} \cdot a_{1} \cdot \left(1 - a_{1}\right) \cdot x",
    "(a2 − y)·w2·a1·(1 − a1)·x",
    "x a1 (1 - a1) w2 (a2 - y)",
    "w2a1(a2 - y)(1 - a1)x",
    "a2*w2*a1*x - a2*w2*a1**2*x - y*w2*a1*x + y*w2*a1**2*x",
])
def test_equivalent_forms_earn_full_marks(net, answer):
    c, ref = net
    verdict = grade(c, answer, ref)
    assert verdict.fraction == 1.0 and verdict.status == "correct"
    assert "equivalent" in verdict.reason


def test_reason_says_how_equivalence_was_established(net, z):
    c, ref = net
    assert "equivalent (symbolically" in grade(c, "x a1 (1 - a1) w2 (a2 - y)", ref).reason
    off = comparator(variables=NET)  # the default: no proof sought
    verdict = grade(off, "x a1 (1 - a1) w2 (a2 - y)", ref)
    assert "equivalent at 10 random points (no symbolic proof sought: simplify is off)" in verdict.reason
    assert verdict.fraction == 1.0 and verdict.message == "correct"


def test_greedy_split_is_reported_as_a_warning(net):
    c, ref = net
    verdict = grade(c, "w2a1(a2 - y)(1 - a1)x", ref)
    assert verdict.fraction == 1.0
    assert any("w2*a1" in w for w in verdict.warnings)


@pytest.mark.parametrize("answer", [
    r"\sigma(z)(1-\sigma(z))",
    r"\sigma(z) \cdot (1 - \sigma(z))",
    "σ(z)(1 − σ(z))",
    "sigmoid(z)*(1 - sigmoid(z))",
    r"\frac{e^{-z}}{(1+e^{-z})^2}",
    r"\frac{\exp(-z)}{\left(1+\exp(-z)\right)^{2}}",
])
def test_sigmoid_derivative(z, answer):
    ref = z.reference("exp(-z)/(1+exp(-z))^2")
    assert grade(z, answer, ref).fraction == 1.0


@pytest.mark.parametrize("answer", [r"1 - \tanh^2(z)", "1 - tanh(z)^2", r"\operatorname{sech}^2(z)", "1/cosh(z)**2"])
def test_tanh_derivative(z, answer):
    ref = z.reference("1/cosh(z)^2")
    assert grade(z, answer, ref).fraction == 1.0


@pytest.mark.parametrize("answer", [
    "(y - a2)*w2*a1*(1 - a1)*x",  # sign error
    "(a2 - y)*w2*a1*x",  # missing factor
    r"(a_2 - y) w_2 a_1 (1 - a_1)",  # missing x
    "x[0]",  # brackets group: x*0
])
def test_wrong_answers_get_zero_without_revealing_the_reference(net, answer):
    c, ref = net
    verdict = grade(c, answer, ref)
    assert verdict.fraction == 0.0 and verdict.status == "incorrect"
    assert "not equivalent" in verdict.message and " = " in verdict.message
    assert "differs from" in verdict.reason and ref in verdict.reason
    for fragment in ("a2 - y", "1 - a1", "w2*a1"):
        assert fragment not in verdict.message


def test_wrong_activation_derivatives(z):
    assert grade(z, r"\sigma(z)(1+\sigma(z))", z.reference("exp(-z)/(1+exp(-z))^2")).fraction == 0.0
    assert grade(z, r"1 + \tanh^2(z)", z.reference("1/cosh(z)^2")).fraction == 0.0


def test_undeclared_variable_is_invalid_with_a_message(net):
    c, ref = net
    with pytest.raises(InvalidAnswer) as info:
        c.check("(a2 - q)*w2*a1*(1 - a1)*x", ref)
    message = str(info.value)
    assert "unknown name 'q'" in message and "a1, a2, w2, x, y" in message
    assert ref not in message


# --- hostile input -------------------------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('touch /tmp/pwned_expr')",
    "(1).__class__.__base__.__subclasses__()",
    "9**9**9**9",
    "9^{9^{9}}",
    r"\frac{}{}",
    "lambda: 0",
    "x.real",
    "x[0]",
    '"abc"',
    "",
    "x" * 1_000_000,
    "x + \udc80",
    "(" * 10_000 + "x" + ")" * 10_000,
    "(" * 400 + "x" + ")" * 400,
    "x^(10^10)",
    "2^(10^10)",
    "x^100000",
    "10^400",
    "exp(exp(exp(exp(x))))",
    "open('/etc/passwd').read()",
    "import os",
    "x; import os",
    "${x}$",
    "\\input{/etc/passwd}",
    "\x00x",
    None,
    ["x"],
    {"x": 1},
    True,
]


@pytest.mark.parametrize("answer", HOSTILE, ids=[repr(h)[:40] for h in HOSTILE])
def test_hostile_input_is_rejected_quickly_and_never_run(net, answer):
    c, ref = net
    start = time.perf_counter()
    try:
        verdict = c.check(answer, ref)
    except InvalidAnswer as exc:
        message = str(exc)
        assert message and len(message) < 300 and ref not in message
    else:
        assert verdict.fraction == 0.0 and verdict.message
    assert time.perf_counter() - start < 5.0
    assert not PWNED.exists()


def test_invalid_messages_name_the_problem(net):
    c, ref = net
    expectations = {
        "": "empty",
        r"\frac{}{}": "empty brackets",
        "(a1 + x": "never closed",
        "a1 + x)": "unmatched ')'",
        "a1 +": "ends too early",
        "x.real": "unexpected character '.'",
        "x^100000": "too large",
        "x" * 1_000_000: "characters long",
        "x + \udc80": "not valid UTF-8",
        r"\ln x": "needs its argument in parentheses",
    }
    for answer, fragment in expectations.items():
        with pytest.raises(InvalidAnswer, match=re.escape(fragment)):
            c.check(answer, ref)


# --- the worker ----------------------------------------------------------------------------------

def test_worker_killed_mid_proof_leaves_the_points_verdict_and_the_next_check_works(monkeypatch):
    c = comparator(variables=["x", "y", "z", "w"], timeout_s=20.0, simplify=True)
    heavy_ref = c.reference("(x+y+z+w)^30*x - (x+y+z+w)^30*y")
    # Give sympy (not the parent) all the time, so the proof is still running when we kill it.
    monkeypatch.setattr(worker_client, "symbolic_budget", lambda timeout_s: 30.0)
    worker = worker_client.default_client()
    grade(c, "x^2", c.reference("x*x"))  # make sure a worker is running
    pid = worker.pid
    assert pid is not None
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    start = time.perf_counter()
    verdict = c.check("(x+y+z+w)^30*(x-y)", heavy_ref)
    assert time.perf_counter() - start < 10
    assert verdict.fraction == 1.0 and verdict.message == "correct"
    assert "equivalent at 10 random points (no symbolic check: " in verdict.reason
    assert "stopped unexpectedly" in verdict.reason
    monkeypatch.undo()
    after = grade(c, "2x", c.reference("x + x"))
    assert after.fraction == 1.0 and worker.pid not in (None, pid)


def test_a_proof_out_of_time_costs_no_mark_and_the_worker_restarts(monkeypatch):
    c = comparator(variables=["x", "y", "z", "w"], timeout_s=0.5, simplify=True)
    heavy_ref = c.reference("(x+y+z+w)^30*x - (x+y+z+w)^30*y")
    monkeypatch.setattr(worker_client, "symbolic_budget", lambda timeout_s: 30.0)
    worker = worker_client.default_client()
    grade(c, "x^2", c.reference("x*x"))  # started, so that its start-up is not what is timed
    starts = worker.starts
    start = time.perf_counter()
    verdict = c.check("(x+y+z+w)^30*(x-y)", heavy_ref)
    assert time.perf_counter() - start < 5
    assert verdict.fraction == 1.0 and verdict.message == "correct"
    assert "the symbolic check took longer than 0.5 s and was stopped" in verdict.reason
    wrong = c.check("(x+y+z+w)^30*(x+y)", heavy_ref)  # a wrong answer never waits for sympy
    assert wrong.fraction == 0.0 and "not equivalent" in wrong.message
    monkeypatch.undo()
    assert "symbolically" in grade(c, "x y", c.reference("y x + 0")).reason
    assert worker.starts == starts + 1


def test_with_the_default_budget_a_heavy_check_stands_on_its_numbers():
    c = comparator(variables=["x", "y", "z", "w"], timeout_s=1.0, simplify=True)
    verdict = c.check("(x+y+z+w)^30*(x-y)", c.reference("(x+y+z+w)^30*x - (x+y+z+w)^30*y"))
    assert verdict.fraction == 1.0 and "random points" in verdict.reason


def test_timeout_of_a_raw_request_and_idle_death_are_survived():
    worker = worker_client.default_client()
    with pytest.raises(mathexpr.CheckTimeout):
        worker.request({"op": "sleep", "seconds": 5}, 0.2)
    assert worker.request({"op": "ping"}, 60)["pong"] is True
    # Killed while idle: the next check starts a fresh worker transparently.
    os.kill(worker.pid, signal.SIGKILL)
    time.sleep(0.2)
    c = comparator(variables=["x"])
    assert grade(c, "x^2", c.reference("x*x")).fraction == 1.0


def test_the_grading_process_never_imports_sympy():
    import subprocess
    import sys

    code = ("import sys; from grader.kinds import get; from grader.mathexpr import client; E = get('expression'); "
            "c = E(E.Options(variables=['x'])); v = c.check('2x', c.reference('x+x')); "
            "w = c.check('3x', c.reference('x+x')); assert v.fraction == 1.0 and w.fraction == 0.0, (v, w); "
            "print('sympy' in sys.modules, client._default)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False None"  # no sympy, and no checker process started


def test_a_broken_reference_is_reported_not_raised():
    c = comparator(variables=["x"])
    verdict = c.check("x", "x +")  # a stored reference that no longer parses
    assert verdict.fraction == 0.0 and "could not be checked" in verdict.message


# --- definitions: named intermediates ------------------------------------------------------------

INPUTS = ["x", "w1", "b1", "w2", "b2", "y"]
FORWARD = {"z1": "w1*x + b1", "a1": "sigmoid(z1)", "z2": "w2*a1 + b2", "a2": "sigmoid(z2)"}


@pytest.fixture(scope="module")
def forward():
    return comparator(variables=INPUTS, definitions=FORWARD, simplify=True)


@pytest.mark.parametrize("answer", [
    "a1*(1-a1)",
    "sigmoid(z1)*(1-sigmoid(z1))",
    "sigmoid(w1*x+b1)*(1-sigmoid(w1*x+b1))",
    r"\sigma(z_1)\left(1 - \sigma(z_1)\right)",
    r"\frac{e^{-z_1}}{(1 + e^{-z_1})^2}",
])
def test_defined_names_and_what_they_stand_for_are_the_same_answer(forward, answer):
    verdict = grade(forward, answer, forward.reference("a1*(1 - a1)"))
    assert verdict.fraction == 1.0 and "equivalent (symbolically" in verdict.reason


def test_the_backprop_gradient_in_names_or_in_inputs(forward):
    ref = forward.reference("(a2 - y)*w2*a1*(1 - a1)*x")
    expanded = "(sigmoid(w2*sigmoid(w1*x + b1) + b2) - y)*w2*sigmoid(w1*x + b1)*(1 - sigmoid(w1*x + b1))*x"
    assert grade(forward, expanded, ref).fraction == 1.0
    assert grade(forward, r"(a_2 - y) w_2 a_1 (1 - a_1) x", ref).fraction == 1.0


@pytest.mark.parametrize("answer", [
    "(y - a2)*w2*a1*(1 - a1)*x",  # sign of dL/dz2
    "(a2 - y)*a1*(1 - a1)*x",  # w2 dropped
    "(a2 - y)*w2*a1*(1 + a1)*x",  # sigma' as sigma (1 + sigma)
    "(a2 - y)*w2*z1*(1 - z1)*x",  # sigma' at the wrong quantity
])
def test_wrong_gradients_differ_at_a_point_of_the_inputs(forward, answer):
    verdict = grade(forward, answer, forward.reference("(a2 - y)*w2*a1*(1 - a1)*x"))
    assert verdict.fraction == 0.0
    point = verdict.message.split("at ", 1)[1].split(" your expression")[0]
    assert sorted(part.split(" = ")[0] for part in point.split(", ")) == sorted(INPUTS)  # no defined name


def test_students_are_told_they_may_use_the_defined_names(forward):
    with pytest.raises(InvalidAnswer, match=r"this answer may use a1, a2, b1, b2, w1, w2, x, y, z1, z2"):
        forward.check("h1*(1 - h1)", forward.reference("a1*(1 - a1)"))


def test_a_reference_undefined_through_its_definitions_is_rejected():
    c = comparator(variables=["x"], definitions={"u": "x - 2"})
    with pytest.raises(ValueError, match="undefined at 100% of random points"):
        c.reference("log(u)")
    assert comparator(variables=["x"], definitions={"u": "x - 2"}, domain={"x": [3, 4]}).reference("log(u)") == "log(u)"


def test_definitions_may_use_declared_functions():
    c = comparator(variables=["x"], functions=["f"], definitions={"u": "f(x)^2"})
    ref = c.reference("2*u")
    assert grade(c, "u + f(x)^2", ref).fraction == 1.0
    assert grade(c, "2*f(x)", ref).fraction == 0.0


@pytest.mark.parametrize("definitions, message", [
    ({"a1": "sigmoid(z1)", "z1": "w1*x + b1"}, "a1: uses z1, defined after it"),
    ({"z1": "w1*z1"}, "z1: its definition uses z1 itself"),
    ({"z1": "w1*q"}, "z1: unknown name 'q'"),
    ({"x": "w1"}, "x: a definition cannot have the name of a variable"),
    ({"tanh": "w1"}, "tanh: a definition cannot have the name of a function or constant"),
    ({"e": "w1"}, "e: a definition cannot have the name of a function or constant"),
    ({"a_1": "w1", "a1": "x"}, "a1 and another definition are both named a1"),
    ({"z1": "w1*x +"}, "z1: the expression ends too early"),
])
def test_bad_definitions_are_rejected_with_the_name_at_fault(definitions, message):
    with pytest.raises(ValidationError) as info:
        Expression.Options(variables=INPUTS, definitions=definitions)
    assert f"definitions\n  Value error, {message}" in str(info.value)


def test_bad_definitions_fail_at_rubric_load_with_file_and_line(write):
    from tests.conftest import rubric_problems

    path = write("r.yaml", """\
    id: r
    defaults:
      expression:
        variables: [x, w]
        definitions:
          a: sigmoid(z)
          z: w*x
    questions:
      - id: q1
        parts:
          - {id: a, kind: expression, marks: 1, answer: "a*(1 - a)*x"}
    """)
    problems = rubric_problems(path)
    assert any(":5: defaults.expression.definitions: a: uses z, defined after it" in p for p in problems), problems
    assert any(":11: questions[0].parts[0].options.definitions: a: uses z" in p for p in problems), problems


def test_a_repeated_answer_is_judged_once_and_a_timeout_is_never_kept(net, monkeypatch):
    """A class types the same few forms: a repeat gets the first verdict without asking the
    checker again, with the same marks and messages; a proof that timed out is asked again."""
    c, ref = net
    asked = []
    real = worker_client.default_client().request

    def counted(payload, timeout_s):
        asked.append(payload["answer"])
        return real(payload, timeout_s)

    monkeypatch.setattr(worker_client.default_client(), "request", counted)
    answer = f"x*(a2 - y)*w2*a1*(1 - a1) + 0*{time.monotonic_ns()}"  # never asked before
    first, second = grade(c, answer, ref), grade(c, answer, ref)
    assert asked == [answer] and first == second and first.fraction == 1.0
    assert "symbolically" in first.reason

    def slow(payload, timeout_s):
        asked.append(payload["answer"])
        raise mathexpr.CheckTimeout("the check took longer than 3 s")

    monkeypatch.setattr(worker_client.default_client(), "request", slow)
    late = f"(a2 - y)*x*w2*a1*(1 - a1) + 0*{time.monotonic_ns()}"
    verdicts = [grade(c, late, ref), grade(c, late, ref)]
    assert [v.fraction for v in verdicts] == [1.0, 1.0] and "took longer than 3 s" in verdicts[0].reason
    assert asked == [answer, late, late]
