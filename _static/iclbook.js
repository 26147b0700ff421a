/* iclbook: a display equation, an inline formula or a code block wider than its box (on a phone) scrolls sideways;
   mark the edge where more of it is hidden (classes iclbook-more-left / iclbook-more-right; _static/iclbook.css
   draws the shadow), so a reader sees that it goes on instead of taking the box's edge for its end. Jupyter Book
   loads every script in _static on every page. */
(function () {
  // the boxes that scroll: a display equation's MathJax container; the theme's box around inline math; a code or
  // output block (its lines are kept on a phone)
  const SCROLLERS = 'mjx-container[display="true"], main span.math, main pre';
  function mark(c) {
    let left, right;
    if (c.tagName === "PRE") {
      left = c.scrollLeft > 1;
      right = c.scrollLeft + c.clientWidth < c.scrollWidth - 1;
    } else {
      // the typeset formula (mjx-math) reaching more than 3 px past the box's visible edges: more of it is hidden
      // there (the box's scroll width alone also counts a few pixels of spacing around an inline formula; a
      // bracket's last pixel is not worth a shadow)
      const m = c.querySelector("mjx-math");
      if (!m) return;
      const r = c.getBoundingClientRect(), mr = m.getBoundingClientRect();
      left = mr.left < r.left - 3;
      right = mr.right > r.right + 3;
    }
    c.classList.toggle("iclbook-more-left", left);
    c.classList.toggle("iclbook-more-right", right);
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
