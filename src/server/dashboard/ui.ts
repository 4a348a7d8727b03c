/** Small shared pieces of the dashboard's views (browser code: no node:* imports). */
import { h, type ComponentChildren } from 'preact';

/** Show a value of any JSON type compactly. */
export function show(v: unknown): string {
  if (typeof v === 'string') return v;
  try { return JSON.stringify(v); } catch { return String(v); }
}

export function Panel(p: { title: ComponentChildren; children?: ComponentChildren; id?: string; class?: string; actions?: ComponentChildren }) {
  return h('section', { class: `panel ${p.class ?? ''}`, 'data-testid': p.id },
    h('div', { class: 'panel-head' }, h('h2', null, p.title), p.actions ? h('div', { class: 'panel-actions' }, p.actions) : null), p.children);
}

export function ErrorLine(p: { error: string | undefined }) {
  return p.error ? h('p', { class: 'error', role: 'alert' }, p.error) : null;
}

/** A connection status dot and text; `token` says what to do. */
export function Status(p: { path: string; status: string }) {
  const text = p.status === 'open' ? 'connected' : p.status === 'token' ? 'reads need a token: enter one above' : p.status;
  return h('span', { class: `status status-${p.status}`, 'data-testid': `status-${p.path.slice(1)}` }, h('i', null), `${p.path}: ${text}`);
}

export function Spinner() {
  return h('span', { class: 'spinner', 'aria-label': 'waiting' });
}

/** A link-styled button (no navigation, no default link colours). */
export function LinkButton(p: { onClick: () => void; children?: ComponentChildren; class?: string; title?: string; testid?: string }) {
  return h('button', { type: 'button', class: `linklike ${p.class ?? ''}`, title: p.title, 'data-testid': p.testid, onClick: (e: Event) => { e.preventDefault(); p.onClick(); } }, p.children);
}

export function fmtTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}
