"""What an experiment computes: one configuration type, :class:`Config`, with named presets.

Every figure module ``iclbook.experiments.<figure>`` declares

- ``PRESETS``: preset name → the figure's parameters (sizes, optimiser, grid, step count), e.g.
  ``"paper"`` (the paper's protocol, §4, with the book's choices where the paper is silent) and
  ``"quick"`` (a smoke test of seconds; for Figure 2(a) the first records of the paper run); the
  four-layer figures (PyTorch) also have ``"reduced"`` (the book's scale for two CPU cores);
- ``TOKENS``: the token protocols the figure implements (``"unit"``: unit-norm tokens, the theory's
  setting, §2; ``"gaussian"``: raw standard Gaussian tokens, the paper's §4), the first its default;
- ``OBJECTIVES`` (the figures of the one-layer model that train it): what Adam descends
  (``"population"``: the exact population loss of Lemma 5, as the paper's Figure 4 text states;
  ``"minibatch"``: batches of 256 from 10 000 fixed training prompts, as its §4 set-up describes), the
  first its default. A figure without ``OBJECTIVES`` has ``objective=None``.

A :class:`Config` is a figure, a preset, the preset's parameters (possibly changed) and the protocol
choices that hold for every figure (the ``seed``, the ``tokens``, the training ``objective``). It says *what* is computed; *how*
(progress bars, PyTorch device and threads) is given to ``run`` separately. Equal configurations give
equal results, and :meth:`Config.key` names a configuration stably, so results can be stored and
looked up by it.

Protocol switches that apply to every figure are fields of :class:`Config` (validated against the
figure's declaration, as ``tokens`` is against ``TOKENS``); a figure's own numbers are ``params``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["FIGURES", "TORCH_FIGURES", "Config", "config", "figure_module"]

#: The paper's figures that the package reproduces.
FIGURES = ("fig2a", "fig2b", "fig3", "fig4", "fig5")

#: The figures of the four-layer transformer (PyTorch, :mod:`iclbook.fourlayer`).
TORCH_FIGURES = ("fig2b", "fig5")


def figure_module(figure: str):
    """The module ``iclbook.experiments.<figure>`` (``figure`` one of :data:`FIGURES`)."""
    if figure not in FIGURES:
        raise ValueError(f"figure must be one of {', '.join(FIGURES)}, got {figure!r}")
    return importlib.import_module(f"{__package__}.{figure}")


def _frozen(v):
    """A read-only copy of a JSON-like value (lists become tuples)."""
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, Mapping):
        return MappingProxyType({k: _frozen(x) for k, x in v.items()})
    return v


def _plain(v):
    """The JSON form of a value made by :func:`_frozen` (tuples become lists)."""
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class Config:
    """One experiment: ``figure`` (one of :data:`FIGURES`), the ``preset`` it started from, its
    parameters ``params`` (read-only; ``config["steps"]`` reads one), the random ``seed``, the token
    protocol ``tokens`` and the training ``objective`` (None for a figure that declares no
    ``OBJECTIVES``). Build one with :func:`config`; change it with :meth:`replace`."""

    figure: str
    preset: str
    params: Mapping[str, Any]
    seed: int = 0
    tokens: str = "unit"
    objective: str | None = None

    def __post_init__(self):
        mod = figure_module(self.figure)
        if self.preset not in mod.PRESETS:
            raise ValueError(f"{self.figure} has the presets {', '.join(mod.PRESETS)}, "
                             f"got {self.preset!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.tokens not in mod.TOKENS:
            raise ValueError(f"{self.figure} implements tokens {' or '.join(map(repr, mod.TOKENS))}, "
                             f"got {self.tokens!r}")
        objectives = getattr(mod, "OBJECTIVES", ())
        if objectives and self.objective not in objectives:
            raise ValueError(f"{self.figure} implements objective {' or '.join(map(repr, objectives))}, "
                             f"got {self.objective!r}")
        if not objectives and self.objective is not None:
            raise ValueError(f"{self.figure} does not train the one-layer model: objective must be None, "
                             f"got {self.objective!r}")
        unknown = set(self.params) - set(mod.PRESETS[self.preset])
        if unknown:
            raise ValueError(f"{self.figure} has no parameter {', '.join(sorted(unknown))}")
        object.__setattr__(self, "params", _frozen(dict(self.params)))

    def __repr__(self):
        preset = figure_module(self.figure).PRESETS[self.preset]
        changed = "".join(f", {k}={_plain(v)!r}" for k, v in self.params.items()
                          if _frozen(preset.get(k)) != v)
        objective = "" if self.objective is None else f", objective={self.objective!r}"
        return (f"Config({self.figure!r}, {self.preset!r}, seed={self.seed}, "
                f"tokens={self.tokens!r}{objective}{changed})")

    def __hash__(self):
        return hash(self.key())

    def __getitem__(self, name: str):
        return _plain(self.params[name])

    def replace(self, **changes) -> "Config":
        """A copy with ``changes``: fields (``seed``, ``tokens``, ``objective``, ``preset``) by name, and any parameter
        of the figure (``steps=100``, ``lr=1e-3``, ...). ValueError for a name the figure does not have."""
        fields = {f.name for f in dataclasses.fields(self)} - {"figure", "params"}
        params = dict(self.params)
        for name, value in changes.items():
            if name not in fields and name not in params:
                raise ValueError(f"{self.figure} has no parameter or field {name!r}; parameters: "
                                 f"{', '.join(params)}")
            if name not in fields:
                params[name] = value
        new = {k: v for k, v in changes.items() if k in fields}
        return dataclasses.replace(self, params=params, **new)

    def as_dict(self) -> dict:
        """The parameters as a plain (JSON) dict: what the results record under ``"config"``."""
        return _plain(self.params)

    def spec(self) -> dict:
        """Everything that defines this configuration as plain JSON (figure, preset, seed, tokens, the
        objective when the figure has one, params): what a worker process needs to rebuild it
        (:meth:`from_spec`), and what a sweep keys its runs by."""
        out = {"figure": self.figure, "preset": self.preset, "seed": self.seed, "tokens": self.tokens,
               "params": self.as_dict()}
        if self.objective is not None:
            out["objective"] = self.objective
        return out

    @classmethod
    def from_spec(cls, spec: dict) -> "Config":
        """The configuration :meth:`spec` describes."""
        return cls(spec["figure"], spec["preset"], spec["params"], seed=spec["seed"], tokens=spec["tokens"],
                   objective=spec.get("objective"))

    def key(self) -> str:
        """A stable name of this configuration (figure, preset, seed, tokens, objective and the parameters): equal
        configurations have equal keys, on any machine and in any process."""
        text = json.dumps(self.spec(), sort_keys=True)
        return f"{self.figure}-{self.preset}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def config(figure: str, preset: str = "paper", **changes) -> Config:
    """The configuration of ``figure`` with the named ``preset`` (``"paper"``, ``"quick"``, and
    ``"reduced"`` for the four-layer figures), with the figure's first ``TOKENS`` and ``OBJECTIVES`` (the
    paper's stated protocol), then ``changes`` (see :meth:`Config.replace`).

    Example: ``config("fig4", "paper", steps=100)`` is the paper's Figure 4 run cut to its first 100
    steps (records fall at the same steps, so it is a prefix of the full run)."""
    mod = figure_module(figure)
    if preset not in mod.PRESETS:
        raise ValueError(f"{figure} has the presets {', '.join(mod.PRESETS)}, got {preset!r}")
    objectives = getattr(mod, "OBJECTIVES", ())
    base = Config(figure, preset, mod.PRESETS[preset], tokens=mod.TOKENS[0],
                  objective=objectives[0] if objectives else None)
    return base.replace(**changes)
