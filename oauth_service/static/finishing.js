// Polls the finishing page's outcome and moves on as soon as it is known; the page's meta
// refresh does the same without JavaScript, only more slowly.
(function () {
  var el = document.querySelector("[data-poll]");
  if (!el) return;
  var url = el.getAttribute("data-poll");
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (d) { if (d.location) { window.location.replace(d.location); } else { setTimeout(tick, 700); } })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 500);
})();
