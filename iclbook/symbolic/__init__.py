"""The paper's objects in exact sympy arithmetic, for the book's step-by-step derivations.

- :mod:`iclbook.symbolic.core` — symbols, the softmax and its Jacobian, expectations from moments, exact
  conversions and zero tests;
- :mod:`iclbook.symbolic.model` — the model (eqs. 2–8) and the ridge problems (eqs. 20, 25) at small sizes
  (``book/ch02_transformer``, ``book/ch03_ridge``);
- :mod:`iclbook.symbolic.loss` — Lemma 5, the gradients of §6.3 and Lemma 6 (``book/ch04_loss``,
  ``book/ch05_gradients``, ``book/ch06_reparam``).

Every public name of the three modules is available here (``from iclbook import symbolic as sy``; ``sy.softmax``).
``import iclbook`` does not import sympy; this package does.
"""
from .core import *  # noqa: F401,F403
from .core import __all__ as _core
from .loss import *  # noqa: F401,F403
from .loss import __all__ as _loss
from .model import *  # noqa: F401,F403
from .model import __all__ as _model

__all__ = [*_core, *_model, *_loss]
