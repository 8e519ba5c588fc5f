/* Dashboard charts, drawn with the vendored Chart.js (static/vendor/chartjs) from the JSON the page
   embeds with |json_script (id "dash-charts"): [{key, kind, unit, labels, series: [{key, label,
   data, unit}]}]. Each chart's canvas is #chart-<key>. Numbers are written for the page's language
   (<html lang>: pt-BR "33,3", English "33.3"). No inline script or handler anywhere, so a
   Content-Security-Policy without 'unsafe-inline' holds. */
(function () {
  "use strict";

  var lang = document.documentElement.lang || "pt-BR";
  var cache = {};
  var COLORS = ["#0b6e4f", "#2563eb", "#b54708", "#7c3aed", "#b42318", "#0e7490"];
  var RED = "#d92d20";
  var AMBER = "#f79009";
  var GREEN = "#12b76a";

  function numberFormat(min, max, extra) {
    var key = min + ":" + max + ":" + (extra ? JSON.stringify(extra) : "");
    if (!cache[key]) {
      var options = { minimumFractionDigits: min, maximumFractionDigits: max };
      if (extra) Object.assign(options, extra);
      cache[key] = new Intl.NumberFormat(lang, options);
    }
    return cache[key];
  }

  /* A figure in its unit; ``tick`` drops trailing zeros (axis labels). */
  function format(value, unit, tick) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    var one = tick ? numberFormat(0, 1) : numberFormat(1, 1);
    switch (unit) {
      case "pct":
        return one.format(value) + "%";
      case "hours":
        return one.format(value) + " h";
      case "days":
        return one.format(value) + " d";
      case "seconds":
        return one.format(value / 3600) + " h";
      case "brl":
        return numberFormat(tick ? 0 : 2, 2, { style: "currency", currency: "BRL" }).format(value);
      case "count":
        return numberFormat(0, tick ? 0 : 1).format(value);
      case "mean":
        return tick ? one.format(value) : numberFormat(2, 2).format(value);
      case "stars":
        return one.format(value) + " ★";
      default:
        return one.format(value);
    }
  }

  /* Bars of the NPS score distribution in the category colours: 0–6 detractors, 7–8 passives,
     9–10 promoters; health bands in their own colours (red, yellow, green, as labelled). */
  function barColors(chart) {
    if (chart.key === "nps_distribution") {
      return chart.labels.map(function (label) {
        var score = parseInt(label, 10);
        return score <= 6 ? RED : score <= 8 ? AMBER : GREEN;
      });
    }
    if (chart.key === "health_distribution") {
      return chart.labels.map(function (_label, i) {
        return [RED, AMBER, GREEN][i] || COLORS[0];
      });
    }
    return null;
  }

  /* Legend entries in the order of the series, whatever order they are drawn in. */
  function byIndex(a, b) {
    return a.datasetIndex - b.datasetIndex;
  }

  function config(chart) {
    var primary = chart.series.length ? chart.series[0].unit || chart.unit : chart.unit;
    var units = { y: primary };
    var stacked = chart.kind === "stacked";
    var baseType = chart.kind === "line" ? "line" : "bar";
    var datasets = chart.series.map(function (series, i) {
      var unit = series.unit || chart.unit;
      var axis = unit === primary ? "y" : "y1";
      if (axis === "y1") units.y1 = unit;
      var color = COLORS[i % COLORS.length];
      // A second-axis series reads apart from the first: counts as light bars behind a line,
      // a rate as a dashed line (over bars or beside a line).
      var type = axis === "y1" ? (unit === "count" ? "bar" : "line") : baseType;
      var perBar = type === "bar" && axis === "y" ? barColors(chart) : null;
      return {
        type: type,
        label: series.label,
        data: series.data,
        unit: unit,
        yAxisID: axis,
        borderColor: perBar || color,
        backgroundColor: perBar || (type === "bar" ? color + (axis === "y1" ? "33" : "cc") : color),
        borderWidth: type === "line" ? 2 : 0,
        borderDash: type === "line" && axis === "y1" ? [6, 4] : [],
        pointRadius: chart.labels.length > 40 ? 0 : 3,
        pointHoverRadius: 4,
        tension: 0.25,
        spanGaps: false,
        order: type === "line" ? 0 : 1,
      };
    });
    var scales = {
      x: { stacked: stacked, ticks: { autoSkip: baseType === "line", autoSkipPadding: 16, maxRotation: 0 }, grid: { display: false } },
      y: {
        stacked: stacked,
        beginAtZero: baseType === "bar",
        // NPS always spans its whole scale, so a book's trend reads the same whatever its range
        min: units.y === "score" ? -100 : undefined,
        max: units.y === "score" ? 100 : undefined,
        ticks: {
          precision: units.y === "count" ? 0 : undefined,
          stepSize: units.y === "score" ? 50 : undefined,
          callback: function (value) {
            return format(value, units.y, true);
          },
        },
      },
    };
    if (units.y1) {
      scales.y1 = {
        position: "right",
        beginAtZero: true,
        suggestedMax: units.y1 === "pct" ? 100 : undefined,
        grid: { drawOnChartArea: false },
        ticks: {
          precision: units.y1 === "count" ? 0 : undefined,
          callback: function (value) {
            return format(value, units.y1, true);
          },
        },
      };
    }
    var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    return {
      type: baseType,
      data: { labels: chart.labels, datasets: datasets },
      options: {
        locale: lang,
        responsive: true,
        maintainAspectRatio: false, // the .chart-box gives the height; the width follows the card
        animation: reduceMotion ? false : { duration: 300 },
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom", labels: { usePointStyle: true, boxWidth: 8, boxHeight: 8, sort: byIndex } },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + format(item.raw, item.dataset.unit, false);
              },
            },
          },
        },
      },
    };
  }

  function drawCharts() {
    var source = document.getElementById("dash-charts");
    if (!source || typeof window.Chart === "undefined") return;
    JSON.parse(source.textContent).forEach(function (chart) {
      var canvas = document.getElementById("chart-" + chart.key);
      if (canvas) new window.Chart(canvas, config(chart));
    });
  }

  /* Typing a date means a custom period: the period select follows, so Apply uses the dates. */
  function wireFilters() {
    var form = document.getElementById("dash-filters");
    if (!form) return;
    var period = form.elements.namedItem("period");
    ["start", "end"].forEach(function (name) {
      var input = form.elements.namedItem(name);
      if (input && period) {
        ["input", "change"].forEach(function (type) {
          input.addEventListener(type, function () {
            period.value = "custom";
          });
        });
      }
    });
  }

  drawCharts();
  wireFilters();
})();
