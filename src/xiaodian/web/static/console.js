// Console behaviours, kept out of the pages so the Content-Security-Policy allows no inline
// script (issue 11, S9).
(function () {
  "use strict";

  // <form data-confirm="…">: ask before submitting (停用应用 …); a submit button's own
  // data-confirm (售后工作台 快递拦截) takes precedence.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var ask = (button && button.dataset && button.dataset.confirm) ||
      (form && form.dataset && form.dataset.confirm);
    if (ask && !window.confirm(ask)) {
      event.preventDefault();
    }
  });

  // <body data-auto-refresh="3000">: reload every N ms (导出中), unless the user is typing.
  // data-refresh-url: load that page instead — a page answering a refused POST (U8) must not
  // be reloaded, which would send the form again.
  var every = parseInt(document.body.dataset.autoRefresh || "0", 10);
  var target = document.body.dataset.refreshUrl;
  if (every > 0) {
    (function tick() {
      setTimeout(function () {
        var active = document.activeElement;
        if (active && active.tagName === "INPUT") { tick(); }
        else if (target) { window.location.assign(target); }
        else { window.location.reload(); }
      }, every);
    })();
  }
})();
