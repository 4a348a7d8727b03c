/**
 * The plexus dashboard: health, graph explorer, ledger, blobs & anchors, bus. A Preact app built by
 * scripts/build-web.mjs into dist/dashboard/; it talks only to the server's public HTTP/WS endpoints.
 */
import { h, render, type ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, fmtBytes, fmtDuration, getToken, parseTyped, setToken } from './api.js';
import { GunLink, type GunNode } from './gun.js';
import { EvtLink, stateOf, type EvtEvent } from './evt.js';

const VIEWS = [
  ['health', 'Health'],
  ['graph', 'Graph'],
  ['ledger', 'Ledger'],
  ['blobs', 'Blobs & anchors'],
  ['bus', 'Bus'],
] as const;
type View = (typeof VIEWS)[number][0];

function viewOf(hash: string): View {
  const v = hash.replace(/^#\/?/, '').split('/')[0];
  return (VIEWS.find(([id]) => id === v)?.[0] ?? 'health') as View;
}

/** Show a value of any JSON type compactly. */
function show(v: unknown): string {
  if (typeof v === 'string') return v;
  try { return JSON.stringify(v); } catch { return String(v); }
}

function Panel(p: { title: string; children?: ComponentChildren; id?: string }) {
  return h('section', { class: 'panel', 'data-testid': p.id }, h('h2', null, p.title), p.children);
}

function ErrorLine(p: { error: string | undefined }) {
  return p.error ? h('p', { class: 'error', role: 'alert' }, p.error) : null;
}

// ---- health -----------------------------------------------------------------------------------------

interface Health {
  ok: boolean; uptimeMs: number; modules?: string[]; stats?: Record<string, Record<string, unknown>>;
  connections?: number; websockets?: Record<string, number>; rates?: Record<string, number>; auth?: string; storage?: string; bus?: string;
}

/** A small inline SVG line of the last values. */
function Spark(p: { values: number[]; label: string }) {
  const max = Math.max(1, ...p.values);
  const w = 240, hgt = 40;
  const pts = p.values.map((v, i) => `${(i / Math.max(1, p.values.length - 1)) * w},${hgt - (v / max) * (hgt - 2) - 1}`).join(' ');
  return h('div', { class: 'card wide' }, h('div', { class: 'k' }, `${p.label} (last ${p.values.length * 2}s, max ${max})`),
    h('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, class: 'spark' }, h('polyline', { points: pts, fill: 'none', stroke: '#3b5bdb', 'stroke-width': 1.5 })));
}

function HealthView() {
  const [health, setHealth] = useState<Health | undefined>();
  const [error, setError] = useState<string>();
  const [series, setSeries] = useState<{ http: number[]; ws: number[]; conns: number[] }>({ http: [], ws: [], conns: [] });
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        // 503 still carries the figures (a module is failing): show them.
        const t = getToken();
        const res = await fetch('/healthz', t ? { headers: { authorization: `Bearer ${t}` } } : {});
        const hh = await res.json() as Health;
        setHealth(hh);
        setError(undefined);
        const keep = (xs: number[], v: number) => [...xs, v].slice(-60);
        setSeries((sr) => ({ http: keep(sr.http, hh.rates?.httpRequests ?? 0), ws: keep(sr.ws, hh.rates?.wsMessagesIn ?? 0), conns: keep(sr.conns, hh.connections ?? 0) }));
      } catch (e) { setError(String((e as Error).message)); }
      if (!stop) timer = setTimeout(poll, 2000);
    };
    let timer = setTimeout(poll, 0);
    return () => { stop = true; clearTimeout(timer); };
  }, []);
  if (!health) return h(Panel, { title: 'Health', id: 'health' }, h(ErrorLine, { error }), h('p', null, 'loading…'));
  const r = health.rates ?? {};
  const cards: [string, string][] = [
    ['Status', health.ok ? 'ok' : 'failing'],
    ['Uptime', fmtDuration(health.uptimeMs)],
    ['Connections', String(health.connections ?? '—')],
    ['WebSockets', Object.entries(health.websockets ?? {}).map(([p, n]) => `${p} ${n}`).join(', ') || '0'],
    ['HTTP requests/s', String(r.httpRequests ?? 0)],
    ['WS messages/s', String(r.wsMessagesIn ?? 0)],
    ['WS in', `${fmtBytes(r.wsBytesIn ?? 0)}/s`],
    ['Auth', health.auth ?? '—'],
    ['Storage', health.storage ?? '—'],
    ['Bus', health.bus ?? '—'],
  ];
  return h('div', null,
    h(Panel, { title: 'Health', id: 'health' },
      h(ErrorLine, { error }),
      h('div', { class: 'cards' }, cards.map(([k, v]) => h('div', { class: 'card', key: k }, h('div', { class: 'k' }, k), h('div', { class: 'v', 'data-testid': `health-${k}` }, v)))),
      h('div', { class: 'cards', style: 'margin-top:.6em' },
        h(Spark, { values: series.http, label: 'HTTP requests/s' }), h(Spark, { values: series.ws, label: 'WS messages/s' }), h(Spark, { values: series.conns, label: 'connections' }))),
    h(Panel, { title: 'Modules and stores' },
      h('div', { class: 'cards' }, Object.entries(health.stats ?? {}).map(([mod, st]) =>
        h('div', { class: 'card wide', key: mod, 'data-testid': `module-${mod}` }, h('div', { class: 'k' }, mod),
          h('table', null, h('tbody', null, Object.entries(st).map(([k, v]) =>
            h('tr', { key: k }, h('td', null, k), h('td', null, typeof v === 'number' && /bytes/i.test(k) ? fmtBytes(v) : k === 'rev' && typeof v === 'number' ? (v > 0 ? new Date(v).toISOString() : '—') : show(v)))))))))),
  );
}

