"""The project's own promises: the README documents every nox session."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sessions() -> set[str]:
    """Session names declared in noxfile.py (``name=`` or the function's name, dashed)."""
    names = set()
    for node in ast.parse((ROOT / "noxfile.py").read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if ast.unparse(target) != "nox.session":
                continue
            name = node.name
            if isinstance(deco, ast.Call):
                for kw in deco.keywords:
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                        name = kw.value.value
            names.add(name)
    return names


def test_readme_lists_every_nox_session() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `([\w-]+)` \|", readme, re.M))
    declared = sessions()
    assert {"docs", "tests", "clean", "bench"} <= declared
    assert declared <= listed, f"not in the README's table: {sorted(declared - listed)}"
