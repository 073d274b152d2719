// Applies the saved (or the system's) colour theme before the page paints.
(function () {
  var t = null;
  try { t = localStorage.getItem('srdb-theme'); } catch (e) { /* storage disabled */ }
  if (t !== 'dark' && t !== 'light') {
    t = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  document.documentElement.setAttribute('data-theme', t);
})();
