/**
 * The ledger view: tail topics live (`*` = every topic), publish, a per-topic event-rate chart, and a
 * record's history with its state at any revision (slider). Browser code: no node:* imports.
 */
import { h } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { COLORS, Chart } from './chart.js';
import { stateOf, type EvtEvent, type EvtLink } from './evt.js';
import { ErrorLine, Panel, Status } from './ui.js';

const BUCKET_MS = 5_000;
const WINDOW_MS = 5 * 60_000;
const MIN_WINDOW_MS = 60_000;

/**
 * Events of the busiest topics per 5 s bucket (by revision time), from the first event seen (at least the
 * last minute, at most the last 5 minutes) to now.
 */
function rates(events: EvtEvent[], now: number): { times: number[]; series: { label: string; color: string; values: number[] }[] } {
  const end = Math.floor(now / BUCKET_MS) * BUCKET_MS;
  const first = events.reduce((m, e) => Math.min(m, Date.parse(e.rev) || Infinity), Infinity);
  const span = Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, Math.ceil((end - first) / BUCKET_MS) * BUCKET_MS));
  const start = end - span;
  const n = span / BUCKET_MS + 1;
  const times = Array.from({ length: n }, (_, i) => start + i * BUCKET_MS);
  const per = new Map<string, number[]>();
  for (const e of events) {
    const t = Date.parse(e.rev);
    if (!(t >= start)) continue;
    const i = Math.min(n - 1, Math.floor((t - start) / BUCKET_MS));
    let row = per.get(e.top);
    if (!row) per.set(e.top, (row = new Array<number>(n).fill(0)));
    row[i]! += 1;
  }
  const top = [...per].sort((a, b) => b[1].reduce((x, y) => x + y, 0) - a[1].reduce((x, y) => x + y, 0)).slice(0, 6);
  return { times, series: top.map(([label, row], i) => ({ label, color: COLORS[i]!, values: row })) };
}