// ---- graph ------------------------------------------------------------------------------------------

function GraphView() {
  const link = useMemo(() => new GunLink('/gun'), []);
  const [status, setStatus] = useState(link.status);
  const [soulInput, setSoulInput] = useState(() => new URLSearchParams(location.hash.split('?')[1] ?? '').get('soul') ?? 'root');
  const [soul, setSoul] = useState<string>();
  const [node, setNode] = useState<GunNode>();
  const [, bump] = useState(0);
  const [error, setError] = useState<string>();
  const [recent, setRecent] = useState<string[]>([]);
  const [edit, setEdit] = useState<{ field: string; text: string } | undefined>();
  const [newField, setNewField] = useState({ field: '', text: '' });
  const [flash, setFlash] = useState<Record<string, number>>({});
  useEffect(() => () => link.close(), [link]);
  useEffect(() => link.onStatus(setStatus), [link]);
  useEffect(() => link.onChange((s) => {
    if (s !== soul) return;
    const n = link.nodes.get(s);
    setNode(n ? { ...n, values: { ...n.values }, states: { ...n.states } } : undefined);
    setFlash((f) => ({ ...f, __t: Date.now() }));
    bump((x) => x + 1);
  }), [link, soul]);

  const open = async (s: string) => {
    if (!s) return;
    setError(undefined);
    setSoul(s);
    setSoulInput(s);
    setRecent((r) => [s, ...r.filter((x) => x !== s)].slice(0, 12));
    try { const n = await link.open(s); setNode({ ...n }); } catch (e) { setError((e as Error).message); }
  };
  const save = async (field: string, text: string) => {
    if (!soul || !field) return;
    setError(undefined);
    try { await link.put(soul, field, parseTyped(text)); setEdit(undefined); setFlash((f) => ({ ...f, [field]: Date.now() })); } catch (e) { setError((e as Error).message); }
  };
  const fields = node ? Object.keys(node.values).sort() : [];
  // Souls the relay has sent us, and souls their relations point at (the relay has no soul index).
  const known = [...new Set([...link.nodes.keys(), ...[...link.nodes.values()].flatMap((n) => Object.values(n.values)
    .filter((v): v is { '#': string } => typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['#'] === 'string').map((v) => v['#']))])]
    .filter((x) => x !== soul).sort().slice(0, 100);
  return h('div', null,
    h(Panel, { title: 'Graph explorer', id: 'graph' },
      h('p', { class: 'muted' }, `/gun: ${status}. Open a soul, follow relations (links), edit fields; changes by anyone show up live.`),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void open(soulInput.trim()); } },
        h('input', { 'aria-label': 'soul', 'data-testid': 'soul-input', value: soulInput, onInput: (e: Event) => setSoulInput((e.target as HTMLInputElement).value), placeholder: 'soul, e.g. users' }),
        h('button', { type: 'submit', 'data-testid': 'soul-open' }, 'Open')),
      recent.length > 1 ? h('p', { class: 'crumbs' }, 'recent: ', recent.map((s) => h('a', { key: s, href: '#/graph', onClick: (e: Event) => { e.preventDefault(); void open(s); } }, s))) : null,
      known.length ? h('p', { class: 'crumbs', 'data-testid': 'known-souls' }, 'souls seen: ', known.map((s) => h('a', { key: s, href: '#/graph', onClick: (e: Event) => { e.preventDefault(); void open(s); } }, s))) : null,
      h(ErrorLine, { error }),
      soul ? h('div', null,
        h('h3', null, 'soul ', h('code', { 'data-testid': 'soul-name' }, soul), node && !node.found && fields.length === 0 ? h('span', { class: 'muted' }, ' (empty)') : null),
        h('table', { class: 'grid', 'data-testid': 'node-table' },
          h('thead', null, h('tr', null, h('th', null, 'field'), h('th', null, 'value'), h('th', null, 'state'), h('th', null, ''))),
          h('tbody', null, fields.map((f) => {
            const v = node!.values[f];
            const isLink = typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['#'] === 'string';
            return h('tr', { key: f, 'data-field': f },
              h('td', null, h('code', null, f)),
              h('td', { 'data-testid': `value-${f}` }, edit?.field === f
                ? h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void save(f, edit.text); } },
                  h('input', { value: edit.text, 'data-testid': 'edit-input', onInput: (e: Event) => setEdit({ field: f, text: (e.target as HTMLInputElement).value }) }),
                  h('button', { type: 'submit' }, 'Save'))
                : isLink
                  ? h('a', { href: '#/graph', class: 'link', onClick: (e: Event) => { e.preventDefault(); void open((v as Record<string, string>)['#']!); } }, '→ ', (v as Record<string, string>)['#'])
                  : h('span', { class: v === null ? 'muted' : '' }, v === null ? 'null (deleted)' : show(v))),
              h('td', { class: 'muted' }, node!.states[f] ? new Date(node!.states[f]!).toISOString().replace('T', ' ').slice(0, 23) : ''),
              h('td', null, isLink ? null : h('button', { class: 'small', onClick: () => setEdit({ field: f, text: typeof v === 'string' ? v : JSON.stringify(v) }) }, 'edit')));
          }))),
        h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void save(newField.field.trim(), newField.text).then(() => setNewField({ field: '', text: '' })); } },
          h('input', { placeholder: 'field', 'data-testid': 'new-field', value: newField.field, onInput: (e: Event) => setNewField({ ...newField, field: (e.target as HTMLInputElement).value }) }),
          h('input', { placeholder: 'value (JSON or text; {"#":"soul"} links)', 'data-testid': 'new-value', value: newField.text, onInput: (e: Event) => setNewField({ ...newField, text: (e.target as HTMLInputElement).value }) }),
          h('button', { type: 'submit', 'data-testid': 'put-field' }, 'Put'))) : null),
  );
}

