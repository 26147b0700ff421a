"""iclbook: the companion package of the executable textbook of

Yang, Huang, Liang, Chi, *In-Context Learning with Representations: Contextual Generalization of
Trained Transformers* (NeurIPS 2024, arXiv 2408.10147).

Everything the book computes lives here, once, in a module named after the paper's object:

- :mod:`iclbook.problem` — the setting (§2): dictionary, representation, prompts, labels (eq. 1);
- :mod:`iclbook.model` — the one-layer model (eq. 8), its exact population loss (Lemma 5) and gradients (§6.3);
- :mod:`iclbook.architecture` — the same model written as the paper's attention layer (eqs. 2–7);
- :mod:`iclbook.ridge` — the ridge predictors: the limit (eq. 20) and the best one (eq. 25, Lemma 4);
- :mod:`iclbook.convergence` — Assumption 2, Proposition 1, Lemmas 2–10 and Theorem 1;
- :mod:`iclbook.generalization` — Theorem 2 (eqs. 20–22);
- :mod:`iclbook.training` — gradient descent (eq. 10) and the paper's Adam protocol (§4);
- :mod:`iclbook.symbolic` — the same objects in exact sympy arithmetic, for the step-by-step derivations;
- :mod:`iclbook.circle` and :mod:`iclbook.illustrate` — Part I's running example on the unit circle, and its drawings;
- :mod:`iclbook.experiments` — the paper's figures; :mod:`iclbook.fourlayer` — its four-layer transformer.
"""
from .architecture import embed, multihead_attention, restricted_weights, transformer_predict
from .convergence import default_step_sizes, delta0, theorem1_bound, w_smoothness, zeta, zeta_all
from .model import (B_matrices, attention_weights, empirical_loss_and_grad, excess_loss, init_params,
                    population_grad, population_loss, population_loss_and_grad, predict, softmax_weights,
                    weights_for_target)
from .problem import Problem, fourier_basis, fourier_features, make_problem, sample_prompts
from .ridge import ridge_coefficients, ridge_predict
from .training import History, TrainingDiverged, train, train_adam, train_gd

__version__ = "0.1.0"

__all__ = [
    "Problem", "make_problem", "fourier_features", "fourier_basis", "sample_prompts",
    "init_params", "softmax_weights", "attention_weights", "predict", "B_matrices", "excess_loss",
    "weights_for_target", "population_loss", "population_grad", "population_loss_and_grad",
    "empirical_loss_and_grad", "ridge_predict", "ridge_coefficients",
    "zeta", "zeta_all", "w_smoothness", "delta0", "theorem1_bound", "default_step_sizes",
    "train", "train_gd", "train_adam", "History", "TrainingDiverged",
    "embed", "multihead_attention", "restricted_weights", "transformer_predict",
]
