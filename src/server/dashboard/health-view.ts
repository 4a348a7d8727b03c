/**
 * The health view: status cards, live charts of the last minutes (message rates, acks, round-trip and
 * publish latency, connections, store sizes) from /healthz polled every 2 s, and every module's figures.
 * Browser code: no node:* imports.
 */
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtBytes, fmtDuration, getToken } from './api.js';
import { COLORS, Chart } from './chart.js';
import type { EvtLink } from './evt.js';
import type { GunLink } from './gun.js';
import { ErrorLine, Panel, show } from './ui.js';

interface Health {
  ok: boolean; uptimeMs: number; modules?: string[]; stats?: Record<string, Record<string, unknown>>;
  connections?: number; websockets?: Record<string, number>; rates?: Record<string, number>; auth?: string; storage?: string; bus?: string;
}

/** How often /healthz is polled, and how many samples the charts keep (5 minutes). */
const POLL_MS = 2000;
const KEEP = 150;

type Sample = Record<string, number | null>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Per-second rate of a counter between two polls (null until there are two, or after a restart). */
function rate(prev: Health | undefined, cur: Health, mod: string, key: string, dtMs: number): number | null {
  const a = num(prev?.stats?.[mod]?.[key]), b = num(cur.stats?.[mod]?.[key]);
  if (a === null || b === null || b < a || dtMs <= 0) return null;
  return Math.round(((b - a) / dtMs) * 1000 * 10) / 10;
}

export function HealthView(p: { gun: GunLink; evt: EvtLink }) {
  const [health, setHealth] = useState<Health | undefined>();
  const [error, setError] = useState<string>();
  const [samples, setSamples] = useState<{ t: number; s: Sample }[]>([]);
  const last = useRef<{ t: number; h: Health } | undefined>(undefined);
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const t = getToken();
        const t0 = performance.now();
        // 503 still carries the figures (a module is failing): show them.
        const res = await fetch('/healthz', t ? { headers: { authorization: `Bearer ${t}` } } : {});
        const hh = await res.json() as Health;
        const healthMs = performance.now() - t0;
        const gunMs = p.gun.status === 'open' ? await p.gun.ping().catch(() => null) : null;
        const now = Date.now();
        const prev = last.current, dt = prev ? now - prev.t : 0;
        last.current = { t: now, h: hh };
        setHealth(hh);
        setError(hh.modules ? undefined : 'This server needs a token with read scope to show its figures: enter it above.');
        const s: Sample = {
          ws: num(hh.rates?.wsMessagesIn), http: num(hh.rates?.httpRequests),
          graphMsgs: rate(prev?.h, hh, 'graph', 'messages', dt), published: rate(prev?.h, hh, 'ledger', 'published', dt),
          graphAcks: rate(prev?.h, hh, 'graph', 'acks', dt), pushes: rate(prev?.h, hh, 'ledger', 'pushes', dt), calls: rate(prev?.h, hh, 'bus', 'calls', dt),
          healthMs: Math.round(healthMs * 10) / 10, gunMs: gunMs === null ? null : Math.round(gunMs * 10) / 10,
          publishMs: p.evt.lastPublishMs === undefined ? null : Math.round(p.evt.lastPublishMs * 10) / 10,
          conns: num(hh.connections), sockets: hh.websockets ? Object.values(hh.websockets).reduce((a, b) => a + b, 0) : null,
          peers: num(hh.stats?.graph?.peers), ledgerConns: num(hh.stats?.ledger?.connections),
          blobs: num(hh.stats?.blob?.blobs), anchors: num(hh.stats?.blob?.anchors), blobKiB: num(hh.stats?.blob?.bytes) === null ? null : Math.round((hh.stats!.blob!.bytes as number) / 102.4) / 10,
        };
        p.evt.lastPublishMs = undefined;
        setSamples((xs) => [...xs, { t: now, s }].slice(-KEEP));
      } catch (e) { setError(String((e as Error).message)); }
      if (!stop) timer = setTimeout(poll, POLL_MS);
    };
    timer = setTimeout(poll, 0);
    return () => { stop = true; clearTimeout(timer); };
  }, []);
  if (!health) return h(Panel, { title: 'Health', id: 'health' }, h(ErrorLine, { error }), h('p', { class: 'muted' }, 'loading…'));
  const r = health.rates ?? {};
  const cards: [string, string][] = [
    ['Status', health.ok ? 'ok' : 'failing'],
    ['Uptime', fmtDuration(health.uptimeMs)],
    ['Connections', String(health.connections ?? '—')],
    ['WebSockets', Object.entries(health.websockets ?? {}).map(([k, n]) => `${k} ${n}`).join(', ') || '0'],
    ['HTTP requests/s', String(r.httpRequests ?? 0)],
    ['WS messages/s', String(r.wsMessagesIn ?? 0)],
    ['WS in', `${fmtBytes(r.wsBytesIn ?? 0)}/s`],
    ['Auth', health.auth ?? '—'],
    ['Storage', health.storage ?? '—'],
    ['Bus', health.bus ?? '—'],
  ];
  const times = samples.map((x) => x.t);
  const line = (key: string, label: string, i: number) => ({ label, color: COLORS[i % COLORS.length]!, values: samples.map((x) => x.s[key] ?? null) });
  return h('div', null,
    h(Panel, { title: 'Health', id: 'health' },
      h(ErrorLine, { error }),
      h('div', { class: 'cards' }, cards.map(([k, v]) => h('div', { class: `card ${k === 'Status' ? (health.ok ? 'good' : 'bad') : ''}`, key: k }, h('div', { class: 'k' }, k), h('div', { class: 'v', 'data-testid': `health-${k}` }, v))))),
    h(Panel, { title: 'Last 5 minutes', id: 'health-charts' },
      h('div', { class: 'charts' },
        h(Chart, { title: 'Messages per second', testid: 'chart-rates', times, series: [line('ws', 'WS in', 0), line('http', 'HTTP', 1), line('graphMsgs', 'graph', 2), line('published', 'ledger publishes', 3)] }),
        h(Chart, { title: 'Acks per second', testid: 'chart-acks', times, series: [line('graphAcks', 'graph acks', 0), line('pushes', 'ledger pushes', 1), line('calls', 'bus calls', 2)] }),
        h(Chart, { title: 'Latency seen by this page', unit: 'ms', testid: 'chart-latency', times, series: [line('gunMs', '/gun get', 0), line('healthMs', '/healthz', 1), line('publishMs', 'ledger publish', 3)] }),
        h(Chart, { title: 'Connections', testid: 'chart-connections', times, series: [line('conns', 'TCP', 0), line('sockets', 'WebSockets', 1), line('peers', 'graph peers', 2), line('ledgerConns', 'ledger', 3)] }),
        h(Chart, { title: 'Store sizes', testid: 'chart-stores', times, series: [line('blobs', 'blobs', 0), line('anchors', 'anchors', 1), line('blobKiB', 'blob KiB', 2)] }))),
    h(Panel, { title: 'Modules and stores' },
      h('div', { class: 'cards' }, Object.entries(health.stats ?? {}).map(([mod, st]) =>
        h('div', { class: 'card wide', key: mod, 'data-testid': `module-${mod}` }, h('div', { class: 'k' }, mod),
          h('table', { class: 'kv' }, h('tbody', null, Object.entries(st).map(([k, v]) =>
            h('tr', { key: k }, h('td', null, k), h('td', null, typeof v === 'number' && /bytes/i.test(k) ? fmtBytes(v) : k === 'rev' && typeof v === 'number' ? (v > 0 ? new Date(v).toISOString() : '—') : show(v)))))))))),
  );
}
