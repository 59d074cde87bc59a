"""Parameter spaces: physical parameter values <-> the unit cube the optimisers see.

A :class:`Param` is pure data (name, unit, bounds, scale or named choices).
A :class:`ParamSpace` maps a vector ``u`` in ``[0, 1]^d`` over its *free*
parameters to a patch dictionary of physical values and back.  Locking a
parameter (e.g. the pitch found by analysis) or narrowing its range is an
operation on the space, so every optimiser benefits from it without knowing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

__all__ = ["Param", "ParamSpace", "PatchValueError"]


class PatchValueError(ValueError):
    """A parameter value is missing, of the wrong type, not finite or out of range."""


@dataclass(frozen=True)
class Param:
    """One synthesis parameter.

    Parameters
    ----------
    name : str
        Column name (the seed project's names, e.g. ``"filter_cutoff"``).
    unit : str
        Physical unit shown to users (``"Hz"``, ``"s"``, ``"Q"``, ``""``).
    low, high : float
        Inclusive bounds of a continuous parameter (ignored for choices).
    scale : {"lin", "log"}
        ``"log"`` maps the unit interval geometrically: ``low * (high/low)**u``.
    choices : tuple of str, optional
        Named choices; when given the parameter is categorical and ``u`` is
        binned into ``len(choices)`` equal intervals.
    doc : str
        One-line description.
    """

    name: str
    unit: str = ""
    low: float = 0.0
    high: float = 1.0
    scale: str = "lin"
    choices: tuple[str, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.choices is None:
            if not self.high > self.low:
                raise ValueError(f"{self.name}: high must exceed low")
            if self.scale not in ("lin", "log"):
                raise ValueError(f"{self.name}: unknown scale {self.scale!r}")
            if self.scale == "log" and self.low <= 0:
                raise ValueError(f"{self.name}: a log scale needs low > 0")

    @property
    def is_choice(self) -> bool:
        return self.choices is not None

    @property
    def width(self) -> float:
        """The range's width in natural units: octaves for a log-scaled parameter, its unit otherwise (continuous parameters only)."""
        return math.log2(self.high / self.low) if self.scale == "log" else self.high - self.low

    def decode(self, u: float) -> float | str:
        """Map ``u`` in [0, 1] (clipped) to a physical value or a choice name.

        Raises
        ------
        ValueError
            If ``u`` is NaN (clipping would pass it through as an out-of-range value).
        """
        u = float(u)
        if math.isnan(u):
            raise ValueError(f"{self.name}: cannot decode u = NaN")
        u = min(max(u, 0.0), 1.0)
        if self.choices is not None:
            k = len(self.choices)
            return self.choices[min(int(u * k), k - 1)]
        if self.scale == "log":
            return float(self.low * (self.high / self.low) ** u)
        return float(self.low + (self.high - self.low) * u)

    def encode(self, value: float | str) -> float:
        """Map a physical value (or choice name) to ``u`` in [0, 1].

        Choices map to the centre of their bin, so ``decode(encode(c)) == c``.
        """
        if self.choices is not None:
            return (self.choices.index(value) + 0.5) / len(self.choices)
        v = min(max(float(value), self.low), self.high)
        if self.scale == "log":
            return math.log(v / self.low) / math.log(self.high / self.low)
        return (v - self.low) / (self.high - self.low)

    def check(self, value: Any) -> float | str:
        """Validate one value from a patch file; return it normalised.

        Raises
        ------
        PatchValueError
            With a message naming the parameter and the problem.
        """
        if self.choices is not None:
            if not isinstance(value, str):
                raise PatchValueError(f"{self.name}: expected one of {list(self.choices)}, got {value!r}")
            if value not in self.choices:
                raise PatchValueError(f"{self.name}: unknown choice {value!r} (expected one of {list(self.choices)})")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PatchValueError(f"{self.name}: expected a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise PatchValueError(f"{self.name}: value {value!r} is not finite")
        tol = 1e-9 * max(abs(self.low), abs(self.high), 1.0)
        if v < self.low - tol or v > self.high + tol:
            raise PatchValueError(f"{self.name}: {v:g} {self.unit} is out of range [{self.low:g}, {self.high:g}]".replace("  ", " "))
        return min(max(v, self.low), self.high)

    def describe(self) -> str:
        """Human-readable range, e.g. ``"40–2000 Hz (log)"``."""
        if self.choices is not None:
            return " | ".join(self.choices)
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.low:g}–{self.high:g}{unit} ({self.scale})"


@dataclass(frozen=True)
class ParamSpace:
    """An ordered set of parameters, some of them locked to fixed values.

    Parameters
    ----------
    params : tuple of Param
        All parameters of the voice, in a fixed order.
    locked : mapping of str to value
        Parameters held fixed; they are not part of the unit vector.
    """

    params: tuple[Param, ...]
    locked: Mapping[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError("duplicate parameter names")
        unknown = set(self.locked) - set(names)
        if unknown:
            raise ValueError(f"cannot lock unknown parameters {sorted(unknown)}")

    # -- structure ---------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def free(self) -> tuple[Param, ...]:
        """Parameters that the unit vector covers, in order."""
        return tuple(p for p in self.params if p.name not in self.locked)

    @property
    def dim(self) -> int:
        """Length of the unit vector ``u``."""
        return len(self.free)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def index(self, name: str) -> int:
        """Position of a free parameter in ``u``."""
        return [p.name for p in self.free].index(name)

    def lock(self, **values: float | str) -> "ParamSpace":
        """Return a space with the given parameters held fixed (values are checked)."""
        checked = {k: self[k].check(v) for k, v in values.items()}
        return replace(self, locked={**self.locked, **checked})

    def unlock(self, *names: str) -> "ParamSpace":
        """Return a space where the named parameters are free again."""
        return replace(self, locked={k: v for k, v in self.locked.items() if k not in names})

    def narrow(self, name: str, low: float, high: float) -> "ParamSpace":
        """Return a space where ``name`` only ranges over ``[low, high]`` (clipped to its bounds)."""
        p = self[name]
        lo, hi = max(low, p.low), min(high, p.high)
        if not hi > lo:
            raise ValueError(f"{name}: empty range [{low:g}, {high:g}] within [{p.low:g}, {p.high:g}]")
        new = tuple(replace(q, low=lo, high=hi) if q.name == name else q for q in self.params)
        return replace(self, params=new)

    # -- mapping -----------------------------------------------------------
    def decode(self, u: np.ndarray) -> dict[str, float | str]:
        """Unit vector -> patch dictionary (physical values, choice names).

        Parameters
        ----------
        u : array_like, shape (dim,)
            Values are clipped to [0, 1].
        """
        u = np.asarray(u, dtype=float).reshape(-1)
        if u.shape[0] != self.dim:
            raise ValueError(f"expected a vector of length {self.dim}, got {u.shape[0]}")
        values = dict(zip((p.name for p in self.free), (p.decode(x) for p, x in zip(self.free, u))))
        values.update(self.locked)
        return {p.name: values[p.name] for p in self.params}

    def encode(self, patch: Mapping[str, float | str]) -> np.ndarray:
        """Patch dictionary -> unit vector of shape (dim,) over the free parameters."""
        return np.array([p.encode(patch[p.name]) for p in self.free], dtype=float)

    def check(self, patch: Mapping[str, Any]) -> dict[str, float | str]:
        """Validate a full patch (all parameters present, typed, in range).

        Raises
        ------
        PatchValueError
            Naming the first offending parameter.
        """
        if not isinstance(patch, Mapping):
            raise PatchValueError(f"params must be an object, got {type(patch).__name__}")
        missing = [n for n in self.names if n not in patch]
        if missing:
            raise PatchValueError(f"missing parameter(s): {', '.join(missing)}")
        extra = sorted(set(patch) - set(self.names))
        if extra:
            raise PatchValueError(f"unknown parameter(s): {', '.join(extra)}")
        return {p.name: p.check(patch[p.name]) for p in self.params}
