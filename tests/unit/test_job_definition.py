"""@stoker.job, function paths and signature binding: what a worker could not run is refused."""

from __future__ import annotations

import functools
import sys
import types
from datetime import timedelta
from typing import Any

import pytest

import stoker
from stoker.core.errors import JobDefinitionError
from stoker.core.jobs import Invocation, JobOptions, function_path, options_of, resolve
from tests.unit import jobs_for_tests as jobs


def test_job_decorator_without_parentheses_marks_and_keeps_the_function() -> None:
    assert jobs.marked_bare(3) == 3
    assert options_of(jobs.marked_bare) == JobOptions()
    assert stoker.core.jobs.is_marked(jobs.marked_bare)


def test_job_decorator_with_empty_parentheses_marks_the_function() -> None:
    assert jobs.marked_empty(4) == 4
    assert stoker.core.jobs.is_marked(jobs.marked_empty)


def test_job_decorator_stores_its_options() -> None:
    options = options_of(jobs.marked_with_options)
    assert options.queue == "mail"
    assert options.retries == 2
    assert options.retry_delays == (5, 7)
    assert options.on_exhausted == "delete"


def test_undecorated_function_has_empty_options() -> None:
    assert options_of(jobs.add) == JobOptions()
    assert not stoker.core.jobs.is_marked(jobs.add)


def test_job_decorator_stores_exception_classes_as_dotted_names() -> None:
    assert options_of(jobs.retried_only_on_value_error).only_on == ("builtins.ValueError",)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": ""}, "queue name"),
        ({"queue": "has space"}, "may only contain"),
        ({"queue": "x" * 65}, "at most 64"),
        ({"retries": -1}, "retries must be >= 0"),
        ({"retries": 1.5}, "retries must be an int"),
        ({"retries": True}, "retries must be an int"),
        ({"retry_delays": [-1]}, "retry delays"),
        ({"retry_delays": ["soon"]}, "retry delays"),
        ({"on_exhausted": "explode"}, "on_exhausted"),
        ({"timeout": timedelta(0)}, "timeout must be a positive timedelta"),
        ({"timeout": 30}, "timeout must be a positive timedelta"),
        ({"only_on": [42]}, "expected an exception class"),
        ({"except_on": [int]}, "expected an exception class"),
    ],
)
def test_job_decorator_rejects_bad_options_when_written(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(JobDefinitionError, match=message):
        stoker.job(**options)


def test_job_decorator_rejects_something_that_is_not_callable() -> None:
    with pytest.raises(JobDefinitionError, match="needs a function"):
        stoker.job("mail")  # type: ignore[call-overload]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_job_decorator_rejects_retry_delays_that_are_not_finite(value: float) -> None:
    # BUG: accepted today; the retry filter later fails on timedelta(seconds=nan/inf), inside
    # the worker's finish loop, which then retries forever as if the storage were down.
    with pytest.raises(JobDefinitionError, match="retry delays"):
        stoker.job(retry_delays=[value])


def test_job_decorator_takes_a_single_exception_name_as_one_name() -> None:
    # BUG: a plain string is iterated character by character (only_on=('V','a','l',...)), so
    # the job is silently never retried. One name must mean one name (or be refused).
    try:
        decorate = stoker.job(only_on="ValueError")  # a str is a Sequence[str]: mypy is happy
    except JobDefinitionError:
        return

    def target() -> None: ...

    assert options_of(decorate(target)).only_on == ("ValueError",)


# --- function paths ---------------------------------------------------------------------------


def test_function_path_of_a_module_level_function() -> None:
    assert function_path(jobs.add) == "tests.unit.jobs_for_tests:add"


def test_function_path_of_a_static_method_reached_through_its_class() -> None:
    assert function_path(jobs.Holder.static) == "tests.unit.jobs_for_tests:Holder.static"


def test_function_path_of_a_functools_wrapped_function_is_the_wrapper() -> None:
    path = function_path(jobs.wrapped_with_functools)
    assert path == "tests.unit.jobs_for_tests:wrapped_with_functools"
    assert resolve(path) is jobs.wrapped_with_functools


def test_function_path_rejects_a_lambda() -> None:
    with pytest.raises(JobDefinitionError, match="lambda or a nested function"):
        function_path(lambda x: x)


def test_function_path_rejects_a_module_level_lambda() -> None:
    with pytest.raises(JobDefinitionError, match="lambda"):
        function_path(jobs.LAMBDA)


def test_function_path_rejects_a_nested_function() -> None:
    with pytest.raises(JobDefinitionError, match=r"make_nested\.<locals>\.nested"):
        function_path(jobs.make_nested())


def test_function_path_rejects_a_bound_method_of_an_instance() -> None:
    with pytest.raises(JobDefinitionError, match="bound method"):
        function_path(jobs.Holder().method)


def test_function_path_rejects_a_partial() -> None:
    with pytest.raises(JobDefinitionError, match="partial"):
        function_path(functools.partial(jobs.add, 1))


def test_function_path_rejects_a_function_defined_in_main() -> None:
    func = types.FunctionType(jobs.add.__code__, {}, "script_job")
    func.__module__ = "__main__"
    func.__qualname__ = "script_job"
    with pytest.raises(JobDefinitionError, match="__main__"):
        function_path(func)


def test_function_path_rejects_a_function_of_a_module_that_cannot_be_imported() -> None:
    module = types.ModuleType("stoker_tests_not_importable")
    exec("def job(x):\n    return x\n", module.__dict__)
    assert "stoker_tests_not_importable" not in sys.modules
    with pytest.raises(JobDefinitionError, match="cannot import module"):
        function_path(module.job)


def test_function_path_rejects_a_function_whose_name_now_means_another() -> None:
    with pytest.raises(JobDefinitionError, match="does not import back"):
        function_path(jobs.ORIGINAL_SHADOWED)


def test_function_path_rejects_a_callable_object_without_a_name() -> None:
    with pytest.raises(JobDefinitionError, match="not a function a worker can import"):
        function_path(jobs.Holder())  # type: ignore[arg-type]


def test_function_path_accepts_a_class_method_reached_through_its_class() -> None:
    # BUG: rejected as "a bound method" although the error text itself says class methods
    # reached through their class are fine (and a worker can import Holder.klass).
    assert function_path(jobs.Holder.klass) == "tests.unit.jobs_for_tests:Holder.klass"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon_here", "looks like 'package.module:function'"),
        (":add", "looks like"),
        ("tests.unit.jobs_for_tests:", "looks like"),
        ("tests.unit.no_such_module:add", "cannot import module"),
        ("tests.unit.jobs_for_tests:no_such_function", "has no attribute"),
        ("tests.unit.jobs_for_tests:ORIGINAL_SHADOWED.__name__", "not callable"),
    ],
)
def test_resolve_explains_what_is_missing(path: str, message: str) -> None:
    with pytest.raises(JobDefinitionError, match=message):
        resolve(path)


