/**
 * The graph view: a soul browser (lexical soul queries by prefix), the drawn graph (expand a node's
 * relations by clicking it, live changes animate in) and the selected node's field table (edit values
 * and relations, delete fields with a confirm). Browser code: no node:* imports.
 */
import { h } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, parseTyped } from './api.js';
import { GraphCanvas, type CanvasEdge, type CanvasNode } from './graph-canvas.js';
import { linkOf, type GunLink } from './gun.js';
import { ErrorLine, LinkButton, Panel, Spinner, Status, fmtTime, show } from './ui.js';

function SoulBrowser(p: { link: GunLink; status: string; selected?: string; onPick(soul: string): void; refresh: number; active: boolean }) {
  const [prefix, setPrefix] = useState('');
  const [souls, setSouls] = useState<string[] | undefined>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const search = async (pre: string) => {
    setBusy(true);
    try { setSouls(await p.link.souls(pre)); setError(undefined); } catch (e) { setError((e as Error).message); }
    setBusy(false);
  };
  // list again whenever the view is shown, the connection comes up, or Reset is pressed
  useEffect(() => { if (p.status === 'open' && p.active) void search(prefix); }, [p.status, p.refresh, p.active]);
  useEffect(() => {
    if (p.status !== 'open') return;
    const t = setTimeout(() => void search(prefix), 200);
    return () => clearTimeout(t);
  }, [prefix]);
  return h(Panel, { title: 'Souls', id: 'soul-browser', class: 'souls-panel', actions: h('button', { type: 'button', class: 'small ghost', 'data-testid': 'souls-refresh', onClick: () => void search(prefix) }, busy ? h(Spinner, null) : 'Refresh') },
    h('input', { type: 'search', placeholder: 'prefix, e.g. users/', 'aria-label': 'soul prefix', 'data-testid': 'soul-prefix', value: prefix, onInput: (e: Event) => setPrefix((e.target as HTMLInputElement).value) }),
    h(ErrorLine, { error }),
    h('p', { class: 'muted small' }, souls === undefined ? (busy ? 'searching…' : '') : `${souls.length}${souls.length === 200 ? '+' : ''} soul${souls.length === 1 ? '' : 's'}${prefix ? ` starting with “${prefix}”` : ''}`),
    h('ul', { class: 'soul-list', 'data-testid': 'soul-list' }, (souls ?? []).map((s) => h('li', { key: s },
      h(LinkButton, { class: s === p.selected ? 'sel' : '', onClick: () => p.onPick(s), title: s, testid: 'soul-item' }, s)))));
}

/** How the relay's SEA checks see one stored field (GET /api/graph/sea). */
interface SeaField { kind: string; verified: boolean; signer?: string; reason?: string }

/** User space and content-addressed souls: the relay's per-field SEA status, refetched as the node changes. */
function useSea(soul: string, version: number): Record<string, SeaField> | undefined {
  const [sea, setSea] = useState<Record<string, SeaField>>();
  const checked = soul.includes('~') || soul.includes('#');
  useEffect(() => {
    if (!checked) { setSea(undefined); return; }
    let live = true;
    const t = setTimeout(() => {
      api<{ fields: Record<string, SeaField> }>('GET', `/api/graph/sea?soul=${encodeURIComponent(soul)}`).then((r) => { if (live) setSea(r.fields); }, () => { if (live) setSea(undefined); });
    }, 150);
    return () => { live = false; clearTimeout(t); };
  }, [soul, version]);
  return checked ? sea : undefined;
}

function SeaBadge(p: { info?: SeaField }) {
  if (!p.info) return h('span', { class: 'muted small' }, '…');
  const by = p.info.signer ? ` by ${p.info.signer.slice(0, 8)}…` : '';
  return p.info.verified
    ? h('span', { class: 'badge ok', title: `${p.info.kind}${by}`, 'data-testid': 'sea-ok' }, '✓ verified')
    : h('span', { class: 'badge error', title: p.info.reason ?? p.info.kind, 'data-testid': 'sea-bad' }, '✗ not verified');
}

