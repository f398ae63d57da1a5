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
  var shownStalled = panel.getAttribute("data-shown-stalled") === "1";  /* its warning shown */
  function number(n) {  /* 5,000 with the page's thousands separator */
    return typeof n === "number" ? n.toLocaleString(document.documentElement.lang || undefined) : n;
  }
  function set(name, value) {
    var node = panel.querySelector('[data-field="' + name + '"]');
    if (node) { node.textContent = value; }
  }
  function refresh() {
    fetch(url, {credentials: "same-origin"}).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (p) {
      if (!p) { return; }
      var stalled = p.stalled_minutes !== null && p.stalled_minutes !== undefined;
      if (p.state !== shownState || (stopping && !p.handing_over) || stalled !== shownStalled) { window.location.reload(); return; }
      ["accepted", "failed", "in_doubt", "remaining", "per_minute"].forEach(function (k) { set(k, number(p[k])); });
      set("eta", p.eta || "—");  /* h:mm, and only while sending */
      var bar = panel.querySelector('[data-field="percent_bar"]');
      if (bar) { bar.style.width = p.percent + "%"; bar.textContent = p.percent + "%"; bar.parentNode.setAttribute("aria-valuenow", p.percent); }
    }).catch(function () {});
  }
  var stopping = !!panel.querySelector("[data-stopping]");
  if (stopping || ["released", "sending", "held", "paused"].indexOf(shownState) >= 0) {
    window.setInterval(refresh, 2000);
  }
})();

document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});

/* Copy buttons beside the hashes people are asked to keep. The clipboard API needs a secure
   context (https, or this machine); elsewhere a hidden text area and the copy command. */
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) { return; }
  var text = button.getAttribute("data-copy");
  function done() {
    if (!button.hasAttribute("data-label")) { button.setAttribute("data-label", button.textContent); }
    button.textContent = button.getAttribute("data-copied");
    window.setTimeout(function () { button.textContent = button.getAttribute("data-label"); }, 2000);
  }
  function fallback() {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "position-fixed opacity-0";
    document.body.appendChild(area);
    area.select();
    try { if (document.execCommand("copy")) { done(); } } catch (e) { /* nothing to copy with */ }
    document.body.removeChild(area);
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, fallback);
  } else {
    fallback();
  }
});

/* Upload progress for big roster files: the bar shows the upload, then that the file is
   being checked; the server's answer (preview or problems) replaces the page. */
(function () {
  var form = document.querySelector("form[data-upload-progress]");
  if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
  var box = document.getElementById("upload-progress");
  var bar = box.querySelector(".progress-bar");
  var label = box.querySelector("[data-phase]");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.upload.onprogress = function (e) {
      if (!e.lengthComputable) { return; }
      var percent = Math.round(100 * e.loaded / e.total);
      bar.style.width = percent + "%";
      bar.parentNode.setAttribute("aria-valuenow", percent);
      if (percent >= 100) { label.textContent = box.getAttribute("data-checking"); bar.classList.add("progress-bar-striped", "progress-bar-animated"); }
    };
    request.onload = function () {
      if (request.responseURL && request.responseURL !== window.location.href) {
        window.location.href = request.responseURL;
      } else {
        document.open(); document.write(request.responseText); document.close();
      }
    };
    request.onerror = function () { form.submit(); };
    box.hidden = false;
    request.send(new FormData(form));
  });
})();

document.addEventListener("change", function (event) {
  if (event.target.hasAttribute("data-autosubmit")) { event.target.form.submit(); }
});

/* Error pages: a way back to the page before, when there is one. */
(function () {
  var back = document.querySelector("[data-back]");
  if (!back || window.history.length < 2) { return; }
  back.hidden = false;
  back.addEventListener("click", function () { window.history.back(); });
})();

/* The test send's member picker: as the operator types a number or a name, the datalist
   offers the matching members of the campaign's roster. What was typed goes in a POST's
   body: a name in a URL would stay in the server's access log. */
(function () {
  var input = document.querySelector("[data-member-search]");
  var list = document.getElementById("member-options");
  if (!input || !list) { return; }
  var timer = null;
  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      var token = document.querySelector("[name=csrfmiddlewaretoken]");
      var body = new FormData();
      body.append("q", input.value);
      fetch(input.getAttribute("data-member-search"), {
        method: "POST", credentials: "same-origin", body: body,
        headers: {"X-CSRFToken": token ? token.value : ""}
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          list.innerHTML = "";
          data.members.forEach(function (m) {
            var option = document.createElement("option");
            option.value = m.number;
            option.label = m.number + " " + m.name;
            list.appendChild(option);
          });
        }).catch(function () {});
    }, 200);
  });
})();

/* The other rendered messages stand open beside the first on a wide screen. */
if (window.matchMedia("(min-width: 992px)").matches) {
  document.querySelectorAll("details.preview-more").forEach(function (d) { d.open = true; });
}

/* A newsletter's footer, inserted at the end of the body by its button (once). */
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-insert-footer]");
  if (!button) { return; }
  var field = document.getElementById(button.getAttribute("data-target"));
  var footer = button.getAttribute("data-insert-footer");
  if (!field || field.value.indexOf(footer) >= 0) { return; }
  var body = field.value.replace(/\s+$/, "");
  field.value = (body ? body + "\n\n" : "") + footer + "\n";
  field.dispatchEvent(new Event("input", {bubbles: true}));
  field.focus();
});