// ---- ledger -----------------------------------------------------------------------------------------

function LedgerView() {
  const link = useMemo(() => new EvtLink('/evt'), []);
  const [status, setStatus] = useState(link.status);
  const [topics, setTopics] = useState('');
  const [subscribed, setSubscribed] = useState<string[]>([]);
  const [events, setEvents] = useState<EvtEvent[]>([]);
  const [sel, setSel] = useState<{ top: string; key: string } | undefined>();
  const [at, setAt] = useState<number>(-1);
  const [error, setError] = useState<string>();
  const [pub, setPub] = useState({ top: '', key: '', cmd: 'new', arg: '{"name":"a"}' });
  useEffect(() => () => link.close(), [link]);
  useEffect(() => link.onStatus(setStatus), [link]);
  useEffect(() => link.onEvents((evs) => setEvents((old) => {
    const seen = new Set(old.map((e) => e.id));
    return [...old, ...evs.filter((e) => !seen.has(e.id))].sort((a, b) => a.id - b.id).slice(-2000);
  })), [link]);
  const subscribe = async () => {
    const tops = topics.split(/[\s,]+/).filter(Boolean);
    setError(undefined);
    try { await link.subscribe(tops); setSubscribed((s) => [...new Set([...s, ...tops])]); setTopics(''); } catch (e) { setError((e as Error).message); }
  };
  const publish = async () => {
    setError(undefined);
    try {
      const arg = pub.cmd === 'del' || !pub.arg.trim() ? undefined : JSON.parse(pub.arg) as Record<string, unknown>;
      if (!subscribed.includes(pub.top.trim())) { await link.subscribe([pub.top.trim()]); setSubscribed((s) => [...s, pub.top.trim()]); }
      await link.publish(pub.top.trim(), pub.key.trim(), pub.cmd as 'new', arg);
    } catch (e) { setError((e as Error).message); }
  };
  const history = sel ? events.filter((e) => e.top === sel.top && e.key === sel.key) : [];
  const upto = at < 0 || at >= history.length ? history.length - 1 : at;
  return h('div', null,
    h(Panel, { title: 'Ledger', id: 'ledger' },
      h('p', { class: 'muted' }, `/evt: ${status}. Subscribed: ${subscribed.join(', ') || 'nothing yet'}`),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void subscribe(); } },
        h('input', { placeholder: 'topics, e.g. prod.cat', 'data-testid': 'topics-input', value: topics, onInput: (e: Event) => setTopics((e.target as HTMLInputElement).value) }),
        h('button', { type: 'submit', 'data-testid': 'subscribe' }, 'Tail')),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void publish(); } },
        h('input', { placeholder: 'topic', 'data-testid': 'pub-top', value: pub.top, onInput: (e: Event) => setPub({ ...pub, top: (e.target as HTMLInputElement).value }) }),
        h('input', { placeholder: 'key', class: 'short', 'data-testid': 'pub-key', value: pub.key, onInput: (e: Event) => setPub({ ...pub, key: (e.target as HTMLInputElement).value }) }),
        h('select', { value: pub.cmd, 'data-testid': 'pub-cmd', onChange: (e: Event) => setPub({ ...pub, cmd: (e.target as HTMLSelectElement).value }) }, ['new', 'mod', 'del'].map((c) => h('option', { key: c, value: c }, c))),
        h('input', { placeholder: 'arg JSON (mod: {"k-":null} deletes k)', 'data-testid': 'pub-arg', value: pub.arg, onInput: (e: Event) => setPub({ ...pub, arg: (e.target as HTMLInputElement).value }) }),
        h('button', { type: 'submit', 'data-testid': 'publish' }, 'Publish')),
      h(ErrorLine, { error })),
    h('div', { class: 'split' },
      h(Panel, { title: `Live tail (${events.length})`, id: 'ledger-tail' },
        h('table', { class: 'grid' },
          h('thead', null, h('tr', null, ['id', 'rev', 'topic', 'key', 'cmd', 'arg'].map((c) => h('th', { key: c }, c)))),
          h('tbody', null, [...events].reverse().slice(0, 200).map((e) => h('tr', {
            key: e.id, class: sel && sel.top === e.top && sel.key === e.key ? 'sel' : '', 'data-testid': 'event-row',
            onClick: () => { setSel({ top: e.top, key: e.key }); setAt(-1); },
          }, h('td', null, e.id), h('td', { class: 'muted' }, e.rev), h('td', null, e.top), h('td', null, e.key), h('td', null, e.cmd), h('td', null, h('code', null, e.arg ? JSON.stringify(e.arg) : ''))))))),
      h(Panel, { title: sel ? `Record ${sel.top} / ${sel.key}` : 'Record', id: 'ledger-record' },
        !sel ? h('p', { class: 'muted' }, 'Click an event to see its record\'s history and its state at any revision.') : h('div', null,
          h('ol', { class: 'history' }, history.map((e, i) => h('li', { key: e.id, class: i <= upto ? '' : 'muted', onClick: () => setAt(i) }, `${e.rev} ${e.cmd} `, h('code', null, e.arg ? JSON.stringify(e.arg) : '')))),
          history.length > 1 ? h('label', { class: 'row' }, 'state at revision ',
            h('input', { type: 'range', min: 0, max: history.length - 1, value: upto, 'data-testid': 'rev-slider', onInput: (e: Event) => setAt(Number((e.target as HTMLInputElement).value)) }),
            h('span', null, history[upto]?.rev)) : null,
          h('pre', { 'data-testid': 'record-state' }, JSON.stringify(stateOf(history.slice(0, upto + 1)), null, 2))))),
  );
}

