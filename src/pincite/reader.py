"""A pure reader that cuts a cited slice out of Python source, in small, checkable steps.

Nothing here touches Sphinx, the network or the file system: every function takes text and
returns line numbers (1-based, inclusive, as upstream numbers them) or raises SliceError.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pincite.errors import SliceError

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
#: What a dotted symbol can name.
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
_BLOCKS = (ast.If, ast.Try, ast.With, ast.AsyncWith) + (
    (ast.TryStar,) if hasattr(ast, "TryStar") else ()
)


@dataclass(frozen=True)
class Slice:
    """A contiguous run of upstream lines plus the upstream line numbers to emphasise."""

    start: int
    end: int
    lines: tuple[str, ...]
    emphasize: tuple[int, ...] = field(default=())

    @property
    def text(self) -> str:
        """The slice's lines joined (no trailing newline)."""
        return "\n".join(self.lines)


def source_lines(source: str) -> list[str]:
    """Lines as Python's tokenizer and ``ast`` number them: split on newlines only.

    ``str.splitlines`` also splits on form feeds, vertical tabs and other separators that are
    ordinary characters to Python, which would shift every upstream line number after them.
    """
    lines = re.split(r"\r\n|\r|\n", source)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse(source: str, filename: str = "<source>") -> ast.Module:
    """Parse ``source``; a syntax error becomes a SliceError naming file and line."""
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise SliceError(f"{filename}:{exc.lineno}: cannot parse as Python: {exc.msg}") from None


def _span(node: Definition) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    return start, node.end_lineno or node.lineno


def _scope_defs(body: Iterable[ast.stmt]) -> Iterable[Definition]:
    """Definitions directly in a scope, looking through if/try/with blocks (not into defs)."""
    for stmt in body:
        if isinstance(stmt, _DEFS):
            yield stmt
        elif isinstance(stmt, _BLOCKS):
            for attr in ("body", "orelse", "finalbody"):
                yield from _scope_defs(getattr(stmt, attr, []))
            for handler in getattr(stmt, "handlers", []):
                yield from _scope_defs(handler.body)


#: Decorators that define one name in several pieces (property accessors, typing overloads).
_ACCESSOR = re.compile(r"(^|\.)(property|setter|getter|deleter|overload)$")


def _is_accessor(node: ast.AST) -> bool:
    for dec in getattr(node, "decorator_list", []):
        target = dec.func if isinstance(dec, ast.Call) else dec
        if _ACCESSOR.search(ast.unparse(target)):
            return True
    return False


def _definitions(tree: ast.Module) -> dict[str, list[tuple[int, int, bool]]]:
    """Every dotted name mapped to its definitions: (start, end, is an accessor/overload)."""
    table: dict[str, list[tuple[int, int, bool]]] = {}

    def visit(body: Iterable[ast.stmt], prefix: str) -> None:
        for node in _scope_defs(body):
            name = f"{prefix}{node.name}"
            table.setdefault(name, []).append((*_span(node), _is_accessor(node)))
            visit(node.body, name + ".")

    visit(tree.body, "")
    return table


def symbol_table(tree: ast.Module) -> dict[str, list[tuple[int, int]]]:
    """Every dotted name (``Class.method``, ``func.inner``) mapped to the spans defining it."""
    return {name: [(s, e) for s, e, _ in defs] for name, defs in _definitions(tree).items()}


