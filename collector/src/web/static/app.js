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

  // Flag page: print the case file.
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
});
