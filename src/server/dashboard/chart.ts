/** A live time-series chart (uPlot, bundled) for the dashboard's health and ledger views. */
import { h } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** One line: its label, colour and one value per time (null = no value). */
export interface Series { label: string; color: string; values: (number | null)[] }

/** The dashboard's series colours, in order. */
export const COLORS = ['#4263eb', '#12b886', '#f59f00', '#e64980', '#7950f2', '#15aabf', '#868e96'];

function fmt(v: number, unit: string): string {
  const s = Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  return unit ? `${s} ${unit}` : s;
}

/**
 * A chart of `series` over `times` (ms). The header shows each series' latest value and the real maximum
 * (0 when every value is 0); the y axis starts at 0 and is never shorter than `minMax`.
 */
export function Chart(p: { title: string; times: number[]; series: Series[]; unit?: string; testid?: string; height?: number; minMax?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const key = p.series.map((s) => s.label).join('\u0000');
  const unit = p.unit ?? '';
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth), height: p.height ?? 150,
      legend: { show: false }, cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(p.minMax ?? 1, max * 1.1)] } },
      axes: [
        { stroke: '#6b7383', grid: { stroke: '#eef0f4' }, ticks: { stroke: '#dde1e8' }, font: '11px system-ui', space: 70, values: (_u, vals) => vals.map((v) => new Date(v * 1000).toTimeString().slice(0, 8)) },
        { stroke: '#6b7383', grid: { stroke: '#eef0f4' }, ticks: { stroke: '#dde1e8' }, font: '11px system-ui', size: 44, values: (_u, vals) => vals.map((v) => fmt(v, '')) },
      ],
      series: [{}, ...p.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.6, fill: s.color + '14', points: { show: false } }))],
    };
    const u = new uPlot(opts, [p.times.map((t) => t / 1000), ...p.series.map((s) => s.values)] as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: p.height ?? 150 }));
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); plot.current = undefined; };
  }, [key]);
  useEffect(() => {
    plot.current?.setData([p.times.map((t) => t / 1000), ...p.series.map((s) => s.values)] as uPlot.AlignedData);
  });
  return h('div', { class: 'chart', 'data-testid': p.testid },
    h('div', { class: 'chart-head' }, h('span', { class: 'chart-title' }, p.title),
      h('span', { class: 'chart-legend' }, p.series.map((s) => {
        const vals = s.values.filter((v): v is number => v !== null);
        const now = vals.length ? fmt(vals[vals.length - 1]!, unit) : '—';
        const max = vals.length ? fmt(Math.max(...vals), unit) : '—';
        return h('span', { key: s.label, class: 'chart-key', 'data-testid': p.testid ? `${p.testid}-${s.label}` : undefined },
          h('i', { style: `background:${s.color}` }), `${s.label} `, h('b', null, now), h('span', { class: 'muted' }, ` max ${max}`));
      }))),
    h('div', { ref: box, class: 'chart-plot' }));
}
