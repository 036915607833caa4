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
