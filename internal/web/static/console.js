// The console's only script, a progressive enhancement: every page works
// without it. It shows times in the operator's zone (the absolute UTC time
// stays in the title), previews site mappings as they are typed, and
// refreshes a running users round's progress.
"use strict";

function localTimes(root) {
  const fmt = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = fmt.format(d);
  }
}

function livePreview() {
  const form = document.getElementById("mappings-form");
  const out = document.getElementById("preview");
  if (!form || !out) return;
  let timer = null, seq = 0;
  const refresh = async () => {
    const body = new URLSearchParams(new FormData(form));
    body.set("action", "preview");
    body.set("fragment", "1");
    const mine = ++seq;
    out.setAttribute("aria-busy", "true");
    try {
      // form.action would be the button named "action", not the attribute.
      const resp = await fetch(form.getAttribute("action"), {method: "POST", body, credentials: "same-origin"});
      const html = await resp.text();
      if (mine === seq) {
        out.innerHTML = html;
        localTimes(out);
      }
    } finally {
      if (mine === seq) out.removeAttribute("aria-busy");
    }
  };
  form.elements["mappings"].addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 600);
  });
}

function liveProgress() {
  const box = document.getElementById("progress");
  if (!box) return;
  const tick = async () => {
    try {
      const resp = await fetch(box.dataset.src, {credentials: "same-origin"});
      if (resp.redirected) {
        // The session ended: the page itself goes to sign in, and back.
        location.reload();
        return;
      }
      if (resp.ok) {
        box.innerHTML = await resp.text();
        localTimes(box);
      }
    } catch (e) { /* the next tick tries again */ }
  };
  setInterval(tick, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  livePreview();
  liveProgress();
});
