/* ReDoc start-up for /redoc (issue 14, K3): no inline script, so the page keeps its CSP. */
(function () {
  "use strict";
  var el = document.getElementById("redoc");
  window.Redoc.init(el.getAttribute("data-spec-url"), { disableSearch: false }, el);
})();
