/* Applies the saved (or the system's) colour theme before the page paints; marks the page as
   scripted (html.js), so that controls that need JavaScript show only then. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var theme = null;
  try { theme = window.localStorage.getItem("stoker-theme"); } catch (e) { /* storage blocked */ }
  if (theme !== "light" && theme !== "dark") {
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    theme = dark ? "dark" : "light";
  }
  document.documentElement.setAttribute("data-theme", theme);
})();
