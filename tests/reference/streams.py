"""The random draws of the package's runs, reproduced with numpy, so that the reference can be fed the same data.

Only the ORDER of the draws is taken from the package (``iclbook/problem.py``, ``model.py``, ``train.py``); the
laws are the paper's and are checked separately (``tests/test_reference.py``). From ``default_rng(seed)``:

* the problem (§4): tokens V (d×K) i.i.d. N(0, 1), each column normalised to unit norm (the theory's setting,
  the book's choice), then features Z̃ (m×K) i.i.d. N(0, 1);
* a training run: Q(0) (H×d×d) i.i.d. N(0, 1); the training prompts, λ (n×m) and then one standard normal per
  label for the noise λᵀε_k ~ N(0, τ‖λ‖²) of eq. (1); then a permutation of the training set, renewed when
  used up; each step takes the next ``batch`` indices (the last batch of an epoch may be shorter).
"""
import numpy as np


def paper_problem(K, N, d, m, seed):
    """(V, Zt): unit-norm Gaussian tokens and Gaussian features, as drawn by the package's ``make_problem``."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((d, K))
    V = V / np.linalg.norm(V, axis=0, keepdims=True)
    Zt = rng.standard_normal((m, K))
    return V, Zt


def prompts_from(rng, Zt, tau, n, lam_mean=0.0, lam_std=1.0):
    """n prompts of eq. (1) drawn in the package's order: λ, then the label noise λᵀε_k as N(0, τ‖λ‖²)."""
    m, K = Zt.shape
    lam = lam_mean + lam_std * rng.standard_normal((n, m))
    noise = rng.standard_normal((n, K))
    return lam, lam @ Zt + np.sqrt(tau) * np.linalg.norm(lam, axis=1, keepdims=True) * noise


def training_stream(Zt, tau, d, H, seed, n_train, batch, steps):
    """(Q0, Y_train, batches) of an Adam run with ``seed``: see the module docstring."""
    rng = np.random.default_rng(seed)
    Q0 = rng.standard_normal((H, d, d))
    _, Y = prompts_from(rng, Zt, tau, n_train)
    batches, order, pos = [], rng.permutation(n_train), 0
    for _ in range(steps):
        if pos >= n_train:
            order, pos = rng.permutation(n_train), 0
        batches.append(order[pos:pos + batch])
        pos += batch
    return Q0, Y, batches


def figure2a_test_prompts(Zt, tau, seed, n_test, ood_mean, ood_std):
    """The in-domain (λ ~ N(0, I)) and out-of-domain (λ ~ N(ood_mean·1, ood_std² I)) test prompts of
    Figure 2(a), from their own stream ``default_rng([seed, 1])``."""
    rng = np.random.default_rng([seed, 1])
    _, Y_in = prompts_from(rng, Zt, tau, n_test)
    _, Y_ood = prompts_from(rng, Zt, tau, n_test, ood_mean, ood_std)
    return Y_in, Y_ood
