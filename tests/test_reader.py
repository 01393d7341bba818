"""The pure reader: symbol slicing, patterns, emphasis and line numbers."""

from __future__ import annotations

import textwrap

import pytest

from pincite.errors import SliceError
from pincite.reader import cite, narrow, parse_line_range, symbol_span, unified_diff

TRICKY = textwrap.dedent(
    '''\
    import functools
    from typing import overload


    def plain():
        return 1


    @functools.lru_cache()
    @staticmethod
    def decorated(
        a,
        b,
    ):
        return a + b


    class Outer:
        """Docstring."""

        class Inner:
            def method(self):
                def closure():
                    return 2
                return closure

        @property
        def value(self):
            return self._value

        @value.setter
        def value(self, v):
            self._value = v

        @overload
        def f(self, x: int) -> int: ...
        @overload
        def f(self, x: str) -> str: ...
        def f(self, x):
            return x

        async def fetch(self):
            await something()

        if True:
            def conditional(self):
                pass


    try:
        from fast import thing
    except ImportError:
        def thing():
            return None
    '''
)


def lines_of(start_end: tuple[int, int]) -> list[str]:
    start, end = start_end
    return TRICKY.splitlines()[start - 1 : end]


def test_plain_function_span_is_exact() -> None:
    assert symbol_span(TRICKY, "plain") == (5, 6)


def test_decorators_are_included() -> None:
    start, end = symbol_span(TRICKY, "decorated")
    got = lines_of((start, end))
    assert got[0] == "@functools.lru_cache()"
    assert got[-1] == "    return a + b"


def test_nested_classes_and_closures() -> None:
    assert lines_of(symbol_span(TRICKY, "Outer.Inner.method"))[0].strip() == "def method(self):"
    closure = lines_of(symbol_span(TRICKY, "Outer.Inner.method.closure"))
    assert [c.strip() for c in closure] == ["def closure():", "return 2"]


def test_property_getter_and_setter_are_cited_together() -> None:
    got = lines_of(symbol_span(TRICKY, "Outer.value"))
    assert got[0].strip() == "@property"
    assert got[-1].strip() == "self._value = v"


def test_overloads_and_implementation_together() -> None:
    got = lines_of(symbol_span(TRICKY, "Outer.f"))
    assert got[0].strip() == "@overload"
    assert [g.strip() for g in got].count("@overload") == 2
    assert got[-1].strip() == "return x"


def test_async_def_and_conditional_def_and_try_fallback() -> None:
    assert lines_of(symbol_span(TRICKY, "Outer.fetch"))[0].strip() == "async def fetch(self):"
    assert lines_of(symbol_span(TRICKY, "Outer.conditional"))[-1].strip() == "pass"
    assert lines_of(symbol_span(TRICKY, "thing"))[0].strip() == "def thing():"


def test_unknown_symbol_suggests_near_matches() -> None:
    with pytest.raises(SliceError, match=r"'Outer\.valeu' not found.*did you mean Outer\.value"):
        symbol_span(TRICKY, "Outer.valeu")
    with pytest.raises(SliceError, match=r"did you mean Outer\.Inner\.method"):
        symbol_span(TRICKY, "Inner.method")


def test_bad_symbol_syntax_and_unparsable_source() -> None:
    with pytest.raises(SliceError, match="not a dotted Python name"):
        symbol_span(TRICKY, "Outer..f")
    with pytest.raises(SliceError, match=r"x\.py:1: cannot parse"):
        symbol_span("def (:\n", "f", filename="x.py")


def test_cite_keeps_upstream_line_numbers_and_dedents() -> None:
    sl = cite(TRICKY, pyobject="Outer.Inner.method", start_at="return closure")
    start = TRICKY.splitlines().index("            return closure") + 1
    assert (sl.start, sl.end) == (start, start)
    assert sl.lines == ("return closure",)


