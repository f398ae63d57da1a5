/* Countersign: a one-step confirmation on dangerous buttons, and the live progress panel. */
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

(function () {
  var panel = document.getElementById("live");
  if (!panel) { return; }
  var url = panel.getAttribute("data-progress-url");
  var shownState = panel.getAttribute("data-state");
  function set(name, value) {
    var node = panel.querySelector('[data-field="' + name + '"]');
    if (node) { node.textContent = value; }
  }
  function refresh() {
    fetch(url, {credentials: "same-origin"}).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (p) {
      if (!p) { return; }
      if (p.state !== shownState) { window.location.reload(); return; }
      ["sent", "failed", "in_doubt", "remaining", "per_minute", "state_label"].forEach(function (k) { set(k, p[k]); });
      set("eta", p.eta_seconds ? p.eta_seconds + " " + panel.getAttribute("data-seconds") : "—");
      var bar = panel.querySelector('[data-field="percent_bar"]');
      if (bar) { bar.style.width = p.percent + "%"; bar.textContent = p.percent + "%"; bar.parentNode.setAttribute("aria-valuenow", p.percent); }
    }).catch(function () {});
  }
  if (["released", "sending", "held", "paused"].indexOf(shownState) >= 0) {
    window.setInterval(refresh, 2000);
  }
})();

document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
