/**
 * The bus view: the server peer's namespaces, calls with a spinner and the timeout while they wait, and
 * the recent calls with their latency and outcome. Browser code: no node:* imports.
 */
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, parseTyped } from './api.js';
import { ErrorLine, LinkButton, Panel, Spinner } from './ui.js';

interface CallResult { ok: boolean; result?: unknown; failure?: { type: string; message: string }; error?: { code: string; message: string }; ms?: number }
interface Row { at: string; call: string; outcome: 'ok' | 'failure' | 'error'; out: unknown; ms: number }

/** The timeouts a call may use (ms); the server accepts up to DASHBOARD_BUS_CALL_TIMEOUT_MS (10 s). */
const TIMEOUTS = [1000, 2000, 5000, 10_000];

export function BusView() {
  const [info, setInfo] = useState<{ peer: string; transport: string; namespaces: string[]; calls?: number; failures?: number }>();
  const [form, setForm] = useState({ namespace: 'plexus.server', command: 'ping', payload: '', timeoutMs: 5000 });
  const [results, setResults] = useState<Row[]>([]);
  const [waiting, setWaiting] = useState<{ call: string; since: number; timeoutMs: number }>();
  const [tick, setTick] = useState(0);
  const [error, setError] = useState<string>();
  const load = () => api<NonNullable<typeof info>>('GET', '/api/bus').then(setInfo, (e: Error) => setError(e.message));
  useEffect(() => { void load(); }, []);
  useEffect(() => {
    if (!waiting) return;
    const t = setInterval(() => setTick((x) => x + 1), 100);
    return () => clearInterval(t);
  }, [waiting]);
  const call = async () => {
    setError(undefined);
    const name = `${form.namespace.trim()}::${form.command.trim()}`;
    const t0 = performance.now();
    setWaiting({ call: name, since: Date.now(), timeoutMs: form.timeoutMs });
    try {
      const payload = form.payload.trim() ? parseTyped(form.payload) : null;
      const r = await api<CallResult>('POST', '/api/bus/call', { namespace: form.namespace.trim(), command: form.command.trim(), payload, timeoutMs: form.timeoutMs });
      const outcome = r.ok ? 'ok' : r.failure ? 'failure' : 'error';
      setResults((xs) => [{ at: new Date().toISOString().slice(11, 23), call: name, outcome, out: r.ok ? r.result : r.failure ?? r.error, ms: r.ms ?? Math.round(performance.now() - t0) } as Row, ...xs].slice(0, 50));
    } catch (e) { setError((e as Error).message); }
    setWaiting(undefined);
    void load();
  };
  const waited = waiting ? Math.min(waiting.timeoutMs, Date.now() - waiting.since) : 0;
  void tick;
  return h('div', null,
    h(Panel, { title: 'Bus', id: 'bus' },
      info ? h('div', null,
        h('p', null, 'Server peer ', h('code', null, info.peer), ` on the ${info.transport} transport`, info.calls !== undefined ? h('span', { class: 'muted' }, ` · ${info.calls} calls, ${info.failures ?? 0} failed`) : null),
        h('div', { class: 'row' }, h('span', { class: 'muted' }, 'namespaces:'), info.namespaces.map((n) => h(LinkButton, { key: n, class: `pill ${form.namespace === n ? 'sel' : ''}`, testid: 'namespace', onClick: () => setForm({ ...form, namespace: n }) }, n))))
        : h('p', { class: 'muted' }, 'loading…'),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); if (!waiting) void call(); } },
        h('input', { placeholder: 'namespace', class: 'short', 'data-testid': 'bus-ns', 'aria-label': 'namespace', value: form.namespace, onInput: (e: Event) => setForm({ ...form, namespace: (e.target as HTMLInputElement).value }) }),
        h('input', { placeholder: 'command', class: 'short', 'data-testid': 'bus-cmd', 'aria-label': 'command', value: form.command, onInput: (e: Event) => setForm({ ...form, command: (e.target as HTMLInputElement).value }) }),
        h('input', { placeholder: 'payload (JSON or text)', 'data-testid': 'bus-payload', 'aria-label': 'payload', value: form.payload, onInput: (e: Event) => setForm({ ...form, payload: (e.target as HTMLInputElement).value }) }),
        h('label', { class: 'muted small' }, 'timeout ', h('select', { 'data-testid': 'bus-timeout', value: String(form.timeoutMs), onChange: (e: Event) => setForm({ ...form, timeoutMs: Number((e.target as HTMLSelectElement).value) }) },
          TIMEOUTS.map((t) => h('option', { key: t, value: String(t) }, `${t / 1000} s`)))),
        h('button', { type: 'submit', 'data-testid': 'bus-call', disabled: !!waiting }, 'Call')),
      waiting ? h('p', { class: 'waiting', 'data-testid': 'bus-waiting' }, h(Spinner, null), ` calling ${waiting.call}… ${(waited / 1000).toFixed(1)} s of ${waiting.timeoutMs / 1000} s timeout`,
        h('span', { class: 'bar' }, h('i', { style: `width:${(waited / waiting.timeoutMs) * 100}%` }))) : null,
      h(ErrorLine, { error })),
    h(Panel, { title: `Recent calls (${results.length})`, id: 'bus-recent' },
      results.length === 0 ? h('p', { class: 'muted' }, 'No calls yet.') : h('table', { class: 'grid', 'data-testid': 'bus-results' },
        h('thead', null, h('tr', null, h('th', null, 'time'), h('th', null, 'call'), h('th', null, 'latency'), h('th', null, 'outcome'), h('th', null, 'result'))),
        h('tbody', null, results.map((r, i) => h('tr', { key: i, 'data-testid': 'bus-row' },
          h('td', { class: 'muted small nowrap' }, r.at), h('td', { class: 'nowrap' }, h('code', null, r.call)), h('td', { class: 'num' }, `${r.ms} ms`),
          h('td', null, h('span', { class: `badge ${r.outcome}` }, r.outcome)), h('td', null, h('code', null, JSON.stringify(r.out)))))))));
}
