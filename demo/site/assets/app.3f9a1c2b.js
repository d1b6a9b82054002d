// pi-origin demo: tiny, dependency-free progressive enhancement.
// Shows the visitor's local clock and a few harmless facts about the request.
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function tick() {
    var el = $('clock');
    if (!el) return;
    var d = new Date();
    el.textContent = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function describeHost() {
    var el = $('host');
    if (!el) return;
    var host = location.hostname;
    var kind = host.indexOf(':') !== -1 ? 'IPv6 literal' : /^[0-9.]+$/.test(host) ? 'IPv4 literal' : 'hostname';
    el.textContent = (location.host || '(file)') + ' (' + kind + ')';
  }

  function describeZone() {
    var el = $('zone');
    if (!el) return;
    try {
      el.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || 'unknown';
    } catch {
      el.textContent = 'unknown';
    }
  }

  function describeTiming() {
    var el = $('ttfb');
    if (!el || !window.performance || !performance.getEntriesByType) return;
    var nav = performance.getEntriesByType('navigation')[0];
    if (nav && nav.responseStart > 0) {
      el.textContent = Math.round(nav.responseStart - nav.requestStart) + ' ms';
    }
  }

  function start() {
    tick();
    setInterval(tick, 1000);
    describeHost();
    describeZone();
    describeTiming();
    var year = $('year');
    if (year) year.textContent = String(new Date().getFullYear());
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
