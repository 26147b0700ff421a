"""iclbook: the companion package of the executable textbook of

Yang, Huang, Liang, Chi, *In-Context Learning with Representations: Contextual Generalization of
Trained Transformers* (NeurIPS 2024, arXiv 2408.10147).

Everything the book computes lives here, once: the problem (§2), the model (eq. 8), the exact
population loss (Lemma 5) and its gradients (§6.3), the ridge predictors (eqs. 20, 25), training (eq. 10
and the paper's Adam protocol), the theory's quantities (Assumption 2, Theorem 1) and the experiments
behind Figures 2(a), 3 and 4.
"""
from .architecture import embed, multihead_attention, restricted_weights, transformer_predict
from .model import (B_matrices, attention_weights, empirical_loss_and_grad, init_params, population_grad,
                    population_loss, population_loss_and_grad, predict, sample_prompts, softmax_weights)
from .problem import Problem, fourier_basis, fourier_features, make_problem
from .ridge import ridge_coefficients, ridge_predict
from .theory import default_step_sizes, delta0, theorem1_bound, w_smoothness, zeta, zeta_all
from .train import History, TrainingDiverged, train

__version__ = "0.1.0"

__all__ = [
    "Problem", "make_problem", "fourier_features", "fourier_basis",
    "sample_prompts", "init_params", "softmax_weights", "attention_weights", "predict", "B_matrices",
    "population_loss", "population_grad", "population_loss_and_grad", "empirical_loss_and_grad",
    "ridge_predict", "ridge_coefficients",
    "zeta", "zeta_all", "w_smoothness", "delta0", "theorem1_bound", "default_step_sizes",
    "train", "History", "TrainingDiverged",
    "embed", "multihead_attention", "restricted_weights", "transformer_predict",
]