export function LedgerView(p: { link: EvtLink }) {
  const link = p.link;
  const [status, setStatus] = useState(link.status);
  const [topics, setTopics] = useState('');
  const [subscribed, setSubscribed] = useState<string[]>([]);
  const [events, setEvents] = useState<EvtEvent[]>([]);
  const [sel, setSel] = useState<{ top: string; key: string } | undefined>();
  const [at, setAt] = useState<number>(-1);
  const [error, setError] = useState<string>();
  const [pub, setPub] = useState({ top: '', key: '', cmd: 'new', arg: '{"name":"a"}' });
  const [now, setNow] = useState(Date.now());
  useEffect(() => link.onStatus(setStatus), [link]);
  useEffect(() => { const t = setInterval(() => setNow(Date.now()), 2000); return () => clearInterval(t); }, []);
  useEffect(() => link.onEvents((evs) => setEvents((old) => {
    const seen = new Set(old.map((e) => e.id));
    return [...old, ...evs.filter((e) => !seen.has(e.id))].sort((a, b) => a.id - b.id).slice(-5000);
  })), [link]);
  const subscribe = async (tops: string[]) => {
    setError(undefined);
    try { await link.subscribe(tops); setSubscribed((s) => [...new Set([...s, ...tops])]); setTopics(''); } catch (e) { setError((e as Error).message); }
  };
  const publish = async () => {
    setError(undefined);
    try {
      const top = pub.top.trim();
      const arg = pub.cmd === 'del' || !pub.arg.trim() ? undefined : JSON.parse(pub.arg) as Record<string, unknown>;
      if (!subscribed.includes(top) && !subscribed.includes('*')) { await link.subscribe([top]); setSubscribed((s) => [...s, top]); }
      await link.publish(top, pub.key.trim(), pub.cmd as 'new', arg);
    } catch (e) { setError((e as Error).message); }
  };
  const chart = useMemo(() => rates(events, now), [events, now]);
  const history = sel ? events.filter((e) => e.top === sel.top && e.key === sel.key) : [];
  const upto = at < 0 || at >= history.length ? history.length - 1 : at;
  return h('div', null,
    h(Panel, { title: 'Ledger', id: 'ledger', actions: h(Status, { path: '/evt', status }) },
      h('p', { class: 'muted' }, `Tailing: ${subscribed.join(', ') || 'nothing yet'}`),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void subscribe(topics.split(/[\s,]+/).filter(Boolean)); } },
        h('input', { placeholder: 'topics, e.g. prod.cat (* = every topic)', 'data-testid': 'topics-input', 'aria-label': 'topics', value: topics, onInput: (e: Event) => setTopics((e.target as HTMLInputElement).value) }),
        h('button', { type: 'submit', 'data-testid': 'subscribe' }, 'Tail'),
        subscribed.includes('*') ? null : h('button', { type: 'button', class: 'ghost', 'data-testid': 'subscribe-all', onClick: () => void subscribe(['*']) }, 'Tail every topic')),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void publish(); } },
        h('input', { placeholder: 'topic', class: 'short', 'data-testid': 'pub-top', 'aria-label': 'topic', value: pub.top, onInput: (e: Event) => setPub({ ...pub, top: (e.target as HTMLInputElement).value }) }),
        h('input', { placeholder: 'key', class: 'short', 'data-testid': 'pub-key', 'aria-label': 'key', value: pub.key, onInput: (e: Event) => setPub({ ...pub, key: (e.target as HTMLInputElement).value }) }),
        h('select', { value: pub.cmd, 'data-testid': 'pub-cmd', 'aria-label': 'command', onChange: (e: Event) => setPub({ ...pub, cmd: (e.target as HTMLSelectElement).value }) }, ['new', 'mod', 'del'].map((c) => h('option', { key: c, value: c }, c))),
        h('input', { placeholder: 'arg JSON (mod: {"k-":null} deletes k)', 'data-testid': 'pub-arg', 'aria-label': 'arg', value: pub.arg, onInput: (e: Event) => setPub({ ...pub, arg: (e.target as HTMLInputElement).value }) }),
        h('button', { type: 'submit', 'data-testid': 'publish' }, 'Publish')),
      h(ErrorLine, { error })),
    h(Panel, { title: 'Events per 5 s by topic (up to the last 5 minutes)', id: 'ledger-rates' },
      chart.series.length ? h(Chart, { title: '', testid: 'chart-topics', times: chart.times, series: chart.series, height: 140 }) : h('p', { class: 'muted' }, 'No events in the last 5 minutes on the topics tailed.')),
    h('div', { class: 'split' },
      h(Panel, { title: `Live tail (${events.length})`, id: 'ledger-tail' },
        h('div', { class: 'scroll' }, h('table', { class: 'grid' },
          h('thead', null, h('tr', null, ['id', 'rev', 'topic', 'key', 'cmd', 'arg'].map((c) => h('th', { key: c, class: c === 'rev' ? 'hide-narrow' : '' }, c)))),
          h('tbody', null, [...events].reverse().slice(0, 200).map((e) => h('tr', {
            key: e.id, class: `clickable ${sel && sel.top === e.top && sel.key === e.key ? 'sel' : ''}`, 'data-testid': 'event-row',
            onClick: () => { setSel({ top: e.top, key: e.key }); setAt(-1); },
          }, h('td', null, e.id), h('td', { class: 'muted hide-narrow small' }, e.rev), h('td', null, e.top), h('td', null, e.key), h('td', null, h('span', { class: `cmd cmd-${e.cmd}` }, e.cmd)), h('td', null, h('code', null, e.arg ? JSON.stringify(e.arg) : '')))))))),
      h(Panel, { title: sel ? `Record ${sel.top} / ${sel.key}` : 'Record', id: 'ledger-record' },
        !sel ? h('p', { class: 'muted' }, 'Click an event to see its record\'s history and its state at any revision.') : h('div', null,
          h('ol', { class: 'history' }, history.map((e, i) => h('li', { key: e.id, class: i <= upto ? '' : 'muted', onClick: () => setAt(i) }, h('span', { class: `cmd cmd-${e.cmd}` }, e.cmd), ` ${e.rev} `, h('code', null, e.arg ? JSON.stringify(e.arg) : '')))),
          history.length > 1 ? h('label', { class: 'row' }, 'state at revision ',
            h('input', { type: 'range', min: 0, max: history.length - 1, value: upto, 'data-testid': 'rev-slider', onInput: (e: Event) => setAt(Number((e.target as HTMLInputElement).value)) }),
            h('span', { class: 'muted small' }, history[upto]?.rev)) : null,
          h('pre', { 'data-testid': 'record-state' }, JSON.stringify(stateOf(history.slice(0, upto + 1)), null, 2))))),
  );
}
