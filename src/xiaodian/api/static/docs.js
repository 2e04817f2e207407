/* Swagger UI start-up for /docs and its signing "Try it out" (issue 14, K3).
 *
 * The app key and secret typed in the bar at the top stay in this page (never stored, never
 * sent); every request Swagger UI makes to a signed path gets the four signature headers of
 * README "Open API" / xiaodian.signing:
 *   X-Signature = hex(HMAC-SHA256(secret, METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nhex(SHA256(body))))
 * SHA-256 is computed here in plain JavaScript so that signing works on plain http too
 * (WebCrypto's subtle API exists only on https and localhost).
 */
(function () {
  "use strict";

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];

  function utf8(text) {
    return Array.prototype.slice.call(new TextEncoder().encode(text));
  }

  function sha256(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var msg = bytes.slice();
    var bitLength = bytes.length * 8;
    msg.push(0x80);
    while (msg.length % 64 !== 56) msg.push(0);
    var high = Math.floor(bitLength / 0x100000000), low = bitLength >>> 0;
    msg.push((high >>> 24) & 255, (high >>> 16) & 255, (high >>> 8) & 255, high & 255);
    msg.push((low >>> 24) & 255, (low >>> 16) & 255, (low >>> 8) & 255, low & 255);
    var w = new Array(64);
    for (var offset = 0; offset < msg.length; offset += 64) {
      for (var i = 0; i < 16; i++) {
        var j = offset + i * 4;
        w[i] = ((msg[j] << 24) | (msg[j + 1] << 16) | (msg[j + 2] << 8) | msg[j + 3]) >>> 0;
      }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        var s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h = [h[0] + a, h[1] + b, h[2] + c, h[3] + d, h[4] + e, h[5] + f, h[6] + g, h[7] + k].map(
        function (x) { return x >>> 0; });
    }
    var out = [];
    h.forEach(function (x) { out.push((x >>> 24) & 255, (x >>> 16) & 255, (x >>> 8) & 255, x & 255); });
    return out;
  }

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  function hex(bytes) {
    return bytes.map(function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function hmacSha256(keyBytes, messageBytes) {
    var key = keyBytes.length > 64 ? sha256(keyBytes) : keyBytes.slice();
    while (key.length < 64) key.push(0);
    var inner = key.map(function (b) { return b ^ 0x36; }).concat(messageBytes);
    var outer = key.map(function (b) { return b ^ 0x5c; });
    return sha256(outer.concat(sha256(inner)));
  }

  function nonce() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return hex(Array.prototype.slice.call(bytes));
  }

  function bodyBytes(body) {
    if (body === undefined || body === null || body === "") return [];
    if (typeof body === "string") return utf8(body);
    return null; // a multipart form: its bytes are not known here
  }

  function field(id) { return document.getElementById(id).value.trim(); }

  function sign(request) {
    var key = field("xd-app-key"), secret = field("xd-app-secret");
    var url = new URL(request.url, window.location.href);
    if (!key || !secret || url.origin !== window.location.origin) return request;
    if (url.pathname.indexOf("/api/") !== 0 && url.pathname.indexOf("/sim/") !== 0) return request;
    var body = bodyBytes(request.body);
    if (body === null) return request;
    var timestamp = String(Math.floor(Date.now() / 1000));
    var once = nonce();
    var path = decodeURIComponent(url.pathname) + (url.search ? url.search : "");
    var text = [request.method.toUpperCase(), path, timestamp, once, hex(sha256(body))].join("\n");
    request.headers["X-App-Key"] = key;
    request.headers["X-Timestamp"] = timestamp;
    request.headers["X-Nonce"] = once;
    request.headers["X-Signature"] = hex(hmacSha256(utf8(secret), utf8(text)));
    return request;
  }

  function showState() {
    var on = field("xd-app-key") && field("xd-app-secret");
    document.getElementById("xd-signing-state").textContent = on
      ? "已启用：请求自动签名 · signing every request"
      : "未填写：请求不签名 · not signing";
  }

  document.getElementById("xd-signing").addEventListener("input", showState);
  document.getElementById("xd-signing").addEventListener("submit", function (event) {
    event.preventDefault();
  });

  window.xiaodianSign = { sha256Hex: function (t) { return hex(sha256(utf8(t))); },
    hmacHex: function (k, t) { return hex(hmacSha256(utf8(k), utf8(t))); } };

  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    requestInterceptor: sign,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout"
  });
})();
