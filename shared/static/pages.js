// A little progressive enhancement for the editor desk and the partner portal. Every page works
// without it: it only saves a reload and a copy-paste.
"use strict";

(function () {
  // 1. Live status. A region marked data-refresh that holds something still on its way
  //    (data-pending: a submission being stored, a translation not yet published) is fetched
  //    again every 1.5 s, for two minutes at most, and swapped in place; screen readers hear
  //    the change through the region's aria-live. data-refresh="page" reloads the whole page
  //    once nothing is pending, unless the editor has started typing in one of its forms.
  const regions = Array.from(document.querySelectorAll("[data-refresh][id]"));
  let typed = false;
  document.addEventListener("input", function () { typed = true; });
  let rounds = 0;
  function pending() {
    return regions.some(function (r) { return r.querySelector("[data-pending]"); });
  }
  async function refresh() {
    if (!pending() || rounds++ > 80) return;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        headers: { "Accept": "text/html" },
        cache: "no-store",
      });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        let reload = false;
        for (const region of regions) {
          const twin = fresh.getElementById(region.id);
          if (!twin) continue;
          const wasPending = region.querySelector("[data-pending]");
          region.innerHTML = twin.innerHTML;
          if (wasPending && !twin.querySelector("[data-pending]") &&
              region.dataset.refresh === "page") {
            reload = true;
          }
        }
        if (reload && !typed) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // offline for a moment: try again next round
    }
    window.setTimeout(refresh, 1500);
  }
  if (regions.length) window.setTimeout(refresh, 1500);

  // 2. Upload: a chosen file is read into the text box below it (so it can be looked at and
  //    previewed again without choosing it again), and the format follows its extension.
  for (const input of document.querySelectorAll("input[type=file][data-fill]")) {
    input.addEventListener("change", function () {
      const file = input.files && input.files[0];
      const target = document.getElementById(input.dataset.fill);
      if (!file || !target) return;
      file.text().then(function (text) {
        target.value = text;
        const ext = file.name.split(".").pop().toLowerCase();
        const format = { html: "html", htm: "html", txt: "text", json: "json" }[ext];
        const radio = format && document.querySelector("input[name=format][value=" + format + "]");
        if (radio) radio.checked = true;
        input.value = "";  // sent once, as the text box's content
        const note = document.getElementById(input.id + "-note");
        // The sentence comes from the page, in its language ("{name}": the file's name, isolated
        // from the text around it: an English name in a Persian sentence keeps its order).
        const said = input.dataset.read;
        if (note && said) note.textContent = said.replace("{name}", "\u2068" + file.name + "\u2069");
      });
    });
  }
})();
