// WardWatch web app: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Review queue: "select all" for the pending flags on this page, and the count on the bulk button.
  var all = document.getElementById("select-all");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=ids]"));
  var count = document.getElementById("bulk-count");
  var submit = document.getElementById("bulk-submit");
  function refresh() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    if (count) { count.textContent = n ? "(" + n + ")" : ""; }
    if (submit) { submit.disabled = n === 0; }
    if (all) { all.checked = n > 0 && n === boxes.length; }
  }
  if (all) {
    all.disabled = boxes.length === 0;
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      refresh();
    });
  }
  boxes.forEach(function (b) { b.addEventListener("change", refresh); });
  if (submit) { refresh(); }

  // Live wards: replace the view with a fresh one every few seconds (not while the tab is hidden);
  // a failed poll leaves the last view and says so.
  var live = document.getElementById("live");
  if (live && live.dataset.poll && window.fetch) {
    var every = Math.max(5, parseInt(live.dataset.every, 10) || 10) * 1000;
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(live.dataset.poll, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      }).then(function (html) {
        live.innerHTML = html;
        live.classList.remove("stale");
      }).catch(function () { live.classList.add("stale"); });
    }, every);
  }

  // Flag page: print the case file.
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
});
