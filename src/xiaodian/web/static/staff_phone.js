// F4: the verifier's phone page. Kept out of the page (CSP: no inline script). Choosing or
// taking a photo of the buyer's QR submits it at once; the button stays for browsers
// without script.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.matches && input.matches("input[type=file][data-autosubmit]") &&
        input.files && input.files.length && input.form) {
      input.form.submit();
    }
  });
})();
