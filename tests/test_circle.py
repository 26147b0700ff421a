"""Functions added for Part I (chapters 1–2): Assumption 3's test
(iclbook.problem), the predictions of the attention layer with any weights
(iclbook.architecture, iclbook.symbolic.model), and the drawings' legends
(iclbook.illustrate). Each is compared with an independent computation."""
import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402

import iclbook as ic  # noqa: E402
from iclbook import architecture as ar  # noqa: E402
from iclbook import circle as ci  # noqa: E402
from iclbook import illustrate as il  # noqa: E402
from iclbook import symbolic as sy  # noqa: E402
from iclbook.problem import assumption3_gaps, satisfies_assumption3  # noqa: E402


def _pairwise_distinct(row):
    """A plain transcription: no two entries of ``row`` are equal."""
    return all(a != b for a, b in itertools.combinations(row, 2))


def test_assumption3_agrees_with_pairwise_comparison():
    """satisfies_assumption3 = 'some row has pairwise-distinct entries',
    checked by comparing every pair, on random small integer matrices
    (which often repeat values)."""
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(400):
        d, N = rng.integers(1, 4), rng.integers(2, 6)
        VN = rng.integers(0, 4, size=(d, N)).astype(float)
        want = any(_pairwise_distinct(r) for r in VN)
        assert satisfies_assumption3(VN) == want
        seen.add(want)
    assert seen == {True, False}          # both cases were exercised


def test_assumption3_gaps_values_and_tolerance():
    VN = np.array([[0.0, 3.0, 1.0], [2.0, 2.0, 5.0]])
    np.testing.assert_array_equal(assumption3_gaps(VN), [1.0, 0.0])
    assert np.all(np.isinf(assumption3_gaps(np.ones((2, 1)))))
    near = np.array([[0.0, 1e-12, 1.0]])
    assert satisfies_assumption3(near)
    assert not satisfies_assumption3(near, tol=1e-9)
    with pytest.raises(ValueError):
        assumption3_gaps(np.ones(3))


def test_problem_rejects_exactly_the_assumption3_violations():
    """The chapter's three tokens at 30, -30, 150 degrees violate
    Assumption 3 (cos and sin both repeat a value); rotated by 10 degrees
    they do not."""
    for shift, ok in [(0.0, False), (10.0, True)]:
        ang = np.deg2rad(np.array([30.0, -30.0, 150.0, 80.0]) + shift)
        V = np.stack([np.cos(ang), np.sin(ang)])
        assert satisfies_assumption3(V[:, :3], tol=1e-9) == ok
        if ok:
            ic.Problem(V, ic.fourier_basis(ang, 3), N=3, tau=0.1)
        else:
            with pytest.raises(ValueError, match="Assumption 3"):
                ic.Problem(V, ic.fourier_basis(ang, 3), N=3, tau=0.1)


def test_attention_predictions_restricted_is_eq8():
    """With the weights of eq. (7), diag(T(E)) is ic.predict (eq. 8)."""
    p = ic.make_problem(K=9, N=3, d=4, m=3, tau=0.1, seed=1)
    rng = np.random.default_rng(1)
    Q, _ = ic.init_params(p, 3, rng=rng)
    w = rng.standard_normal((3, p.K))
    y = rng.standard_normal(p.N)
    EP, E = ic.embed(p, y)
    got = ar.attention_predictions(EP, E, *ic.restricted_weights(p, Q, w))
    np.testing.assert_allclose(got, ic.predict(p, Q, w, y), rtol=1e-12,
                               atol=1e-12)


