// Hand-written SVG charts for the reports: the latency percentile
// distribution (HdrHistogram style: the x axis spreads the tail, so 99%,
// 99.9% and 99.99% get equal room) and plain time series such as the
// processing backlog.

import type { PercentilePoint } from './stats.js';

export interface Series {
  label: string;
  points: Array<{ x: number; y: number }>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Custom tick positions and labels for the x axis (in data units); default: 5 even ticks. */
  xTicks?: Array<{ value: number; label: string }>;
  /** Maps a data x value to a position before scaling, for example log10. */
  xTransform?: (x: number) => number;
  yLog?: boolean;
}

const WIDTH = 860;
/** Height of the plot area plus its margins, without the legend rows below it. */
const BASE_HEIGHT = 464;
const LEGEND_ROW = 16;
const LEGEND_COLUMNS = 3;
const MARGIN = { left: 78, right: 24, top: 44, bottom: 96 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[char]!);
}

/** Rounds `value` up to 1, 2 or 5 times a power of ten. */
export function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 1000) return value.toLocaleString('en-US', { maximumFractionDigits: 0 });
  return Number(value.toPrecision(3)).toString();
}

/** Renders a line chart with one polyline per series and a legend below the plot. */
export function lineChart(options: ChartOptions): string {
  const transform = options.xTransform ?? ((x: number) => x);
  const all = options.series.flatMap((s) => s.points).filter((p) => Number.isFinite(transform(p.x)) && Number.isFinite(p.y));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const legendRows = Math.max(1, Math.ceil(options.series.length / LEGEND_COLUMNS));
  const height = BASE_HEIGHT + legendRows * LEGEND_ROW;
  const plotHeight = BASE_HEIGHT - MARGIN.top - MARGIN.bottom;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="white"/>`);
  out.push(`<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);
  if (all.length === 0) {
    out.push(`<text x="${WIDTH / 2}" y="${height / 2}" text-anchor="middle">no data</text></svg>`);
    return out.join('\n');
  }

  const xs = all.map((p) => transform(p.x));
  // Without custom ticks the x axis starts at 0 (or below, for negative data) and ends at a round number.
  const xMin = options.xTicks ? Math.min(...xs, ...options.xTicks.map((t) => transform(t.value))) : Math.min(0, ...xs);
  const xMax = options.xTicks ? Math.max(...xs, xMin + 1e-9) : xMin + niceCeiling(Math.max(...xs) - xMin);
  const positives = all.map((p) => p.y).filter((y) => y > 0);
  const yLog = Boolean(options.yLog) && positives.length > 0;
  const yMinLog = yLog ? Math.floor(Math.log10(Math.min(...positives))) : 0;
  const yMaxLinear = niceCeiling(Math.max(...all.map((p) => p.y)));
  const yMaxLog = yLog ? Math.max(yMinLog + 1, Math.ceil(Math.log10(Math.max(...positives)))) : 0;
  const xPos = (x: number): number => MARGIN.left + ((transform(x) - xMin) / (xMax - xMin)) * plotWidth;
  const yPos = (y: number): number => {
    const fraction = yLog ? (Math.log10(Math.max(y, 10 ** yMinLog)) - yMinLog) / (yMaxLog - yMinLog) : y / yMaxLinear;
    return MARGIN.top + plotHeight - fraction * plotHeight;
  };

  // Grid and y ticks.
  const yTicks = yLog
    ? Array.from({ length: yMaxLog - yMinLog + 1 }, (_, i) => 10 ** (yMinLog + i))
    : Array.from({ length: 6 }, (_, i) => (yMaxLinear * i) / 5);
  for (const tick of yTicks) {
    const y = yPos(tick).toFixed(1);
    out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(tick)}</text>`);
  }
  const xTicks = options.xTicks ?? Array.from({ length: 6 }, (_, i) => {
    const value = xMin + ((xMax - xMin) * i) / 5;
    return { value, label: formatTick(value) };
  });
  for (const tick of xTicks) {
    if (transform(tick.value) > xMax + 1e-9) continue;
    const x = xPos(tick.value).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${escapeXml(tick.label)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${MARGIN.top + plotHeight + 36}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  out.push(
    `<text x="18" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${MARGIN.top + plotHeight / 2})">${escapeXml(options.yLabel)}</text>`,
  );

  // Series and legend.
  options.series.forEach((series, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    const points = series.points
      .filter((p) => Number.isFinite(transform(p.x)) && Number.isFinite(p.y))
      .map((p) => `${xPos(p.x).toFixed(1)},${yPos(p.y).toFixed(1)}`)
      .join(' ');
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points}"/>`);
    const legendX = MARGIN.left + (index % LEGEND_COLUMNS) * 260;
    const legendY = BASE_HEIGHT - 18 + Math.floor(index / LEGEND_COLUMNS) * LEGEND_ROW;
    out.push(`<line x1="${legendX}" x2="${legendX + 22}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="3"/>`);
    out.push(`<text x="${legendX + 28}" y="${legendY}" dominant-baseline="middle">${escapeXml(series.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Maps a percentile (0-100, below 100) to log10(1 / (1 - p)), the x position of an HdrHistogram plot. */
function percentileToX(percentile: number): number {
  return Math.log10(1 / (1 - percentile / 100));
}

/**
 * Renders a latency percentile-distribution plot. The maximum (100%) has no
 * position on this axis, so it is drawn at 1 - 1/(2 x count), just right of
 * the last percentile the samples can resolve.
 */
export function percentileChart(title: string, series: Array<{ label: string; count: number; points: PercentilePoint[] }>): string {
  const mapped: Series[] = series.map((s) => ({
    label: s.label,
    points: s.points.map((p) => ({ x: p.percentile >= 100 ? 100 * (1 - 1 / Math.max(2, s.count * 2)) : p.percentile, y: p.valueMs })),
  }));
  const maxX = Math.max(0, ...mapped.flatMap((s) => s.points.map((p) => p.x)));
  const ticks = [0, 50, 90, 99, 99.9, 99.99, 99.999].filter((tick, i) => i === 0 || tick <= maxX + 1e-9).map((value) => ({ value, label: `${value}%` }));
  const values = mapped.flatMap((s) => s.points.map((p) => p.y)).filter((y) => y > 0);
  const spread = values.length > 0 ? Math.max(...values) / Math.max(1e-6, Math.min(...values)) : 1;
  return lineChart({
    title,
    xLabel: 'percentile (log scale of 1/(1-p); max plotted at the last sample)',
    yLabel: 'latency (ms)',
    series: mapped,
    xTicks: ticks,
    xTransform: percentileToX,
    yLog: spread > 30,
  });
}