def test_cite_without_dedent_keeps_indentation() -> None:
    sl = cite(TRICKY, pyobject="plain", dedent=False, start_at="return")
    assert sl.lines == ("    return 1",)


def test_patterns_narrow_inside_the_symbol_only() -> None:
    sl = cite(TRICKY, pyobject="Outer.f", start_after="def f(self, x):", end_at="return x")
    assert sl.lines == ("return x",)
    with pytest.raises(SliceError, match=r"start-at pattern 'closure' not found in Outer\.value"):
        cite(TRICKY, pyobject="Outer.value", start_at="closure")


def test_end_pattern_is_searched_after_the_start() -> None:
    text = "a = 1\nb = 2\na = 3\nc = 4\n"
    assert narrow(text.splitlines(), 1, 4, start_at="b", end_at="a =") == (2, 3)
    with pytest.raises(SliceError, match="only one of start-after and start-at"):
        narrow(text.splitlines(), 1, 4, start_after="a", start_at="b")
    with pytest.raises(SliceError, match="leave nothing"):
        narrow(text.splitlines(), 1, 4, start_after="c = 4")


def test_emphasis_by_pattern_and_by_line_numbers() -> None:
    sl = cite(TRICKY, pyobject="Outer.value", emphasize=["self._value"])
    assert [TRICKY.splitlines()[n - 1].strip() for n in sl.emphasize] == [
        "return self._value",
        "self._value = v",
    ]
    with pytest.raises(SliceError, match="emphasize pattern 'nope' not found"):
        cite(TRICKY, pyobject="Outer.value", emphasize=["nope"])
    sl = cite(TRICKY, lines="5-6", emphasize_lines="6")
    assert sl.emphasize == (6,)
    with pytest.raises(SliceError, match="outside L5-L6"):
        cite(TRICKY, lines="5-6", emphasize_lines="7")


@pytest.mark.parametrize(
    ("spec", "expected"), [("3-5", (3, 5)), ("4", (4, 4)), ("8-", (8, 10)), ("-2", (1, 2))]
)
def test_line_ranges(spec: str, expected: tuple[int, int]) -> None:
    assert parse_line_range(spec, 10) == expected


@pytest.mark.parametrize("spec", ["", "x", "5-3", "0-2", "9-11", "-"])
def test_bad_line_ranges(spec: str) -> None:
    with pytest.raises(SliceError):
        parse_line_range(spec, 10)


def test_pyobject_and_lines_are_exclusive() -> None:
    with pytest.raises(SliceError, match="either pyobject or lines"):
        cite(TRICKY, pyobject="plain", lines="1-2")


def test_diff_hunks_carry_upstream_line_numbers() -> None:
    old_src = "x = 0\n" * 100 + "def f():\n    a = 1\n    return a\n"
    new_src = "x = 0\n" * 10 + "def f():\n    a = 2\n    return a\n"
    old = cite(old_src, pyobject="f")
    new = cite(new_src, pyobject="f")
    diff = unified_diff(old, new, "old", "new")
    assert "@@ -101,3 +11,3 @@" in diff
    assert "-    a = 1" in diff and "+    a = 2" in diff
    assert unified_diff(old, old, "a", "b") == ""


def test_a_mistyped_pattern_lists_the_nearest_lines() -> None:
    from pincite.errors import SliceError
    from pincite.reader import cite

    source = "def f(x):\n    total = x + 1\n    return total * 2\n"
    with pytest.raises(SliceError, match=r"nearest lines: L3: 'return total \* 2'"):
        cite(source, filename="m.py", pyobject="f", start_at="retrun total")
    with pytest.raises(SliceError, match="in reStructuredText an option's quotes are part"):
        cite(source, filename="m.py", pyobject="f", start_at='"return total"')
    with pytest.raises(SliceError, match=r"emphasize pattern .* nearest lines: L2"):
        cite(source, filename="m.py", pyobject="f", emphasize=["totl = x"])
