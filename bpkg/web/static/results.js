// Sortable results table on a named query's page: click a heading to sort by that column
// (numbers as numbers, everything else by its label), click again to reverse.
(function () {
  const table = document.querySelector("table.results");
  if (!table) return;
  const headings = Array.from(table.querySelectorAll("thead th"));
  const body = table.tBodies[0];
  headings.forEach((th, column) => {
    th.querySelector("button").addEventListener("click", () => {
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      headings.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const rows = Array.from(body.rows);
      const numeric = rows.every((r) => r.cells[column].dataset.sort === "" || r.cells[column].classList.contains("numeric"));
      const key = (r) => r.cells[column].dataset.sort;
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === "" || y === "") return (x === "") - (y === "");  // empty cells last
        const order = numeric ? Number(x) - Number(y) : x.localeCompare(y, undefined, { numeric: true });
        return ascending ? order : -order;
      });
      rows.forEach((r) => body.appendChild(r));
    });
  });
})();