// ---- blobs & anchors --------------------------------------------------------------------------------

interface AnchorEntry { at: number; time: string; ref: string }

function BlobsView() {
  const [refs, setRefs] = useState<string[]>([]);
  const [names, setNames] = useState<string[]>([]);
  const [error, setError] = useState<string>();
  const [uploads, setUploads] = useState<{ name: string; ref: string; size: number; added: boolean }[]>([]);
  const [hover, setHover] = useState(false);
  const [anchor, setAnchor] = useState<string>();
  const [history, setHistory] = useState<AnchorEntry[]>([]);
  const [form, setForm] = useState({ name: '', ref: '' });
  const fileInput = useRef<HTMLInputElement>(null);
  const reload = async () => {
    try {
      setRefs((await api<{ refs: string[] }>('GET', '/blob?limit=200')).refs);
      setNames((await api<{ names: string[] }>('GET', '/anchor?limit=200')).names);
    } catch (e) { setError((e as Error).message); }
  };
  useEffect(() => { void reload(); }, []);
  const upload = async (files: FileList | File[]) => {
    setError(undefined);
    for (const f of Array.from(files)) {
      try {
        const r = await api<{ ref: string; added: boolean }>('POST', '/blob', f);
        setUploads((u) => [{ name: f.name, ref: r.ref, size: f.size, added: r.added }, ...u]);
        setForm((x) => ({ ...x, ref: r.ref }));
      } catch (e) { setError(`${f.name}: ${(e as Error).message}`); }
    }
    await reload();
  };
  const showAnchor = async (name: string) => {
    setAnchor(name);
    setForm((x) => ({ ...x, name }));
    try { setHistory((await api<{ history: AnchorEntry[] }>('GET', `/anchor/${encodeURIComponent(name)}/history`)).history); } catch (e) { setError((e as Error).message); }
  };
  const setAnchorRef = async () => {
    setError(undefined);
    try {
      await api('PUT', `/anchor/${encodeURIComponent(form.name.trim())}`, { ref: form.ref.trim() });
      await reload();
      await showAnchor(form.name.trim());
    } catch (e) { setError((e as Error).message); }
  };
  const t0 = history.length ? history[0]!.at : 0;
  const t1 = history.length ? history[history.length - 1]!.at : 1;
  return h('div', null,
    h(Panel, { title: 'Upload', id: 'blobs' },
      h('div', {
        class: `drop ${hover ? 'hover' : ''}`, 'data-testid': 'drop-zone',
        onDragOver: (e: DragEvent) => { e.preventDefault(); setHover(true); },
        onDragLeave: () => setHover(false),
        onDrop: (e: DragEvent) => { e.preventDefault(); setHover(false); if (e.dataTransfer?.files.length) void upload(e.dataTransfer.files); },
        onClick: () => fileInput.current?.click(),
      }, 'Drop files here, or click to choose'),
      h('input', { type: 'file', multiple: true, ref: fileInput, style: 'display:none', 'data-testid': 'file-input', onChange: (e: Event) => { const fl = (e.target as HTMLInputElement).files; if (fl) void upload(fl); } }),
      h(ErrorLine, { error }),
      uploads.length ? h('ul', { class: 'uploads', 'data-testid': 'uploads' }, uploads.map((u) => h('li', { key: u.ref + u.name },
        `${u.name} (${fmtBytes(u.size)}) → `, h('a', { href: `/blob/${u.ref}`, download: u.name, 'data-testid': 'uploaded-ref' }, u.ref), u.added ? '' : ' (already stored)'))) : null),
    h('div', { class: 'split' },
      h(Panel, { title: `Blobs (${refs.length}${refs.length === 200 ? '+' : ''})`, id: 'blob-list' },
        h('ul', { class: 'refs' }, refs.map((r) => h('li', { key: r }, h('a', { href: `/blob/${r}`, download: r }, h('code', null, r)))))),
      h(Panel, { title: 'Anchors', id: 'anchors' },
        h('ul', { class: 'names' }, names.map((n) => h('li', { key: n }, h('a', { href: '#/blobs', class: anchor === n ? 'sel' : '', onClick: (e: Event) => { e.preventDefault(); void showAnchor(n); } }, n)))),
        h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void setAnchorRef(); } },
          h('input', { placeholder: 'anchor name', 'data-testid': 'anchor-name', value: form.name, onInput: (e: Event) => setForm({ ...form, name: (e.target as HTMLInputElement).value }) }),
          h('input', { placeholder: 'ref', 'data-testid': 'anchor-ref', value: form.ref, onInput: (e: Event) => setForm({ ...form, ref: (e.target as HTMLInputElement).value }) }),
          h('button', { type: 'submit', 'data-testid': 'anchor-set' }, 'Set anchor')),
        anchor ? h('div', null,
          h('h3', null, 'History of ', h('code', null, anchor)),
          h('div', { class: 'timeline', 'data-testid': 'anchor-timeline' },
            history.map((e, i) => h('div', {
              key: `${e.at}-${i}`, class: 'tick', title: `${e.time}\n${e.ref}`,
              style: `left:${t1 === t0 ? 50 : ((e.at - t0) / (t1 - t0)) * 96 + 2}%`,
            }))),
          h('ol', { class: 'history' }, [...history].reverse().map((e, i) => h('li', { key: `${e.at}-${i}` }, `${e.time} `, h('a', { href: `/blob/${e.ref}` }, h('code', null, e.ref.slice(0, 16) + '…')))))) : null)),
  );
}