# --- signature binding ------------------------------------------------------------------------


def test_invocation_names_the_function_and_the_missing_argument() -> None:
    with pytest.raises(JobDefinitionError) as caught:
        Invocation.of(jobs.with_options_named_like_ours, ("q",), {})
    text = str(caught.value)
    assert "tests.unit.jobs_for_tests:with_options_named_like_ours" in text
    assert "'retries'" in text


def test_invocation_names_an_unexpected_keyword_argument() -> None:
    with pytest.raises(JobDefinitionError, match=r"jobs_for_tests:add.*'c'"):
        Invocation.of(jobs.add, (1,), {"c": 2})


def test_invocation_rejects_too_many_positional_arguments() -> None:
    with pytest.raises(JobDefinitionError, match=r"jobs_for_tests:add.*too many"):
        Invocation.of(jobs.add, (1, 2, 3), {})


def test_invocation_rejects_an_argument_given_twice() -> None:
    with pytest.raises(JobDefinitionError, match="multiple values for argument 'a'"):
        Invocation.of(jobs.add, (1,), {"a": 2})


def test_binding_errors_are_type_errors_for_callers_that_catch_those() -> None:
    with pytest.raises(TypeError):
        Invocation.of(jobs.add, (), {})


def test_invocation_stores_path_and_tagged_arguments() -> None:
    invocation = Invocation.of(jobs.echo, (1, (2, 3)), {"k": b"x"})
    assert invocation.function == "tests.unit.jobs_for_tests:echo"
    assert invocation.decoded() == ([1, (2, 3)], {"k": b"x"})