function FieldTable(p: { link: GunLink; soul: string; version: number; onFollow(soul: string): void }) {
  const node = p.link.nodes.get(p.soul);
  const sea = useSea(p.soul, p.version);
  const seaSoul = p.soul.includes('~') || p.soul.includes('#');
  const [edit, setEdit] = useState<{ field: string; text: string; link: boolean } | undefined>();
  const [confirm, setConfirm] = useState<string>();
  const [adding, setAdding] = useState({ field: '', text: '' });
  const [error, setError] = useState<string>();
  const [flash, setFlash] = useState<Record<string, number>>({});
  useEffect(() => { setEdit(undefined); setConfirm(undefined); setError(undefined); }, [p.soul]);
  const put = async (field: string, value: unknown) => {
    setError(undefined);
    try { await p.link.put(p.soul, field, value); setFlash((f) => ({ ...f, [field]: Date.now() })); return true; } catch (e) { setError((e as Error).message); return false; }
  };
  const fields = node ? Object.keys(node.values).sort() : [];
  return h(Panel, { title: h('span', null, 'Fields of ', h('code', { 'data-testid': 'soul-name' }, p.soul)), id: 'node-panel', class: 'fields-panel' },
    h(ErrorLine, { error }),
    fields.length === 0 ? h('p', { class: 'muted' }, 'No fields yet: add one below.') : h('table', { class: 'grid', 'data-testid': 'node-table' },
      h('thead', null, h('tr', null, h('th', null, 'field'), h('th', null, 'value'), seaSoul ? h('th', null, 'SEA') : null, h('th', { class: 'hide-narrow' }, 'state'), h('th', null, ''))),
      h('tbody', null, fields.map((f) => {
        const v = node!.values[f];
        const target = linkOf(v);
        const recent = (flash[f] ?? 0) > Date.now() - 1500;
        return h('tr', { key: f, 'data-field': f, class: recent ? 'flash' : '' },
          h('td', { class: 'field' }, h('code', null, f)),
          h('td', { 'data-testid': `value-${f}` }, confirm === f
            ? h('span', { class: 'confirm' }, 'Delete ', h('code', null, f), '? ',
              h('button', { type: 'button', class: 'small danger', 'data-testid': 'confirm-delete', onClick: () => void put(f, null).then(() => setConfirm(undefined)) }, 'Delete'), ' ',
              h('button', { type: 'button', class: 'small ghost', onClick: () => setConfirm(undefined) }, 'Cancel'))
            : edit?.field === f
              ? h('form', { class: 'row tight', onSubmit: (e: Event) => { e.preventDefault(); void put(f, edit.link ? { '#': edit.text.trim() } : parseTyped(edit.text)).then((ok) => ok && setEdit(undefined)); } },
                edit.link ? h('span', { class: 'muted' }, '→') : null,
                h('input', { value: edit.text, 'data-testid': 'edit-input', 'aria-label': edit.link ? 'relation target soul' : 'value', onInput: (e: Event) => setEdit({ ...edit, text: (e.target as HTMLInputElement).value }) }),
                h('button', { type: 'submit', class: 'small', 'data-testid': 'edit-save' }, 'Save'),
                h('button', { type: 'button', class: 'small ghost', onClick: () => setEdit(undefined) }, 'Cancel'))
              : target !== undefined
                ? h(LinkButton, { class: 'rel', onClick: () => p.onFollow(target), testid: 'relation' }, '→ ', target)
                : h('span', { class: v === null ? 'muted' : '' }, v === null ? 'null (deleted)' : show(v))),
          seaSoul ? h('td', { class: 'nowrap', 'data-testid': `sea-${f}` }, h(SeaBadge, { info: sea?.[f] })) : null,
          h('td', { class: 'muted hide-narrow small nowrap', title: node!.states[f] ? `state ${node!.states[f]} (${fmtTime(node!.states[f]!)})` : '' }, node!.states[f] ? fmtTime(node!.states[f]!).slice(11) : ''),
          h('td', { class: 'actions' }, confirm === f || edit?.field === f ? null : [
            h('button', { type: 'button', key: 'e', class: 'small ghost', 'data-testid': `edit-${f}`, onClick: () => setEdit({ field: f, text: target ?? (typeof v === 'string' ? v : JSON.stringify(v)), link: target !== undefined }) }, 'edit'),
            v === null ? null : h('button', { type: 'button', key: 'd', class: 'small ghost danger', 'data-testid': `delete-${f}`, onClick: () => setConfirm(f) }, 'delete'),
          ]));
      }))),
    h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); const f = adding.field.trim(); if (f) void put(f, parseTyped(adding.text)).then((ok) => ok && setAdding({ field: '', text: '' })); } },
      h('input', { placeholder: 'field', class: 'short', 'data-testid': 'new-field', 'aria-label': 'new field', value: adding.field, onInput: (e: Event) => setAdding({ ...adding, field: (e.target as HTMLInputElement).value }) }),
      h('input', { placeholder: 'value: JSON or text; {"#":"soul"} is a relation', 'data-testid': 'new-value', 'aria-label': 'new value', value: adding.text, onInput: (e: Event) => setAdding({ ...adding, text: (e.target as HTMLInputElement).value }) }),
      h('button', { type: 'submit', 'data-testid': 'put-field' }, 'Put')));
}

