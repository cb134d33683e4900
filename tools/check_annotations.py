"""Report how many public functions of ``topdown_zoo`` carry complete type hints.

A function is public when its name does not start with ``_`` (``__init__`` counts too), it is
not nested in another function, and no enclosing class is private. It is fully annotated when
every parameter (``self``/``cls`` of a method excepted, ``*args``/``**kwargs`` included) and the
return carry a hint. Pure ``ast``: the package is never imported.

    python tools/check_annotations.py [PATH ...]   # default: the topdown_zoo package

Prints the share of fully annotated public functions and lists the others; exits 1 if any.
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = (ROOT / "topdown_zoo",)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def is_public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def public_functions(tree: ast.Module) -> Iterator[tuple[str, FunctionNode, bool]]:
    """Yield ``(qualified name, node, is_method)`` for every public function of a module."""

    def walk(body: list[ast.stmt], prefix: str, in_class: bool) -> Iterator[tuple[str, FunctionNode, bool]]:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_public(node.name):
                yield prefix + node.name, node, in_class
            elif isinstance(node, ast.ClassDef) and is_public(node.name):
                yield from walk(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, (ast.If, ast.Try)):  # e.g. `if TYPE_CHECKING:` / optional imports
                blocks = [node.body, node.orelse]
                if isinstance(node, ast.Try):
                    blocks += [node.finalbody, *(h.body for h in node.handlers)]
                for block in blocks:
                    yield from walk(block, prefix, in_class)

    yield from walk(tree.body, "", False)


def missing_hints(node: FunctionNode, is_method: bool) -> list[str]:
    """Names of the parameters without a hint (``"return"`` for a missing return hint)."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
    if is_method and positional and "staticmethod" not in decorators:
        positional = positional[1:]  # self / cls
    params = [*positional, *args.kwonlyargs]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    missing = [a.arg for a in params if a.annotation is None]
    if node.returns is None:
        missing.append("return")
    return missing


def python_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        else:
            yield path


def check(paths: Sequence[Path]) -> tuple[int, list[str]]:
    """Return the number of public functions and one line per incompletely annotated one."""
    total, problems = 0, []
    for path in python_files(paths):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for qualname, node, is_method in public_functions(tree):
            total += 1
            missing = missing_hints(node, is_method)
            if missing:
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                problems.append(f"{shown}:{node.lineno}: {qualname} lacks hints for {', '.join(missing)}")
    return total, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: topdown_zoo/)")
    options = parser.parse_args(argv)
    total, problems = check(options.paths or DEFAULT_PATHS)
    for line in problems:
        print(line)
    share = 100.0 * (total - len(problems)) / total if total else 100.0
    print(f"{total - len(problems)}/{total} public functions fully annotated ({share:.1f}%)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
