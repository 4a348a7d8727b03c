/**
 * The blobs view: upload by drag and drop (or the file picker), the stored blobs with a preview of text,
 * JSON and images, anchors with their history drawn as a timeline. Browser code: no node:* imports.
 */
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, fmtBytes, getToken } from './api.js';
import { ErrorLine, LinkButton, Panel, Spinner, fmtTime } from './ui.js';

interface AnchorEntry { at: number; time: string; ref: string }

/** Blobs larger than this are not fetched for a preview. */
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;

type Preview = { ref: string; size: number; kind: 'image'; url: string; mime: string }
  | { ref: string; size: number; kind: 'json' | 'text' | 'binary' | 'large'; text: string }
  | { ref: string; size: number; kind: 'proto'; type: string; text: string };

/** What GET /blob/:ref/proto answers: the blob's recorded protobuf types and, if it has one, its decoded value. */
interface TypedBlob { types: string[]; type?: string; value?: unknown }

function imageType(b: Uint8Array, text: string | undefined): string | undefined {
  const at = (i: number, ...xs: number[]) => xs.every((x, j) => b[i + j] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  if (text !== undefined && /^\s*(<\?xml[^>]*>\s*)?<svg[\s>]/.test(text.slice(0, 512))) return 'image/svg+xml';
  return undefined;
}

function hexDump(b: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < Math.min(b.length, 512); i += 16) {
    const row = [...b.subarray(i, i + 16)];
    lines.push(`${i.toString(16).padStart(6, '0')}  ${row.map((x) => x.toString(16).padStart(2, '0')).join(' ').padEnd(48)}  ${row.map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('')}`);
  }
  return lines.join('\n') + (b.length > 512 ? `\n… ${b.length - 512} more bytes` : '');
}

async function loadPreview(ref: string): Promise<Preview> {
  const t = getToken();
  const headers: Record<string, string> = t ? { authorization: `Bearer ${t}` } : {};
  const head = await fetch(`/blob/${ref}`, { method: 'HEAD', headers });
  if (!head.ok) throw new Error(`blob ${ref.slice(0, 12)}…: HTTP ${head.status}`);
  const size = Number(head.headers.get('content-length') ?? NaN);
  if (size > PREVIEW_MAX_BYTES) return { ref, size, kind: 'large', text: `${fmtBytes(size)}: too large to preview here; download it instead.` };
  const res = await fetch(`/blob/${ref}`, { headers });
  const b = new Uint8Array(await res.arrayBuffer());
  // a typed blob (bs PutProto) is shown decoded by its stored type descriptor
  const typed = await api<TypedBlob>('GET', `/blob/${ref}/proto`).catch(() => undefined);
  if (typed?.type !== undefined) return { ref, size: b.length, kind: 'proto', type: typed.type, text: JSON.stringify(typed.value, null, 2).slice(0, 50_000) };
  let text: string | undefined;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(b); if (text.includes('\0')) text = undefined; } catch { text = undefined; }
  const mime = imageType(b, text);
  if (mime) return { ref, size: b.length, kind: 'image', mime, url: URL.createObjectURL(new Blob([b], { type: mime })) };
  if (text === undefined) return { ref, size: b.length, kind: 'binary', text: hexDump(b) };
  try { return { ref, size: b.length, kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2).slice(0, 50_000) }; } catch { /* not JSON */ }
  return { ref, size: b.length, kind: 'text', text: text.slice(0, 50_000) };
}