def test_attention_predictions_general_weights_by_hand():
    """Any weights: compare with a transcription of eqs. (5)-(6) that
    builds each T_kk by loops over heads and prompt positions."""
    rng = np.random.default_rng(2)
    d1, N, K, H, de = 3, 2, 4, 2, 3
    EP, E = rng.standard_normal((d1, N)), rng.standard_normal((d1, K))
    WQ, WK = rng.standard_normal((H, de, d1)), rng.standard_normal((H, de, d1))
    WV, WO = rng.standard_normal((H, K, d1)), rng.standard_normal((K, H * K))
    want = np.zeros(K)
    for k in range(K):
        for h in range(H):
            s = np.array([(WK[h] @ EP[:, j]) @ (WQ[h] @ E[:, k])
                          for j in range(N)])
            a = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
            head = WV[h] @ EP @ a                      # column k, (K,)
            want[k] += WO[k, h * K:(h + 1) * K] @ head
    got = ar.attention_predictions(EP, E, WQ, WK, WV, WO)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_symbolic_attention_predictions():
    """Symbolic: eq. (8) under eq. (7); and with a label-reading key-query
    entry, a numeric substitution agrees with the numeric function."""
    s = sy.model_symbols(2, 2, 3, 1)
    V, y, Q, w = s["V"], s["y"], s["Q"], s["w"]
    EP, E = sy.embedding(V, y, 2)
    WQ, WK, WV, WO = sy.restricted_weights(Q, w, 2, 3)
    pred = sy.attention_predictions(EP, E, WQ, WK, WV, WO)
    assert pred.shape == (3, 1)
    assert sy.expand_exp(pred - sy.eq8_predictions(V, y, Q, w, 2)) \
        == sp.zeros(3, 1)
    rng = np.random.default_rng(3)
    nums = {x: rng.standard_normal() for x in pred.free_symbols}
    WQn = [sp.Matrix(rng.standard_normal((3, 3)))]
    pred2 = sy.attention_predictions(EP, E, WQn, WK, WV, WO).subs(nums)
    f = lambda M: np.array(M.subs(nums), dtype=float)  # noqa: E731
    want = ar.attention_predictions(f(EP), f(E), [f(WQn[0])], [f(WK[0])],
                                    [f(WV[0])], f(WO))
    np.testing.assert_allclose(np.array(pred2, dtype=float).ravel(), want,
                               rtol=1e-10)


def test_explore_legend_sits_below_the_panels():
    """draw_explore: no legend inside either panel, one figure legend below
    both; an animation frame replaces it rather than adding another."""
    fig = il.draw_explore(ci.circle_example(N=6, m=9, tau=0.05))
    fig.canvas.draw()
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert len(fig.legends) == 1
    leg = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert leg.y1 <= ax.get_window_extent().y0 + 1
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "prompt tokens and their labels (N = 6)" in texts
    il.draw_explore(ci.circle_example(N=7, m=9, tau=0.05), fig.axes)
    assert len(fig.legends) == 1
    assert "prompt tokens and their labels (N = 7)" in \
        [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)


def test_draw_one_head_only_draws():
    fig, axes = plt.subplots(1, 2)
    a = np.array([0.5, -0.2, 0.1])
    il.draw_one_head(axes, a, np.abs(a), a, k=3, unseen=[3, 4],
                     bound=[0.1, 0.2], best=[0.2, 0.3], H=3, draws=10)
    assert len(axes[0].patches) == 9 and len(axes[1].lines) == 3
    assert "10 draws" in axes[1].get_legend().get_texts()[1].get_text()
    plt.close(fig)


def test_animation_frames_shown_at_most_as_wide_as_drawn():
    """animation_html: the frame image is given the width it is drawn for
    (its pixels at the saving dpi, 96 CSS px per inch), so a phone-width
    animation keeps its text size; without it a browser shows the PNG at its
    pixel width (twice too wide at dpi 192) or stretches it to the page."""
    import base64
    import io
    import re

    from PIL import Image
    anim = il.prompt_growth_animation([2, 3], m=5, tau=0.05)
    html = il.animation_html(anim, name="t", dpi=144)
    css = int(re.search(r'<img id="_anim_img\w+" style="width: 100%; '
                        r'max-width: (\d+)px"', html).group(1))
    frame = re.search(r'data:image/png;base64,([A-Za-z0-9+/=\\\n]+)', html)
    png = base64.b64decode(frame.group(1).replace("\\n", "").replace("\\", ""))
    assert abs(Image.open(io.BytesIO(png)).width * 96 / 144 - css) <= 1
