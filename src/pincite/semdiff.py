"""A diff a reader can read: changes of code, not of formatting, shown as real upstream lines.

Both slices are cut into units, as Python's tokenizer sees them: a statement (however it is
wrapped), a run of comment lines, a docstring. Each unit gets a key that forgets what a
formatter changes (indentation width, line wrapping, quote style, a trailing comma, a reflowed
docstring or comment), and the keys are diffed. What is shown is still the upstream text, every
line with its own upstream line number: a reflowed docstring is simply not shown as a change.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

from pincite.reader import Slice

#: One ``SequenceMatcher`` opcode: tag, then old and new unit ranges.
Opcode = tuple[str, int, int, int, int]
#: What a diff may be told to ignore, besides formatting (which ``readable_diff`` always ignores).
IGNORABLE = frozenset({"docstrings", "comments"})
_OPENERS = frozenset({"(", "[", "{"})
_CLOSERS = frozenset({")", "]", "}"})
_SKIP = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


@dataclass(frozen=True)
class Unit:
    """Lines ``first``..``last`` (0-based, in the slice) that form one comparable piece."""

    first: int
    last: int
    key: tuple[object, ...]


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _string_key(token: str) -> str:
    """A string literal by its value, so that quote style does not count."""
    try:
        return repr(ast.literal_eval(token))
    except (ValueError, SyntaxError):
        return token  # f-strings and the like: as written


def _string_value(token: str) -> str:
    """A docstring's text, so that reflowing it (new line breaks, indentation) does not count."""
    try:
        return str(ast.literal_eval(token))
    except (ValueError, SyntaxError):
        return token


def _is_docstring(tokens: list[tokenize.TokenInfo]) -> bool:
    return bool(tokens) and all(t.type == tokenize.STRING for t in tokens)


#: Keywords that open a compound statement, whose suite may follow on the same line.
_COMPOUND = frozenset(
    {"if", "elif", "else", "for", "while", "with", "def", "class", "try", "except", "finally"}
)


def _split_inline_suite(
    tokens: list[tokenize.TokenInfo],
) -> list[list[tokenize.TokenInfo]]:
    """A one-line compound statement as [header, suite]; any other statement as [itself]."""
    first = (
        tokens[1].string if tokens[0].string == "async" and len(tokens) > 1 else tokens[0].string
    )
    if first not in _COMPOUND:
        return [tokens]
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.string in _OPENERS:
            depth += 1
        elif tok.string in _CLOSERS:
            depth -= 1
        elif tok.string == ":" and depth == 0:
            # `lambda` colons at depth 0 would end a header early; headers rarely hold one.
            if i + 1 < len(tokens):
                return [tokens[: i + 1], tokens[i + 1 :]]
            return [tokens]
    return [tokens]


def _code_key(tokens: list[tokenize.TokenInfo]) -> object:
    """A statement's key: its syntax tree, else its tokens (values for strings, no trailing ,)."""
    words = [_string_key(t.string) if t.type == tokenize.STRING else t.string for t in tokens]
    # A trailing comma before a closing bracket is a formatter's choice.
    words = [
        w
        for i, w in enumerate(words)
        if not (w == "," and i + 1 < len(words) and words[i + 1] in _CLOSERS)
    ]
    return _statement_shape(tokens) or tuple(words)


def _statement_shape(tokens: list[tokenize.TokenInfo]) -> str | None:
    """The statement's syntax tree, which no formatter changes (parentheses, wrapping, quotes).

    A compound statement's header (``if ...:``) is completed with ``pass`` to parse on its own,
    ``elif`` is read as ``if`` and ``except`` inside a ``try``; what still does not parse alone
    (``else:``, ``finally:``) is compared by its tokens.
    """
    text = " ".join(t.string for t in tokens)
    if text.endswith(":"):
        text += " pass"
    # Clauses that cannot stand alone get the smallest statement they belong to.
    if tokens[0].string == "elif":
        text = "if" + text[len("elif") :]
    elif tokens[0].string == "except":
        text = "try: pass\n" + text
    try:
        return ast.dump(ast.parse(text))
    except SyntaxError:
        return None


def _units_by_tokens(text: str, ignore: frozenset[str]) -> list[Unit]:
    """Statements, comment runs and docstrings, keyed without their formatting."""
    units: list[Unit] = []
    depth = 0
    pending: list[tokenize.TokenInfo] = []
    comments: list[tokenize.TokenInfo] = []  # trailing or inside a wrapped statement
    block: list[tokenize.TokenInfo] = []  # a run of comment-only lines

    def close_block() -> None:
        if block and "comments" not in ignore:
            body = _collapse(" ".join(t.string.lstrip("#") for t in block))
            units.append(Unit(block[0].start[0] - 1, block[-1].start[0] - 1, ("#", body)))
        block.clear()

    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.INDENT:
            depth += 1
        elif tok.type == tokenize.DEDENT:
            depth -= 1
        elif tok.type == tokenize.COMMENT:
            (comments if pending else block).append(tok)
        elif tok.type == tokenize.NEWLINE and pending:
            close_block()
            first, last = pending[0].start[0] - 1, pending[-1].end[0] - 1
            if _is_docstring(pending):
                if "docstrings" not in ignore:
                    value = "".join(_string_value(t.string) for t in pending)
                    units.append(Unit(first, last, (depth, '"""', _collapse(value))))
            else:
                note = (
                    "" if "comments" in ignore else _collapse(" ".join(c.string for c in comments))
                )
                end = max(last, tok.start[0] - 1)
                # `if x: return y` on one line is a header and a body, as when written on two.
                parts = _split_inline_suite(pending)
                for level, part in enumerate(parts):
                    key = (depth + level, _code_key(part), note if level == len(parts) - 1 else "")
                    units.append(Unit(first, end, key))
            pending.clear()
            comments.clear()
        elif tok.type not in _SKIP:
            pending.append(tok)
    close_block()
    return units


