// Copy buttons: the text to copy is in data-copy. Everything else is htmx or plain forms.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = button.dataset.copy || "";
  const done = () => { const label = button.textContent; button.textContent = "Copied"; setTimeout(() => { button.textContent = label; }, 1200); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => {});
  } else {
    const area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    document.execCommand("copy"); area.remove(); done();
  }
});
// Forms with data-confirm ask before they are sent (deletes, batch operations).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
// Times are written in UTC (<time datetime="…">… UTC</time>); the header's toggle shows them
// in the browser's zone instead, with the zone's name, and the choice is kept in this browser.
function showTimes(root) {
  const local = localStorage.getItem("perdure-times") === "local";
  const digits = new Intl.DateTimeFormat("sv-SE", {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  root.querySelectorAll("time[datetime]").forEach((el) => {
    if (!el.dataset.utc) el.dataset.utc = el.textContent;
    if (!local) { el.textContent = el.dataset.utc; return; }
    const moment = new Date(el.getAttribute("datetime"));
    const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(moment).find((part) => part.type === "timeZoneName");
    el.textContent = digits.format(moment) + " " + (zone ? zone.value : "local");
  });
  const toggle = document.getElementById("time-zone");
  if (toggle) {
    toggle.textContent = local ? "Times: local" : "Times: UTC";
    toggle.setAttribute("aria-pressed", String(local));
  }
}
document.addEventListener("DOMContentLoaded", () => showTimes(document));
document.addEventListener("htmx:afterSwap", (event) => showTimes(event.target));
document.addEventListener("click", (event) => {
  if (!event.target.closest("#time-zone")) return;
  const local = localStorage.getItem("perdure-times") === "local";
  localStorage.setItem("perdure-times", local ? "utc" : "local");
  showTimes(document);
});