/** An anchor's history as a drawn timeline: one dot per change, the current one highlighted. */
function Timeline(p: { history: AnchorEntry[]; onPick(ref: string): void }) {
  // drawn in CSS pixels of its box, so text keeps its size at any width
  const box = useRef<SVGSVGElement>(null);
  const [W, setW] = useState(640);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setW(Math.max(240, Math.round(el.clientWidth))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const H = 74, L = 60, R = 60, Y = 34;
  const t0 = p.history.length ? p.history[0]!.at : 0, t1 = p.history.length ? p.history[p.history.length - 1]!.at : 1;
  const x = (t: number) => (t1 === t0 ? W / 2 : L + ((t - t0) / (t1 - t0)) * (W - L - R));
  return h('svg', { ref: box, class: 'timeline', viewBox: `0 0 ${W} ${H}`, height: H, role: 'img', 'aria-label': 'anchor history timeline', 'data-testid': 'anchor-timeline' },
    h('line', { x1: L - 10, x2: W - R + 10, y1: Y, y2: Y, class: 'axis' }),
    p.history.map((e, i) => {
      const last = i === p.history.length - 1;
      return h('g', { key: `${e.at}-${i}`, class: `tick ${last ? 'current' : ''}`, onClick: () => p.onPick(e.ref), transform: `translate(${x(e.at)},${Y})` },
        h('title', null, `${e.time}\n${e.ref}`),
        h('line', { y1: -8, y2: 8, class: 'stem' }),
        h('circle', { r: last ? 7 : 5.5 }),
        i % 2 === 0 || last ? h('text', { y: -13, 'text-anchor': 'middle' }, e.ref.slice(0, 8)) : h('text', { y: 24, 'text-anchor': 'middle' }, e.ref.slice(0, 8)));
    }),
    p.history.length ? [
      h('text', { key: 'a', x: L - 10, y: H - 2, class: 'date' }, fmtTime(t0)),
      t1 !== t0 ? h('text', { key: 'b', x: W - R + 10, y: H - 2, class: 'date', 'text-anchor': 'end' }, fmtTime(t1)) : null,
    ] : null);
}

export function BlobsView(p: { active: boolean }) {
  const [refs, setRefs] = useState<string[]>([]);
  const [names, setNames] = useState<string[]>([]);
  const [error, setError] = useState<string>();
  const [uploads, setUploads] = useState<{ name: string; ref: string; size: number; added: boolean }[]>([]);
  const [hover, setHover] = useState(false);
  const [anchor, setAnchor] = useState<string>();
  const [history, setHistory] = useState<AnchorEntry[]>([]);
  const [form, setForm] = useState({ name: '', ref: '' });
  const [preview, setPreview] = useState<Preview | { ref: string; loading: true } | undefined>();
  const fileInput = useRef<HTMLInputElement>(null);
  const reload = async () => {
    try {
      setRefs((await api<{ refs: string[] }>('GET', '/blob?limit=200')).refs);
      setNames((await api<{ names: string[] }>('GET', '/anchor?limit=200')).names);
    } catch (e) { setError((e as Error).message); }
  };
  // list again whenever the view is shown (others may have uploaded meanwhile)
  useEffect(() => { if (p.active) void reload(); }, [p.active]);
  const show = async (ref: string) => {
    if (preview && 'url' in preview) URL.revokeObjectURL(preview.url);
    setPreview({ ref, loading: true });
    try { setPreview(await loadPreview(ref)); } catch (e) { setPreview(undefined); setError((e as Error).message); }
  };
  const upload = async (files: FileList | File[]) => {
    setError(undefined);
    for (const f of Array.from(files)) {
      try {
        const r = await api<{ ref: string; added: boolean }>('POST', '/blob', f);
        setUploads((u) => [{ name: f.name, ref: r.ref, size: f.size, added: r.added }, ...u].slice(0, 20));
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
  return h('div', null,
    h(Panel, { title: 'Upload', id: 'blobs' },
      h('div', {
        class: `drop ${hover ? 'hover' : ''}`, 'data-testid': 'drop-zone', role: 'button', tabIndex: 0,
        onDragOver: (e: DragEvent) => { e.preventDefault(); setHover(true); },
        onDragLeave: () => setHover(false),
        onDrop: (e: DragEvent) => { e.preventDefault(); setHover(false); if (e.dataTransfer?.files.length) void upload(e.dataTransfer.files); },
        onClick: () => fileInput.current?.click(),
        onKeyDown: (e: KeyboardEvent) => { if (e.key === 'Enter' || e.key === ' ') fileInput.current?.click(); },
      }, h('strong', null, 'Drop files here'), h('span', { class: 'muted' }, ' or click to choose')),
      h('input', { type: 'file', multiple: true, ref: fileInput, style: 'display:none', 'data-testid': 'file-input', onChange: (e: Event) => { const fl = (e.target as HTMLInputElement).files; if (fl) void upload(fl); } }),
      h(ErrorLine, { error }),
      uploads.length ? h('ul', { class: 'uploads', 'data-testid': 'uploads' }, uploads.map((u) => h('li', { key: u.ref + u.name },
        `${u.name} (${fmtBytes(u.size)}) → `, h('a', { href: `/blob/${u.ref}`, download: u.name, 'data-testid': 'uploaded-ref' }, h('code', null, u.ref)), u.added ? '' : h('span', { class: 'muted' }, ' (already stored)')))) : null),
    h('div', { class: 'split' },
      h(Panel, { title: `Blobs (${refs.length}${refs.length === 200 ? '+' : ''})`, id: 'blob-list' },
        h('ul', { class: 'refs' }, refs.map((r) => h('li', { key: r, class: preview?.ref === r ? 'sel' : '' },
          h(LinkButton, { onClick: () => void show(r), testid: 'blob-item', title: 'preview' }, h('code', null, r)),
          h('a', { href: `/blob/${r}`, download: r, class: 'dl', title: 'download', 'aria-label': `download ${r}` }, '↓'))))),
      h(Panel, { title: 'Preview', id: 'blob-preview' },
        !preview ? h('p', { class: 'muted' }, 'Click a blob (or a dot on an anchor\'s timeline) to preview it.')
          : 'loading' in preview ? h('p', null, h(Spinner, null), ' loading…')
            : h('div', null,
              h('p', { class: 'muted small' }, h('code', null, preview.ref.slice(0, 24) + '…'), ` · ${preview.kind === 'proto' ? `protobuf ${preview.type}` : preview.kind} · ${fmtBytes(preview.size)}`),
              preview.kind === 'image' ? h('img', { src: preview.url, alt: `blob ${preview.ref}`, class: 'preview-img', 'data-testid': 'preview-image' })
                : h('pre', { class: `preview ${preview.kind}`, 'data-testid': `preview-${preview.kind}` }, preview.text)))),
    h(Panel, { title: 'Anchors', id: 'anchors' },
      h('div', { class: 'row' }, names.length ? names.map((n) => h(LinkButton, { key: n, class: `pill ${anchor === n ? 'sel' : ''}`, onClick: () => void showAnchor(n), testid: 'anchor-item' }, n)) : h('span', { class: 'muted' }, 'No anchors yet.')),
      h('form', { class: 'row', onSubmit: (e: Event) => { e.preventDefault(); void setAnchorRef(); } },
        h('input', { placeholder: 'anchor name', class: 'short', 'data-testid': 'anchor-name', 'aria-label': 'anchor name', value: form.name, onInput: (e: Event) => setForm({ ...form, name: (e.target as HTMLInputElement).value }) }),
        h('input', { placeholder: 'ref', 'data-testid': 'anchor-ref', 'aria-label': 'ref', value: form.ref, onInput: (e: Event) => setForm({ ...form, ref: (e.target as HTMLInputElement).value }) }),
        h('button', { type: 'submit', 'data-testid': 'anchor-set' }, 'Set anchor')),
      anchor ? h('div', null,
        h('h3', null, 'History of ', h('code', null, anchor), h('span', { class: 'muted' }, ` (${history.length} change${history.length === 1 ? '' : 's'})`)),
        h(Timeline, { history, onPick: (r) => void show(r) }),
        h('ol', { class: 'history' }, [...history].reverse().map((e, i) => h('li', { key: `${e.at}-${i}` }, h('span', { class: 'muted small' }, `${e.time} `),
          h(LinkButton, { onClick: () => void show(e.ref) }, h('code', null, e.ref.slice(0, 16) + '…')))))) : null),
  );
}
