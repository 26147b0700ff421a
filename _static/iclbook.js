/* iclbook: a display equation or an inline formula wider than its box (on a phone) scrolls sideways; mark the
   edge where more of it is hidden (classes iclbook-more-left / iclbook-more-right; _static/iclbook.css draws the
   shadow), so a reader sees that the formula goes on instead of taking the box's edge for its end. Jupyter Book
   loads every script in _static on every page. */
(function () {
  // the boxes that scroll: a display equation's MathJax container; the theme's box around inline math
  const SCROLLERS = 'mjx-container[display="true"], main span.math';
  // the typeset formula (mjx-math) reaching past the box's visible edges: more of it is hidden there (the box's
  // scroll width alone also counts a few pixels of spacing around an inline formula)
  function mark(c) {
    const m = c.querySelector("mjx-math");
    if (!m) return;
    const r = c.getBoundingClientRect(), mr = m.getBoundingClientRect();
    c.classList.toggle("iclbook-more-left", mr.left < r.left - 1);
    c.classList.toggle("iclbook-more-right", mr.right > r.right + 1);
  }
  function markAll() {
    document.querySelectorAll(SCROLLERS).forEach(mark);
  }
  window.addEventListener("load", function () {
    const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    (mj || Promise.resolve()).then(markAll);
  });
  window.addEventListener("resize", markAll);
  // a dropdown (proof, solution) opened: its equations get their size only now
  document.addEventListener("click", function () { window.setTimeout(markAll, 50); });
  document.addEventListener("scroll", function (e) {
    if (e.target && e.target.matches && e.target.matches(SCROLLERS)) mark(e.target);
  }, true);
})();