def symbol_span(source: str, symbol: str, filename: str = "<source>") -> tuple[int, int]:
    """Lines of ``symbol`` with its decorators; overloads and property accessors together.

    A name defined more than once in one scope (not as accessors or overloads) must say which
    definition it means: ``name[0]`` is the first, ``name[-1]`` the last, the one Python binds.
    """
    m = re.fullmatch(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\[(-?\d+)\])?", symbol or "")
    if not m:
        raise SliceError(f"{symbol!r} is not a dotted Python name (optionally with [index])")
    name, index = m[1], m[2]
    table = _definitions(parse(source, filename))
    defs = table.get(name)
    if not defs:
        near = difflib.get_close_matches(name, list(table), n=3, cutoff=0.6)
        if not near:
            last = name.rsplit(".", 1)[-1]
            near = sorted(n for n in table if n.rsplit(".", 1)[-1] == last)[:3]
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise SliceError(f"symbol {name!r} not found in {filename}{hint}")
    candidates = ", ".join(f"[{n}] L{s}-L{e}" for n, (s, e, _) in enumerate(defs))
    if index is not None:
        try:
            start, end, _ = defs[int(index)]
        except IndexError:
            raise SliceError(
                f"symbol {name!r} has {len(defs)} definition(s) in {filename} ({candidates}); "
                f"there is no [{index}]"
            ) from None
        return start, end
    # Accessors and overloads (all but possibly the last decorated so) form one citation.
    if len(defs) == 1 or all(acc for _, _, acc in defs[:-1]):
        return min(s for s, _, _ in defs), max(e for _, e, _ in defs)
    raise SliceError(
        f"symbol {name!r} is defined {len(defs)} times in one scope of {filename} "
        f"({candidates}); cite one: {name}[0] for the first, {name}[-1] for the last (the one "
        "Python binds)"
    )


def parse_line_range(spec: str, n_lines: int) -> tuple[int, int]:
    """``"120-140"``, ``"120-"``, ``"-140"`` or ``"120"`` as absolute upstream lines."""
    m = re.fullmatch(r"\s*(\d*)\s*(-?)\s*(\d*)\s*", spec or "")
    if not m or not (m[1] or m[3]) or (not m[2] and not m[1]):
        raise SliceError(f"invalid line range {spec!r}; use e.g. 120-140")
    start = int(m[1]) if m[1] else 1
    end = (int(m[3]) if m[3] else n_lines) if m[2] else start
    if start > end:
        raise SliceError(f"line range {spec!r} is reversed: it starts at {start}, after {end}")
    if not 1 <= start <= end <= n_lines:
        raise SliceError(f"line range {spec!r} is outside the file (1-{n_lines})")
    return start, end


def narrow(
    lines: Sequence[str],
    start: int,
    end: int,
    *,
    start_after: str | None = None,
    start_at: str | None = None,
    end_before: str | None = None,
    end_at: str | None = None,
    what: str = "the slice",
) -> tuple[int, int]:
    """Narrow ``start..end`` with literalinclude-style substring patterns."""
    if start_after is not None and start_at is not None:
        raise SliceError("use only one of start-after and start-at")
    if end_before is not None and end_at is not None:
        raise SliceError("use only one of end-before and end-at")

    def find(pattern: str, lo: int, hi: int, option: str) -> int:
        if not pattern:
            raise SliceError(f"{option}: empty pattern")
        for n in range(lo, hi + 1):
            if pattern in lines[n - 1]:
                return n
        hint = nearest_lines(pattern, lines, lo, hi)
        raise SliceError(f"{option} pattern {pattern!r} not found in {what} (L{lo}-L{hi}){hint}")

    first = start
    start_option = None
    if start_after is not None:
        start, start_option = find(start_after, start, end, "start-after") + 1, "start-after"
    elif start_at is not None:
        start, start_option = find(start_at, start, end, "start-at"), "start-at"

    def find_end(pattern: str, option: str) -> int:
        try:
            return find(pattern, start, end, option)
        except SliceError:
            earlier = [n for n in range(first, start) if pattern and pattern in lines[n - 1]]
            if earlier and start_option:
                raise SliceError(
                    f"{option} pattern {pattern!r} matches only at L{earlier[0]}, before the "
                    f"slice starts at L{start} ({start_option}); the end must come after the start"
                ) from None
            raise

    if end_before is not None:
        end = find_end(end_before, "end-before") - 1
    elif end_at is not None:
        end = find_end(end_at, "end-at")
    if start > end:
        raise SliceError(f"the patterns leave nothing of {what}")
    # A pattern's edge can fall on a blank line, which no code block shows: the stated range
    # (and the permalink) are the lines a reader sees.
    if start_after is not None:
        while start < end and not lines[start - 1].strip():
            start += 1
    if end_before is not None:
        while end > start and not lines[end - 1].strip():
            end -= 1
    return start, end