export function GraphView(p: { link: GunLink; active: boolean }) {
  const link = p.link;
  const [status, setStatus] = useState(link.status);
  const [expanded, setExpanded] = useState<string[]>([]);
  const [selected, setSelected] = useState<string>();
  const [version, setVersion] = useState(0);
  const [pulse, setPulse] = useState<{ soul: string; n: number }>();
  const [openInput, setOpenInput] = useState('');
  const [error, setError] = useState<string>();
  const [refresh, setRefresh] = useState(0);
  useEffect(() => link.onStatus(setStatus), [link]);
  useEffect(() => link.onChange((s) => {
    setVersion((v) => v + 1);
    setPulse((x) => ({ soul: s, n: (x?.n ?? 0) + 1 }));
  }), [link]);

  const pick = async (soul: string) => {
    if (!soul) return;
    setError(undefined);
    setSelected(soul);
    setExpanded((xs) => (xs.includes(soul) ? xs : [...xs, soul]));
    try { await link.open(soul); setVersion((v) => v + 1); } catch (e) { setError((e as Error).message); }
  };

  const { nodes, edges } = useMemo(() => {
    const nodes = new Map<string, CanvasNode>();
    const edges: CanvasEdge[] = [];
    for (const s of expanded) nodes.set(s, { id: s, expanded: true });
    for (const s of expanded) {
      const n = link.nodes.get(s);
      if (!n) continue;
      for (const [f, v] of Object.entries(n.values)) {
        const t = linkOf(v);
        if (t === undefined) continue;
        if (!nodes.has(t)) nodes.set(t, { id: t, expanded: false });
        edges.push({ id: `${s}\u0000${f}`, source: s, target: t, label: f });
      }
    }
    return { nodes: [...nodes.values()], edges };
  }, [expanded, version, link]);

  return h('div', { class: 'graph-layout' },
    h(SoulBrowser, { link, status, selected, onPick: (s) => void pick(s), refresh, active: p.active }),
    h(Panel, {
      title: 'Graph', id: 'graph', class: 'canvas-panel',
      actions: [h(Status, { key: 's', path: '/gun', status }),
        h('button', { key: 'c', type: 'button', class: 'small ghost', onClick: () => { setExpanded(selected ? [selected] : []); setRefresh((r) => r + 1); } }, 'Reset')],
    },
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void pick(openInput.trim()); } },
        h('input', { 'aria-label': 'soul', 'data-testid': 'soul-input', value: openInput, onInput: (e: Event) => setOpenInput((e.target as HTMLInputElement).value), placeholder: 'open a soul by name (new ones too)' }),
        h('button', { type: 'submit', 'data-testid': 'soul-open' }, 'Open')),
      h(ErrorLine, { error }),
      h(GraphCanvas, { nodes, edges, selected, pulse, onSelect: (s) => void pick(s) }),
      h('p', { class: 'muted small' }, 'Click a node to expand its relations; filled nodes are expanded. Changes made by anyone show up live.')),
    selected ? h(FieldTable, { link, soul: selected, version, onFollow: (s) => void pick(s) }) : h(Panel, { title: 'Fields', class: 'fields-panel' }, h('p', { class: 'muted' }, 'Select a soul to see and edit its fields.')));
}
