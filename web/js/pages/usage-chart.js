// The usage chart, loaded on demand (uPlot stays out of the main bundle).
import uPlot from 'uplot';

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function drawUsageChart(el, rows) {
  const xs = rows.map((r) => Date.parse(`${r.key}T00:00:00Z`) / 1000);
  // Days without use are gaps, not zero-height bars.
  const prompt = rows.map((r) => r.prompt_tokens || null);
  const completion = rows.map((r) => r.completion_tokens || null);
  const text = cssVar('--muted', '#666');
  const grid = cssVar('--border', '#ddd');
  const c1 = cssVar('--accent', '#3451c6');
  const c2 = cssVar('--chart-2', '#2f9e6e');
  const left = uPlot.paths.bars({ size: [0.38, 24], align: -1 });
  const right = uPlot.paths.bars({ size: [0.38, 24], align: 1 });
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const width = () => Math.max(280, el.clientWidth || 600);
  const opts = {
    width: width(),
    height: 240,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] }, y: { range: (u, min, max) => [0, Math.max(10, (max || 0) * 1.1)] } },
    axes: [
      { ...axis, values: (u, splits) => splits.map((s) => new Date(s * 1000).toISOString().slice(5, 10)) },
      { ...axis, size: 60, values: (u, splits) => splits.map((s) => (s >= 1e6 ? `${s / 1e6}M` : s >= 1e3 ? `${s / 1e3}k` : String(s))) },
    ],
    series: [
      { label: 'Day', value: (u, ts) => (ts == null ? '' : new Date(ts * 1000).toISOString().slice(0, 10)) },
      { label: 'Prompt tokens', stroke: c1, fill: `${c1}55`, width: 1, paths: left, points: { show: false } },
      { label: 'Completion tokens', stroke: c2, fill: `${c2}55`, width: 1, paths: right, points: { show: false } },
    ],
  };
  const plot = new uPlot(opts, [xs, prompt, completion], el);
  const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 240 }));
  ro.observe(el);
  return {
    destroy() { ro.disconnect(); plot.destroy(); },
  };
}
