// F4: the verifier's phone page. Kept out of the page (CSP: no inline script).
// * Choosing or taking a photo of the buyer's QR submits it at once (the button stays for
//   browsers without script).
// * <form data-confirm="…"> asks before submitting (解除本机绑定), as on the console.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.matches && input.matches("input[type=file][data-autosubmit]") &&
        input.files && input.files.length && input.form) {
      input.form.submit();
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var ask = form && form.dataset && form.dataset.confirm;
    if (ask && !window.confirm(ask)) {
      event.preventDefault();
    }
  });
})();
