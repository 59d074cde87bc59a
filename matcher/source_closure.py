"""Collect the source a function needs, so that it can run outside this project.

:func:`source_closure` starts from a few roots (a voice's ``build`` function,
the renderer's context class), follows the global names their code loads, and
returns the imports, constants and definitions that make those roots run in a
module of their own.  Only the standard library, numpy and the roots' own
project modules are followed; anything else is refused with a one-line error,
so an exported script never needs this project.
"""

from __future__ import annotations

import ast
import builtins
import dis
import inspect
import sys
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

__all__ = ["SourceClosure", "source_closure", "ExportError", "PROJECT_PACKAGES", "ALLOWED_THIRD_PARTY"]

PROJECT_PACKAGES = ("synth", "objectives", "matcher")
"""Top-level packages whose functions and classes are copied by source."""

ALLOWED_THIRD_PARTY = ("numpy", "pyo")
"""Modules an exported script may import besides the standard library."""

_LITERAL_TYPES = (int, float, str, bool, type(None), bytes)

_MAX_ARRAY_ELEMENTS = 4096
"""Largest numpy array constant written into a script as a literal."""


class ExportError(Exception):
    """A root cannot be exported; the message is one line."""


@dataclass
class SourceClosure:
    """What a module needs to define the roots.

    Attributes
    ----------
    imports : list of str
        ``import x as y`` / ``from x import y`` lines.
    constants : list of str
        ``NAME = <literal>`` lines.
    definitions : list of str
        Function and class sources, dependencies first.
    origins : list of str
        ``module.qualname`` of every copied definition (for the script's header).
    """

    imports: list[str] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)


def _is_literal(value: Any) -> bool:
    if isinstance(value, _LITERAL_TYPES):
        return True
    if isinstance(value, (tuple, list, frozenset)):
        return all(_is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(_is_literal(k) and _is_literal(v) for k, v in value.items())
    return False


def _code_imports(code: types.CodeType) -> set[str]:
    """Modules imported inside ``code`` (``import x`` in a function body)."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname == "IMPORT_NAME" and isinstance(ins.argval, str)}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_imports(const)
    return names


def _code_globals(code: types.CodeType) -> set[str]:
    """Global names loaded by ``code`` and the code objects nested in it."""
    names: set[str] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(ins.argval, str):
            names.add(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_globals(const)
    return names


def _header_names(source: str) -> set[str]:
    """Names loaded by the decorators and default values of the definitions in ``source``.

    Those run when the definition is executed, not in its code object, so
    :func:`_code_globals` does not see them.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        exprs: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            exprs = [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        elif isinstance(node, ast.ClassDef):
            exprs = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        for expr in exprs:
            names |= {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    return names


def _functions_of(obj: Any) -> Iterable[types.FunctionType]:
    if inspect.isfunction(obj):
        yield obj
        return
    for member in vars(obj).values():
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            yield from (f for f in (member.fget, member.fset, member.fdel) if f is not None)
        elif inspect.isfunction(member):
            yield member


def _top_package(module_name: str) -> str:
    return module_name.split(".")[0]


def _is_stdlib(module_name: str) -> bool:
    return _top_package(module_name) in sys.stdlib_module_names


def source_closure(roots: Iterable[Any]) -> SourceClosure:
    """The imports, constants and sources needed to define ``roots``.

    Parameters
    ----------
    roots : iterable of functions or classes
        Defined in one of :data:`PROJECT_PACKAGES`.

    Returns
    -------
    SourceClosure

    Raises
    ------
    ExportError
        A needed global is neither a literal, a module of the standard library
        or numpy/pyo, nor a function or class of the project; or two needed
        globals share a name.
    """
    closure = SourceClosure()
    bound: dict[str, Any] = {}  # name in the script -> object it must be
    done: set[int] = set()

    def bind(name: str, value: Any) -> bool:
        """Record that ``name`` means ``value``; ``False`` when already bound to it."""
        if name in bound:
            if bound[name] is not value and not (_is_literal(value) and _is_literal(bound[name]) and bound[name] == value):
                raise ExportError(f"two different globals are both named {name!r}; rename one to export")
            return False
        bound[name] = value
        return True

    def visit(obj: Any) -> None:
        if id(obj) in done:
            return
        done.add(id(obj))
        module = inspect.getmodule(obj)
        module_globals = vars(module) if module is not None else {}
        source = textwrap.dedent(inspect.getsource(obj))
        names = _header_names(source)
        for fn in _functions_of(obj):
            names |= _code_globals(fn.__code__)
            for imported in sorted(_code_imports(fn.__code__)):
                if not (_is_stdlib(imported) or _top_package(imported) in ALLOWED_THIRD_PARTY):
                    raise ExportError(f"{fn.__qualname__} imports {imported}, which an exported script cannot import")
        for name in sorted(names):
            if name in module_globals:
                need(name, module_globals[name], obj)
            elif not hasattr(builtins, name):
                raise ExportError(f"{obj.__qualname__} uses {name!r}, which is not defined in {module.__name__}")
        closure.definitions.append(source.rstrip() + "\n")
        closure.origins.append(f"{obj.__module__}.{obj.__qualname__}")

    def need(name: str, value: Any, user: Any) -> None:
        if isinstance(value, types.ModuleType):
            if not (_is_stdlib(value.__name__) or _top_package(value.__name__) in ALLOWED_THIRD_PARTY):
                raise ExportError(f"{user.__qualname__} needs module {value.__name__}, which an exported script cannot import")
            if bind(name, value):
                line = f"import {value.__name__}" if name == value.__name__ else f"import {value.__name__} as {name}"
                closure.imports.append(line)
            return
        inner = inspect.unwrap(value) if callable(value) and hasattr(value, "__wrapped__") else value
        if inner is not value and inspect.isfunction(inner) and _top_package(getattr(inner, "__module__", "") or "") in PROJECT_PACKAGES:
            # A decorated project function (e.g. functools.cache): its source carries the decorator.
            if bind(name, value):
                visit(inner)
            return
        if isinstance(value, np.ndarray) and value.size <= _MAX_ARRAY_ELEMENTS and value.dtype.kind in "biuf":
            if bind(name, value):
                closure.constants.append(f"{name} = np.array({value.tolist()!r}, dtype=np.{value.dtype.name})")
            return
        if inspect.isfunction(value) or inspect.isclass(value):
            module_name = getattr(value, "__module__", "") or ""
            if _top_package(module_name) in PROJECT_PACKAGES:
                if bind(name, value):
                    if value.__name__ != name:
                        raise ExportError(f"{user.__qualname__} uses {value.__qualname__} under another name ({name!r})")
                    visit(value)
                return
            if _is_stdlib(module_name) or _top_package(module_name) in ALLOWED_THIRD_PARTY:
                if bind(name, value):
                    closure.imports.append(f"from {module_name} import {value.__name__}" + (f" as {name}" if value.__name__ != name else ""))
                return
            raise ExportError(f"{user.__qualname__} needs {module_name}.{value.__qualname__}, which an exported script cannot import")
        if _is_literal(value):
            if bind(name, value):
                closure.constants.append(f"{name} = {value!r}")
            return
        raise ExportError(f"{user.__qualname__} needs the global {name!r} ({type(value).__name__}), which is not a literal, module, function or class")

    for root in roots:
        if id(root) in done:
            continue
        module_name = getattr(root, "__module__", "") or ""
        if _top_package(module_name) not in PROJECT_PACKAGES:
            raise ExportError(f"{root!r} is not defined in this project")
        bind(root.__name__, root)
        visit(root)
    return closure