// ---- bus --------------------------------------------------------------------------------------------

function BusView() {
  const [info, setInfo] = useState<{ peer: string; transport: string; namespaces: string[] }>();
  const [form, setForm] = useState({ namespace: 'plexus.server', command: 'ping', payload: '' });
  const [results, setResults] = useState<{ at: string; call: string; out: unknown }[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => { api<{ peer: string; transport: string; namespaces: string[] }>('GET', '/api/bus').then(setInfo, (e: Error) => setError(e.message)); }, []);
  const call = async () => {
    setError(undefined);
    try {
      const payload = form.payload.trim() ? parseTyped(form.payload) : null;
      const out = await api('POST', '/api/bus/call', { namespace: form.namespace.trim(), command: form.command.trim(), payload });
      setResults((r) => [{ at: new Date().toISOString().slice(11, 23), call: `${form.namespace}::${form.command}`, out }, ...r].slice(0, 50));
    } catch (e) { setError((e as Error).message); }
  };
  return h('div', null,
    h(Panel, { title: 'Bus', id: 'bus' },
      info ? h('p', null, 'Server peer ', h('code', null, info.peer), ` on the ${info.transport} transport serves: `,
        info.namespaces.map((n) => h('a', { key: n, href: '#/bus', class: 'pill', 'data-testid': 'namespace', onClick: (e: Event) => { e.preventDefault(); setForm({ ...form, namespace: n }); } }, n))) : h('p', { class: 'muted' }, 'loading…'),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void call(); } },
        h('input', { placeholder: 'namespace', 'data-testid': 'bus-ns', value: form.namespace, onInput: (e: Event) => setForm({ ...form, namespace: (e.target as HTMLInputElement).value }) }),
        h('input', { placeholder: 'command', class: 'short', 'data-testid': 'bus-cmd', value: form.command, onInput: (e: Event) => setForm({ ...form, command: (e.target as HTMLInputElement).value }) }),
        h('input', { placeholder: 'payload (JSON or text)', 'data-testid': 'bus-payload', value: form.payload, onInput: (e: Event) => setForm({ ...form, payload: (e.target as HTMLInputElement).value }) }),
        h('button', { type: 'submit', 'data-testid': 'bus-call' }, 'Call')),
      h(ErrorLine, { error }),
      h('table', { class: 'grid', 'data-testid': 'bus-results' },
        h('tbody', null, results.map((r, i) => h('tr', { key: i }, h('td', { class: 'muted' }, r.at), h('td', null, r.call), h('td', null, h('code', null, JSON.stringify(r.out)))))))),
  );
}

// ---- shell ------------------------------------------------------------------------------------------

function App() {
  const [view, setView] = useState<View>(viewOf(location.hash));
  const [token, setTok] = useState(getToken());
  useEffect(() => {
    const on = () => setView(viewOf(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const body = view === 'health' ? h(HealthView, null) : view === 'graph' ? h(GraphView, null) : view === 'ledger' ? h(LedgerView, null) : view === 'blobs' ? h(BlobsView, null) : h(BusView, null);
  return h('div', { class: 'app' },
    h('header', null,
      h('strong', { class: 'logo' }, 'plexus'),
      h('nav', null, VIEWS.map(([id, label]) => h('a', { key: id, href: `#/${id}`, class: id === view ? 'active' : '', 'data-testid': `nav-${id}` }, label))),
      h('form', { class: 'token', onSubmit: (e: Event) => { e.preventDefault(); setToken(token); location.reload(); } },
        h('input', { type: 'password', placeholder: 'token (for writes)', value: token, 'aria-label': 'token', onInput: (e: Event) => setTok((e.target as HTMLInputElement).value) }),
        h('button', { type: 'submit', class: 'small' }, 'Use'))),
    h('main', { 'data-view': view, key: view }, body));
}

render(h(App, null), document.getElementById('app')!);