def _units_by_lines(lines: Iterable[str], ignore: frozenset[str]) -> list[Unit]:
    """The fallback for a slice that does not tokenize on its own: one unit per line."""
    units = []
    for n, line in enumerate(lines):
        body = _collapse(line)
        if not body or ("comments" in ignore and body.startswith("#")):
            continue
        units.append(Unit(n, n, (body,)))
    return units


def units_of(sl: Slice, ignore: frozenset[str] = frozenset()) -> list[Unit]:
    """The slice as comparable units."""
    text = "\n".join(sl.lines) + "\n"
    try:
        return _units_by_tokens(text, ignore)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _units_by_lines(sl.lines, ignore)


def readable_diff(
    old: Slice,
    new: Slice,
    old_label: str,
    new_label: str,
    ignore: Iterable[str] = (),
    context: int = 2,
) -> str:
    """A diff of the code that changed; each shown line carries its upstream line number.

    Lines read ``<mark><old no> <new no>  <text>``: ``-`` lines are the old release's,
    ``+`` lines the new one's, and context lines are shown as the new release has them.
    """
    skip = frozenset(ignore)
    if unknown := skip - IGNORABLE:
        raise ValueError(f"cannot ignore {', '.join(sorted(unknown))}")
    a, b = units_of(old, skip), units_of(new, skip)
    matcher = difflib.SequenceMatcher(None, [u.key for u in a], [u.key for u in b], autojunk=False)
    out = [f"--- {old_label}", f"+++ {new_label}"]
    # A physical line shown once per side, though `if x: return y` is two units on one line.
    shown: set[tuple[str, int]] = set()

    def rows(mark: str, sl: Slice, units: list[Unit]) -> list[str]:
        lines = []
        for unit in units:
            for n in range(unit.first, unit.last + 1):
                if (mark, n) not in shown:
                    shown.add((mark, n))
                    old_no, new_no = (sl.start + n, "") if mark == "-" else ("", sl.start + n)
                    lines.append(f"{mark}{old_no:>5} {new_no:>5}  {sl.lines[n]}")
        return lines

    for group in matcher.get_grouped_opcodes(context):
        if all(tag == "equal" for tag, *_ in group):
            continue
        out.append(_hunk_header(a, b, group, old.start, new.start))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for ua, ub in zip(a[i1:i2], b[j1:j2], strict=True):
                    if ("+", ub.first) not in shown:
                        shown.update(("+", n) for n in range(ub.first, ub.last + 1))
                        out += _context(old, new, ua, ub)
                continue
            out += rows("-", old, a[i1:i2])
            out += rows("+", new, b[j1:j2])
    return "\n".join(out) if len(out) > 2 else ""


def _context(old: Slice, new: Slice, ua: Unit, ub: Unit) -> list[str]:
    """An unchanged unit, as the new release has it, numbered on both sides where they pair."""
    rows = []
    same_height = ua.last - ua.first == ub.last - ub.first
    for k, n in enumerate(range(ub.first, ub.last + 1)):
        old_no = str(old.start + ua.first + k) if same_height or k == 0 else ""
        rows.append(f" {old_no:>5} {new.start + n:>5}  {new.lines[n]}")
    return rows


def _hunk_header(
    a: list[Unit], b: list[Unit], group: list[Opcode], old_start: int, new_start: int
) -> str:
    """``@@ -first,last +first,last @@`` in upstream line numbers (ranges, not counts)."""
    i1, i2 = group[0][1], group[-1][2]
    j1, j2 = group[0][3], group[-1][4]

    def span(units: list[Unit], lo: int, hi: int, start: int) -> str:
        if lo == hi:
            return "(none)"
        return f"L{start + units[lo].first}-L{start + units[hi - 1].last}"

    return f"@@ {span(a, i1, i2, old_start)} → {span(b, j1, j2, new_start)} @@"


def count_changed(diff_text: str) -> int:
    """Lines a reader has to read as changed: every ``-``/``+`` line but the two headers."""
    return sum(
        1
        for line in diff_text.splitlines()
        if line[:1] in "+-" and not line.startswith(("--- ", "+++ "))
    )


def normalised(source: str) -> list[str]:
    """The code as ``ast`` sees it, docstrings dropped and formatting unified."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree).splitlines()


def ast_changed(old: Slice, new: Slice) -> int:
    """The yardstick: changed lines between the ``ast``-normalised slices."""
    diff = difflib.unified_diff(normalised(old.text), normalised(new.text), lineterm="", n=0)
    return sum(1 for line in diff if line[:1] in "+-" and not re.match(r"^(---|\+\+\+) ", line))
