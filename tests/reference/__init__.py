"""A plain numpy transcription of the paper's model and experimental protocol, independent of ``iclbook``.

Yang, Huang, Liang, Chi, *In-Context Learning with Representations: Contextual Generalization of Trained
Transformers* (NeurIPS 2024, arXiv 2408.10147). Written from the paper's definitions, for readability, not
speed; it never imports ``iclbook``. ``tests/test_reference.py`` compares the package with it.

Conventions (the paper's): the dictionary ``V`` is d×K with token v_k in column k; the features
``Zt`` = (f(v_1), …, f(v_K)) are m×K; every prompt holds the first ``N`` tokens and their labels;
parameters are ``Q`` of shape (H, d, d) (Q_h = Q[h]) and ``w`` of shape (H, K) (w_{h,k} = w[h, k]).
"""
from .adam import Adam
from .model import (architecture_predict_one_prompt, embedding, eq8_predict_one_prompt, head_softmax,
                    predict_prompts, restricted_weights)
from .loss import empirical_loss, empirical_loss_and_grad
from .protocol import (draw_prompts, inference_loss, population_loss_monte_carlo, ridge_limit_prediction,
                       train_adam)

__all__ = [
    "embedding", "restricted_weights", "architecture_predict_one_prompt", "eq8_predict_one_prompt",
    "head_softmax", "predict_prompts", "empirical_loss", "empirical_loss_and_grad", "Adam", "train_adam",
    "draw_prompts", "population_loss_monte_carlo", "ridge_limit_prediction", "inference_loss",
]
