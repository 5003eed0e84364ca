(function () {
  "use strict";
  var sevRank = { error: 0, warning: 1, info: 2 };
  function cellValue(row, idx, type) {
    var td = row.cells[idx];
    if (!td) return "";
    var v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent.trim();
    if (type === "num") { var n = parseFloat(v); return isNaN(n) ? -Infinity : n; }
    if (type === "sev") { return v in sevRank ? sevRank[v] : 9; }
    return v.toLowerCase();
  }
  function sortTable(table, th) {
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var type = th.getAttribute("data-type") || "text";
    var asc = !th.classList.contains("asc");
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(asc ? "asc" : "desc");
    var body = table.tBodies[0];
    // keep detail rows (firewall tables) attached to the row above them
    var groups = [];
    Array.prototype.forEach.call(body.rows, function (r) {
      if (r.classList.contains("detailrow") && groups.length) groups[groups.length - 1].push(r);
      else groups.push([r]);
    });
    groups.sort(function (a, b) {
      var x = cellValue(a[0], idx, type), y = cellValue(b[0], idx, type);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return asc ? c : -c;
    });
    groups.forEach(function (g) { g.forEach(function (r) { body.appendChild(r); }); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var head = table.tHead;
    if (!head) return;
    Array.prototype.forEach.call(head.rows[0].cells, function (th) {
      th.title = "sort";
      th.addEventListener("click", function () { sortTable(table, th); });
    });
  });
  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.style.display = !q || r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
      });
    });
  });
})();
