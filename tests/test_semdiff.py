"""The readable diff: formatting is not a change, and every shown line is real upstream text."""

from __future__ import annotations

import pytest

from pincite.reader import cite
from pincite.semdiff import ast_changed, count_changed, readable_diff

OLD = '''\
import os


class Model:
  def fit(self, x, y):
    """Fit the model.

    Arguments:
      x: inputs.
    """
    # Formatting-only changes below.
    loss = self.compiled_loss(y, self(x),
                              regularization_losses=self.losses)
    if x is None or y is None:  # nothing to fit
      return None
    return {'loss': loss}
'''

REFORMATTED = '''\
import os


class Model:
    def fit(self, x, y):
        """Fit the
        model.

        Arguments:
          x: inputs.
        """
        # Formatting-only changes
        # below.
        loss = self.compiled_loss(
            y,
            self(x),
            regularization_losses=self.losses,
        )
        if (
            x is None or y is None
        ):  # nothing to fit
            return None
        return {"loss": loss}
'''


def slices(old: str, new: str) -> tuple:
    return cite(old, pyobject="Model.fit"), cite(new, pyobject="Model.fit")


def test_formatting_alone_is_no_change_though_every_line_differs() -> None:
    a, b = slices(OLD, REFORMATTED)
    assert a.lines != b.lines
    assert readable_diff(a, b, "old", "new") == ""


def test_a_real_change_is_shown_with_its_upstream_lines_and_numbers() -> None:
    changed = REFORMATTED.replace("            return None", "            raise ValueError(x)")
    a, b = slices(OLD, changed)
    diff = readable_diff(a, b, "1.0", "2.0")
    removed = [line for line in diff.splitlines() if line.startswith("-") and line[1:2] != "-"]
    added = [line for line in diff.splitlines() if line.startswith("+") and line[1:2] != "+"]
    assert [line.split()[-2:] for line in removed] == [["return", "None"]]
    assert [line.split()[-1] for line in added] == ["ValueError(x)"]
    # Each line is numbered as upstream numbers it, and is that line's text.
    old_lines, new_lines = OLD.splitlines(), changed.splitlines()
    for line in diff.splitlines()[2:]:
        if line.startswith("@@ L"):
            continue
        # Fixed columns: mark, old number (5), space, new number (5), two spaces, the text.
        mark, old_no, new_no, text = line[0], line[1:6].strip(), line[7:12].strip(), line[14:]
        assert mark in " +-" and (old_no or new_no), line
        if mark == "-":
            assert old_lines[int(old_no) - 1].strip() == text.strip()
        else:
            assert new_lines[int(new_no) - 1].strip() == text.strip()
    assert count_changed(diff) == 2


def test_docstring_and_comment_edits_count_unless_ignored() -> None:
    edited = REFORMATTED.replace("x: inputs.", "x: the inputs.").replace(
        "# Formatting-only", "# Only formatting"
    )
    a, b = slices(OLD, edited)
    assert (
        count_changed(readable_diff(a, b, "a", "b")) == 5 + 6 + 1 + 2
    )  # both docstrings, both comments
    assert "Only formatting" in readable_diff(a, b, "a", "b", ["docstrings"])
    assert readable_diff(a, b, "a", "b", ["docstrings", "comments"]) == ""


def test_unknown_ignore_is_refused() -> None:
    a, b = slices(OLD, OLD)
    with pytest.raises(ValueError, match="cannot ignore whitespace"):
        readable_diff(a, b, "a", "b", ["whitespace"])


def test_a_slice_that_does_not_tokenize_falls_back_to_lines() -> None:
    a = cite(OLD, pyobject="Model.fit", start_after="regularization_losses")
    b = cite(OLD.replace("return None", "return 0"), pyobject="Model.fit", start_after="reg")
    diff = readable_diff(a, b, "a", "b")
    assert count_changed(diff) == 2 and "return 0" in diff


def test_the_yardstick_drops_docstrings_and_formatting() -> None:
    a, b = slices(OLD, REFORMATTED)
    assert ast_changed(a, b) == 0
    c, d = slices(OLD, REFORMATTED.replace("return None", "return 0"))
    assert ast_changed(c, d) == 2


def test_clauses_are_compared_by_their_syntax_tree() -> None:
    old = "def f(x):\n    if x:\n        pass\n    elif x > 1 and (x < 3):\n        pass\n"
    old += "    try:\n        pass\n    except (ValueError) as e:\n        pass\n"
    new = (
        "def f(x):\n    if x:\n        pass\n    elif (x > 1\n          and x < 3):\n        pass\n"
    )
    new += "    try:\n        pass\n    except ValueError as e:\n        pass\n"
    a, b = cite(old, pyobject="f"), cite(new, pyobject="f")
    assert readable_diff(a, b, "a", "b") == ""
    changed = cite(new.replace("x < 3", "x < 4"), pyobject="f")
    assert count_changed(readable_diff(a, changed, "a", "b")) == 3  # one line out, two in


@pytest.mark.parametrize("module", ["textwrap", "difflib", "tokenize"])
def test_every_shown_line_is_real_on_stdlib_code_reformatted_by_ast(module: str) -> None:
    """Each function against its `ast.unparse` form: shown lines are the sides' own lines."""
    import ast
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module))
    functions = []  # module-level functions and methods of module-level classes
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            functions.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            functions += [
                (f"{node.name}.{m.name}", m) for m in node.body if isinstance(m, ast.FunctionDef)
            ]
    assert len(functions) > 10
    same = 0
    for name, node in functions:
        old = cite(source, pyobject=name)
        new = cite(ast.unparse(node) + "\n", pyobject=node.name)
        diff = readable_diff(old, new, "a", "b", ["docstrings", "comments"])
        same += diff == ""
        for line in diff.splitlines()[2:]:
            if line.startswith("@@"):
                continue
            mark, old_no, new_no, text = line[0], line[1:6].strip(), line[7:12].strip(), line[14:]
            if mark == "-":
                assert old.lines[int(old_no) - old.start] == text, line
            else:
                assert new.lines[int(new_no) - new.start] == text, line
    # Formatting is all ast.unparse changes: nearly every function reads as unchanged.
    assert same >= 0.9 * len(functions), (same, len(functions))


def test_a_one_line_compound_statement_is_shown_once() -> None:
    old = cite("def f(x):\n    if x: return 1\n    return 0\n", pyobject="f")
    new = cite("def f(x):\n    if x:\n        return 2\n    return 0\n", pyobject="f")
    diff = readable_diff(old, new, "a", "b")
    assert diff.count("if x: return 1") == 1 and count_changed(diff) == 2, diff
    same = cite("def f(x):\n    if x:\n        return 1\n    return 0\n", pyobject="f")
    assert readable_diff(old, same, "a", "b") == ""
