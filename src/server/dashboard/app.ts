/**
 * The plexus dashboard: health, graph, ledger, blobs & anchors, bus. A Preact app built by
 * scripts/build-web.mjs into dist/dashboard/; it talks only to the server's public HTTP/WS endpoints.
 * Views stay mounted once opened (hidden when not shown), so their state survives switching views.
 */
import { h, render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { getToken, readAccess, setToken } from './api.js';
import { BlobsView } from './blobs-view.js';
import { BusView } from './bus-view.js';
import { EvtLink } from './evt.js';
import { GraphView } from './graph-view.js';
import { GunLink } from './gun.js';
import { HealthView } from './health-view.js';
import { LedgerView } from './ledger-view.js';

const VIEWS = [
  ['health', 'Health'],
  ['graph', 'Graph'],
  ['ledger', 'Ledger'],
  ['blobs', 'Blobs & anchors'],
  ['bus', 'Bus'],
] as const;
type View = (typeof VIEWS)[number][0];

function viewOf(hash: string): View {
  const v = hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return (VIEWS.find(([id]) => id === v)?.[0] ?? 'health') as View;
}

function App() {
  const [view, setView] = useState<View>(viewOf(location.hash));
  // health is always mounted, so its charts cover the time since the page opened
  const [seen, setSeen] = useState<Set<View>>(() => new Set(['health', viewOf(location.hash)]));
  const [token, setTok] = useState(getToken());
  const [canRead, setCanRead] = useState(true);
  // one connection per wire for the whole page, shared by the views
  const gun = useMemo(() => new GunLink('/gun'), []);
  const evt = useMemo(() => new EvtLink('/evt'), []);
  useEffect(() => () => { gun.close(); evt.close(); }, []);
  useEffect(() => { void readAccess().then(setCanRead); }, []);
  useEffect(() => {
    const on = () => { const v = viewOf(location.hash); setView(v); setSeen((s) => (s.has(v) ? s : new Set([...s, v]))); };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const body = (v: View) => v === 'health' ? h(HealthView, { gun, evt }) : v === 'graph' ? h(GraphView, { link: gun, active: view === 'graph' }) : v === 'ledger' ? h(LedgerView, { link: evt }) : v === 'blobs' ? h(BlobsView, { active: view === 'blobs' }) : h(BusView, null);
  return h('div', { class: 'app' },
    h('header', null,
      h('a', { class: 'logo', href: '#/health', 'aria-label': 'plexus home' }, h('img', { src: '/dashboard/favicon.svg', alt: '', width: 22, height: 22 }), h('span', null, 'plexus')),
      h('nav', null, VIEWS.map(([id, label]) => h('a', { key: id, href: `#/${id}`, class: id === view ? 'active' : '', 'data-testid': `nav-${id}`, 'aria-current': id === view ? 'page' : undefined }, label))),
      h('form', { class: 'token', onSubmit: (e: Event) => { e.preventDefault(); setToken(token.trim()); location.reload(); } },
        h('input', { type: 'password', autocomplete: 'current-password', placeholder: canRead ? 'token (for writes)' : 'token needed', value: token, 'aria-label': 'token', 'data-testid': 'token-input', class: canRead ? '' : 'needed', onInput: (e: Event) => setTok((e.target as HTMLInputElement).value) }),
        h('button', { type: 'submit', class: 'small' }, 'Use'))),
    canRead ? null : h('div', { class: 'banner', role: 'alert', 'data-testid': 'token-needed' },
      getToken() ? 'The token entered does not allow reads on this server: enter a token with read scope above.' : 'This server requires a token for reads (--auth-reads): enter a token with read scope above to see its data.'),
    VIEWS.filter(([id]) => seen.has(id)).map(([id]) => h('main', { key: id, 'data-view': id, hidden: id !== view }, body(id))));
}

render(h(App, null), document.getElementById('app')!);