def nearest_lines(pattern: str, lines: Sequence[str], lo: int, hi: int) -> str:
    """A hint for a pattern that matched nothing: the lines most like it, with their numbers."""
    quoted = len(pattern) > 1 and pattern[0] == pattern[-1] and pattern[0] in "\"'"
    if quoted and any(pattern[1:-1] in lines[n - 1] for n in range(lo, hi + 1)):
        return (
            "; without its quotes it matches: in reStructuredText an option's quotes are part "
            "of the value (quote only in MyST, where YAML removes them)"
        )
    wanted = pattern.strip()

    def likeness(n: int) -> float:
        text = lines[n - 1].strip()
        # Against the line's best window of the pattern's length, so a pattern that is a
        # mistyped part of a long line still finds it.
        matcher = difflib.SequenceMatcher(None, wanted, text, autojunk=False)
        size = sum(block.size for block in matcher.get_matching_blocks())
        return size / max(len(wanted), 1)

    ranked = sorted((n for n in range(lo, hi + 1) if lines[n - 1].strip()), key=likeness)
    near = [n for n in reversed(ranked[-3:]) if likeness(n) >= 0.6]
    if not near:
        return ""
    shown = "; ".join(f"L{n}: {lines[n - 1].strip()!r}" for n in near)
    return f"; nearest lines: {shown}"


def emphasized(
    lines: Sequence[str], start: int, end: int, patterns: Iterable[str], what: str = "the slice"
) -> list[int]:
    """Upstream numbers of lines in ``start..end`` containing any pattern; each must match."""
    hits: set[int] = set()
    for pattern in patterns:
        found = [n for n in range(start, end + 1) if pattern and pattern in lines[n - 1]]
        if not found:
            hint = nearest_lines(pattern, lines, start, end)
            raise SliceError(
                f"emphasize pattern {pattern!r} not found in {what} (L{start}-L{end}){hint}"
            )
        hits.update(found)
    return sorted(hits)


def cite(
    source: str,
    *,
    pyobject: str | None = None,
    lines: str | None = None,
    start_after: str | None = None,
    start_at: str | None = None,
    end_before: str | None = None,
    end_at: str | None = None,
    emphasize: Sequence[str] = (),
    emphasize_lines: str | None = None,
    dedent: bool = True,
    filename: str = "<source>",
) -> Slice:
    """Cut one citation out of ``source``: symbol or line range, then patterns, then emphasis."""
    all_lines = source_lines(source)
    if not all_lines:
        raise SliceError(f"{filename} is empty")
    what = filename
    if pyobject and lines:
        raise SliceError("use either pyobject or lines, not both")
    if pyobject:
        start, end = symbol_span(source, pyobject, filename)
        what = f"{pyobject} in {filename}"
    elif lines:
        start, end = parse_line_range(lines, len(all_lines))
    else:
        start, end = 1, len(all_lines)
    start, end = narrow(
        all_lines,
        start,
        end,
        start_after=start_after,
        start_at=start_at,
        end_before=end_before,
        end_at=end_at,
        what=what,
    )
    marks = set(emphasized(all_lines, start, end, emphasize, what))
    if emphasize_lines:
        for part in emphasize_lines.split(","):
            lo, hi = parse_line_range(part, len(all_lines))
            if lo < start or hi > end:
                raise SliceError(f"emphasize-lines {part.strip()!r} is outside L{start}-L{end}")
            marks.update(range(lo, hi + 1))
    body = all_lines[start - 1 : end]
    if dedent:
        body = textwrap.dedent("\n".join(body)).split("\n")
    return Slice(start=start, end=end, lines=tuple(body), emphasize=tuple(sorted(marks)))


def unified_diff(old: Slice, new: Slice, old_label: str, new_label: str) -> str:
    """A unified diff of two slices whose hunk headers carry the real upstream line numbers."""
    out = []
    for line in difflib.unified_diff(
        list(old.lines), list(new.lines), old_label, new_label, lineterm="", n=3
    ):
        m = re.match(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@(.*)$", line)
        if m:
            a = int(m[1]) + old.start - 1 if int(m[1]) else old.start - 1
            b = int(m[3]) + new.start - 1 if int(m[3]) else new.start - 1
            line = f"@@ -{a}{m[2] or ''} +{b}{m[4] or ''} @@{m[5]}"
        out.append(line)
    return "\n".join(out)
