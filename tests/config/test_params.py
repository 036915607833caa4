"""`{param}` templates render like JJB's, with escapes and shell variables kept."""

from __future__ import annotations

import pytest

from trunkgate.config.params import TemplateError, compile_template, param_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("py{python}", "py3.12"),
        ("{{python}}", "{python}"),
        ("echo ${HOME}/{python}", "echo ${HOME}/3.12"),
        ("echo ${{HOME}}", "echo ${HOME}"),
        ("a}}b{{c", "a}b{c"),
        ("{python}-{python}", "3.12-3.12"),
        ("plain", "plain"),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert compile_template(text).render({"python": "3.12"}) == expected


def test_names_are_collected() -> None:
    assert compile_template("{a}-{b-c}-{a}").names == {"a", "b-c"}


@pytest.mark.parametrize(("text", "offset"), [("{a,b}", 0), ("x}", 1), ("ab{", 2)])
def test_unmatched_brace_is_an_error_with_its_offset(text: str, offset: int) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(text)
    assert caught.value.offset == offset


def test_booleans_read_as_yaml_writes_them() -> None:
    assert [param_text(v) for v in (True, False, 3, "x")] == ["true", "false", "3", "x"]


def test_a_template_matches_a_name_as_the_shortest_values_from_the_left() -> None:
    template = compile_template("unit-{python}-{os}")
    assert template.match("unit-3.12-debian-12") == {"python": "3.12", "os": "debian-12"}
    assert template.match("unit-3.12") is None
    assert compile_template("{a}-{a}").match("x-y") is None
    assert compile_template("{a}-{a}").match("x-y-x-y") == {"a": "x-y"}
    assert compile_template("{a}{b}").match("xyz") == {"a": "x", "b": "yz"}
    assert compile_template("{a}z").match("a\nz") is None
    assert compile_template("plain").match("plain") == {}


def test_matching_a_name_that_fits_no_template_takes_no_time() -> None:
    template = compile_template("{a}{b}{c}{d}{e}{f}{g}{h}z")
    assert template.match("a" * 2000) is None
    assert compile_template("{a}-{b}-{c}-{d}-{e}-{f}-{a}").match("x-" * 300) is None
    assert template.match("a" * 300 + "z") is not None
