"""Property-based tests: on any generated input, only the engine's own error type escapes.

`nox -s fuzz` runs these with HYPOTHESIS_PROFILE=fuzz (>= 10,000 cases in all); the default
profile keeps the ordinary test run quick.
"""

from __future__ import annotations

import os
import re
import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pincite.errors import PinciteError, SliceError
from pincite.reader import cite, parse_line_range, symbol_span, symbol_table
from pincite.sphinxext import _lines, _release_and_path

settings.register_profile("default", max_examples=150, deadline=None)
settings.register_profile(
    "fuzz", max_examples=2_500, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

NAMES = st.sampled_from(["f", "g", "Model", "Inner", "call", "losses", "x", "_p", "async_"])
DECORATORS = st.lists(
    st.sampled_from(["@property", "@staticmethod", "@cache", "@a.setter"]), max_size=2
)


@st.composite
def definitions(draw, depth: int = 0) -> list[str]:
    """Source lines of one (possibly nested) def/class with decorators."""
    kind = draw(st.sampled_from(["def", "async def", "class"]))
    name = draw(NAMES)
    head = f"{kind} {name}(self):" if kind != "class" else f"class {name}:"
    lines = [*draw(DECORATORS), head]
    body: list[str] = []
    if depth < 3:
        for _ in range(draw(st.integers(0, 2))):
            body += draw(definitions(depth + 1))
    if not body or draw(st.booleans()):
        body.append(draw(st.sampled_from(["pass", "return 1", "x = 2  # note", '"""doc"""'])))
    return lines + textwrap.indent("\n".join(body), "    ").splitlines()


@st.composite
def modules(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        parts += draw(definitions())
        parts += [""] * draw(st.integers(0, 2))
    return "\n".join(parts) + "\n"


@given(modules())
def test_every_listed_symbol_slices_to_its_own_definition(source: str) -> None:
    table = symbol_table(__import__("ast").parse(source))
    lines = source.splitlines()
    for name, spans in table.items():
        if len(spans) > 1:
            # A redefined name is either one citation (accessors) or refused, naming each
            # candidate; every candidate is then citable by index.
            try:
                symbol_span(source, name)
            except SliceError as exc:
                assert all(f"L{s}-L{e}" in str(exc) for s, e in spans)
            for i, span in enumerate(spans):
                assert symbol_span(source, f"{name}[{i}]") == span
            assert symbol_span(source, f"{name}[-1]") == spans[-1]
            continue
        start, end = symbol_span(source, name)
        assert 1 <= start <= end <= len(lines)
        first = lines[start - 1].strip()
        assert first.startswith(("@", "def ", "async def ", "class "))
        # The first definition line of the slice defines this very name.
        head = next(
            line.strip()
            for line in lines[start - 1 : end]
            if line.strip().startswith(("def ", "async def ", "class "))
        )
        assert re.search(rf"(def|class) {re.escape(name.rsplit('.', 1)[-1])}\b", head), head
        assert len(spans) >= 1


@given(
    modules() | st.text(max_size=300),
    st.text(max_size=40),
    st.one_of(st.none(), st.text(max_size=15)),
    st.one_of(st.none(), st.text(max_size=15)),
    st.lists(st.text(max_size=10), max_size=3),
    st.one_of(st.none(), st.text(max_size=12)),
)
def test_cite_raises_only_slice_errors(source, symbol, start_at, end_before, emph, lines) -> None:
    try:
        sl = cite(
            source,
            pyobject=symbol or None,
            lines=lines if not symbol else None,
            start_at=start_at,
            end_before=end_before,
            emphasize=emph,
        )
    except SliceError:
        return
    assert 1 <= sl.start <= sl.end <= len(source.splitlines())
    assert len(sl.lines) == sl.end - sl.start + 1
    assert all(sl.start <= n <= sl.end for n in sl.emphasize)


@given(st.text(max_size=30), st.integers(min_value=0, max_value=500))
def test_line_range_parser_raises_only_slice_errors(spec: str, n_lines: int) -> None:
    try:
        start, end = parse_line_range(spec, n_lines)
    except SliceError:
        return
    assert 1 <= start <= end <= n_lines


@given(st.text(max_size=60))
def test_directive_option_parsers_raise_only_their_errors(value: str) -> None:
    assert all(line and line == line.strip() for line in _lines(value))
    try:
        release, path = _release_and_path(value, ":old:")
    except ValueError:
        return
    assert release and path and " " not in release + path


def test_engine_errors_share_one_base() -> None:
    assert issubclass(SliceError, PinciteError)
