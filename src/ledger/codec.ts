import { PlexusError } from '../errors.js';
import { checkText } from '../text.js';
import {
  MAX_NESTING_DEPTH, LEDGER_MAX_ACTIONS_PER_TRANS, LEDGER_MAX_ID_LENGTH, LEDGER_MAX_KEY_LENGTH, LEDGER_MAX_SAT_TRANS,
  LEDGER_MAX_TOPIC_LENGTH, LEDGER_MAX_TOPICS_PER_CONN, LEDGER_MAX_TRANS_BYTES,
} from '../limits.js';
import type { Action, Arg, Audit, Event, Note, Status, Trans, TransInput, Update, Watch } from './event.js';
import { formatTime, parseTimeField, floorMs, ZERO_TIME, type Rev } from './time.js';

/** JSON.stringify with Go's escapes (<, >, & and U+2028/2029), so output is byte-identical to a Go hub. */
export function goJson(v: unknown): string {
  return goEscape(JSON.stringify(v));
}

/** Go's escapes applied to JSON text (they only ever occur inside strings, where the escape means the same). */
export function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** An event with its wire JSON already encoded (before Go's escapes), as a store can build it from stored JSON text. */
export type EncodedEvent = Event & { json?: string };

/**
 * Consecutive events as one text (a long catch-up's page, built by the store without one object per
 * event): their wire JSON joined by commas (eventText of each, before Go's escapes), how many, and the
 * id and revision of the last.
 */
export interface TextPage { json: string; count: number; lastId: number; lastRev: Rev }

/** The `evt.update` frame of a text page as pieces (Go's escapes applied): its revision is the last event's. */
export function textPageFrameParts(p: TextPage): string[] {
  return ['evt.update\n{"rev":"' + formatTime(p.lastRev) + '","evs":[', goEscape(p.json), ']}\n'];
}

/** The wire JSON of one event, eventJson's field order, written as text (before Go's escapes). */
export function eventText(e: EncodedEvent): string {
  if (e.json !== undefined) return e.json;
  return '{"id":' + e.id + ',"rev":"' + formatTime(e.rev) + '","top":' + JSON.stringify(e.top) + ',"key":' + JSON.stringify(e.key)
    + ',"cmd":' + JSON.stringify(e.cmd) + (e.arg === undefined ? '' : ',"arg":' + JSON.stringify(e.arg)) + '}';
}

/**
 * An update without notes as the pieces of one pushed `evt.update` frame (Go's escapes applied): the
 * header and the update's start, one piece per event (with its comma), the end. Joined they are
 * formatFrame('evt.update', '', updateText(u), true); written piece by piece into one buffer, a long
 * catch-up page never exists as one big string (which V8 would put in its large-object space, freed only
 * by a full collection).
 */
export function updateFrameParts(u: Update & { evs?: EncodedEvent[] }): string[] {
  if (u.note && u.note.length) return ['evt.update\n' + updateText(u) + '\n'];
  const out = ['evt.update\n{"rev":"' + formatTime(u.rev) + '"' + (u.evs && u.evs.length ? ',"evs":[' : '')];
  const evs = u.evs ?? [];
  for (let i = 0; i < evs.length; i++) out.push(goEscape((i ? ',' : '') + eventText(evs[i]!)));
  out.push((evs.length ? ']' : '') + '}\n');
  return out;
}

/**
 * goJson(updateJson(u)), written as text so events that carry their encoded JSON are not parsed and
 * encoded again (catch-up pages); byte-identical to goJson(updateJson(u)).
 */
export function updateText(u: Update & { evs?: EncodedEvent[] }): string {
  if (u.note && u.note.length) return goJson(updateJson(u));
  // Go's escapes piece by piece (a formatted time has nothing to escape): no copy of the whole text
  let out = '{"rev":"' + formatTime(u.rev) + '"';
  if (u.evs && u.evs.length) {
    out += ',"evs":[';
    for (let i = 0; i < u.evs.length; i++) out += (i ? ',' : '') + eventTextEscaped(u.evs[i]!);
    out += ']';
  }
  return out + '}';
}

const GO_ESCAPED = /[<>&\u2028\u2029]/;

/** goEscape of a piece of JSON text, which mostly has nothing to escape (then it is returned as is). */
function goEscapePiece(json: string): string {
  return GO_ESCAPED.test(json) ? goEscape(json) : json;
}

/** eventText with Go's escapes applied. */
function eventTextEscaped(e: EncodedEvent): string {
  return goEscapePiece(eventText(e));
}

// ---- encoding to the wire shapes (field order as Go emits) ----------------------------------------

export function eventJson(e: Event): Record<string, unknown> {
  const o: Record<string, unknown> = { id: e.id, rev: formatTime(e.rev), top: e.top, key: e.key, cmd: e.cmd };
  if (e.arg !== undefined) o.arg = e.arg;
  return o;
}

export function actionJson(a: Action): Record<string, unknown> {
  const o: Record<string, unknown> = { top: a.top, key: a.key, cmd: a.cmd };
  if (a.arg !== undefined) o.arg = a.arg;
  return o;
}

export function auditJson(a: Audit): Record<string, unknown> {
  const o: Record<string, unknown> = { rev: formatTime(a.rev), created: formatTime(a.created), arrived: formatTime(a.arrived) };
  if (a.usr) o.usr = a.usr;
  if (a.extra !== undefined) o.extra = a.extra;
  return o;
}

export function transJson(t: Trans): Record<string, unknown> {
  const o: Record<string, unknown> = { id: t.id, base: formatTime(t.base), ...auditJson(t), acts: t.acts.map(actionJson) };
  if (t.tid !== undefined) o.tid = t.tid;
  return o;
}

export function updateJson(u: Update): Record<string, unknown> {
  const o: Record<string, unknown> = { rev: formatTime(u.rev) };
  if (u.evs && u.evs.length) o.evs = u.evs.map(eventJson);
  if (u.note && u.note.length) o.note = u.note;
  return o;
}

export function statusJson(s: Status): Record<string, unknown> {
  return { rev: formatTime(s.rev), mig: s.mig, on: formatTime(s.on), off: formatTime(s.off) };
}

// ---- decoding + validation of untrusted input --------------------------------------------------------

function bad(msg: string): never {
  throw new PlexusError('INVALID_TRANS', msg);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's JSON decoder matches field names case-insensitively; so do we (first exact, then folded). */
function field(o: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name];
  // only a key of the same length can fold to one of our (ASCII) names: toLowerCase only lengthens İ, to i + U+0307
  for (const k in o) if (k.length === name.length && Object.hasOwn(o, k) && k.toLowerCase() === name) return o[k];
  return undefined;
}

function str(o: Record<string, unknown>, name: string, max: number, what: string): string | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') bad(`${what}: ${name} must be a string`);
  if (v.length > max) throw new PlexusError('TOO_LARGE', `${what}: ${name} longer than ${max}`);
  return v;
}

/** A time field that must be a revision (floored to ms). */
export function revField(o: Record<string, unknown>, name: string): Rev {
  return floorMs(parseTimeField(field(o, name), name));
}

function argField(o: Record<string, unknown>, name: string, what: string): Arg | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) bad(`${what}: ${name} must be an object`);
  return v;
}

/** A topic name: non-empty, no control characters, at most LEDGER_MAX_TOPIC_LENGTH. */
export function checkTopic(t: unknown, what = 'topic'): string {
  if (typeof t !== 'string' || t.length === 0) bad(`${what}: want a non-empty string`);
  if (t.length > LEDGER_MAX_TOPIC_LENGTH) throw new PlexusError('TOO_LARGE', `${what}: longer than ${LEDGER_MAX_TOPIC_LENGTH}`);
  checkText(t, what);
  if (/[\u0000-\u001f\u007f]/.test(t)) bad(`${what}: control characters not allowed`);
  return t;
}

export function decodeAction(v: unknown, i = 0, textChecked = false): Action {
  const what = `acts[${i}]`;
  if (!isObj(v)) bad(`${what}: want an object`);
  if (!textChecked) checkText(v, what);
  const top = checkTopic(field(v, 'top'), `${what}.top`);
  const key = field(v, 'key');
  if (typeof key !== 'string') bad(`${what}.key: want a string`);
  if (key.length > LEDGER_MAX_KEY_LENGTH) throw new PlexusError('TOO_LARGE', `${what}.key: longer than ${LEDGER_MAX_KEY_LENGTH}`);
  const cmd = field(v, 'cmd');
  if (cmd !== 'new' && cmd !== 'mod' && cmd !== 'del') bad(`${what}: unexpected command ${typeof cmd === 'string' ? cmd.slice(0, 32) : JSON.stringify(cmd)}`);
  const a: Action = { top, key, cmd };
  const arg = argField(v, 'arg', what);
  if (arg !== undefined) a.arg = arg;
  return a;
}

/** Validate a list of actions (count and size limits). */
export function decodeActs(v: unknown, pre = false): Action[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad('acts: want an array');
  if (v.length > LEDGER_MAX_ACTIONS_PER_TRANS) throw new PlexusError('TOO_LARGE', `transaction has ${v.length} actions, more than ${LEDGER_MAX_ACTIONS_PER_TRANS}`);
  const acts = v.map((a, i) => decodeAction(a, i, pre));
  if (pre) return acts; // re-encoded, a body of at most QUICK_BODY_CHARS stays far below LEDGER_MAX_TRANS_BYTES
  const bytes = JSON.stringify(acts).length;
  if (bytes > LEDGER_MAX_TRANS_BYTES) throw new PlexusError('TOO_LARGE', `transaction actions are ${bytes} bytes, more than ${LEDGER_MAX_TRANS_BYTES}`);
  return acts;
}

/** Decode an untrusted Trans (an `evt.pub` body or an element of `evt.sat` trans). */
export function decodeTrans(v: unknown): TransInput & { rev?: Rev } {
  return transOf(v, false);
}

/** An `evt.pub` body: parsed and text-checked once (decodeBody), then decoded as a Trans. */
export function decodePubBody(body: string | undefined): TransInput & { rev?: Rev } {
  const v = parseBody(body);
  const quick = quickTextOk(body!);
  return transOf(quick ? v : checkText(v, 'body'), quick);
}

/** decodeTrans; `textChecked`: the body's text passed quickTextOk (no per-action text walk and size measure). */
function transOf(v: unknown, textChecked: boolean): TransInput & { rev?: Rev } {
  if (!isObj(v)) bad('transaction: want an object');
  const t: TransInput & { rev?: Rev } = { acts: decodeActs(field(v, 'acts'), textChecked) };
  const base = revField(v, 'base');
  if (base !== ZERO_TIME) t.base = base;
  const created = parseTimeField(field(v, 'created'), 'created');
  if (created !== ZERO_TIME) t.created = created;
  const rev = revField(v, 'rev');
  if (rev !== ZERO_TIME) t.rev = rev;
  const usr = str(v, 'usr', LEDGER_MAX_ID_LENGTH, 'transaction');
  if (usr) t.usr = usr;
  const extra = argField(v, 'extra', 'transaction');
  if (extra !== undefined) t.extra = extra;
  const tid = str(v, 'tid', LEDGER_MAX_ID_LENGTH, 'transaction');
  if (tid) t.tid = tid;
  return t;
}

export function decodeTops(v: unknown, name = 'tops'): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(`${name}: want an array of strings`);
  if (v.length > LEDGER_MAX_TOPICS_PER_CONN) throw new PlexusError('TOO_LARGE', `${name}: more than ${LEDGER_MAX_TOPICS_PER_CONN} topics`);
  return v.map((t, i) => checkTopic(t, `${name}[${i}]`));
}

export function decodeWatch(v: unknown): Watch[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad('watch: want an array');
  if (v.length > LEDGER_MAX_TOPICS_PER_CONN) throw new PlexusError('TOO_LARGE', `watch: more than ${LEDGER_MAX_TOPICS_PER_CONN} entries`);
  return v.map((w, i) => {
    if (!isObj(w)) bad(`watch[${i}]: want an object`);
    const top = checkTopic(field(w, 'top'), `watch[${i}].top`);
    const keys = field(w, 'keys');
    if (keys !== null && keys !== undefined && (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string'))) bad(`watch[${i}].keys: want an array of strings`);
    if (Array.isArray(keys) && keys.length > 10_000) throw new PlexusError('TOO_LARGE', `watch[${i}].keys: too many`);
    return { top, keys: Array.isArray(keys) && keys.length ? keys as string[] : null };
  });
}

/**
 * Bodies up to this many characters are checked on their text (quickTextOk) instead of walking the parsed
 * value; re-encoded, their actions stay far below LEDGER_MAX_TRANS_BYTES (a JSON number grows at most
 * ~6x when re-encoded: `9e20` becomes 21 digits), so decodeActs skips re-encoding them to measure.
 */
const QUICK_BODY_CHARS = 4096;

/**
 * True when a short JSON text certainly passes checkText once parsed: well-formed, no U+0000, no `\u`
 * escape (which could spell a lone surrogate or U+0000), and at most MAX_NESTING_DEPTH `[` / `{`
 * characters (an upper bound on the nesting, brackets inside strings included). False means
 * "walk the parsed value" (checkText decides), never "refuse".
 */
function quickTextOk(text: string): boolean {
  if (text.length > QUICK_BODY_CHARS || text.includes('\\u') || text.includes('\u0000') || !text.isWellFormed()) return false;
  let open = 0;
  for (let i = 0; i < text.length; i++) { const c = text.charCodeAt(i); if (c === 0x5b || c === 0x7b) open++; }
  return open <= MAX_NESTING_DEPTH;
}

/** Body of evt.sub / evt.sat / evt.mon etc.: must be a JSON object (missing body → Go's message). */
export function decodeBody(body: string | undefined): Record<string, unknown> {
  const v = parseBody(body);
  return quickTextOk(body!) ? v : checkText(v, 'body');
}

/** A body parsed as a JSON object, not yet text-checked. */
function parseBody(body: string | undefined): Record<string, unknown> {
  if (body === undefined || body.trim() === '') throw new PlexusError('BAD_REQUEST', 'unexpected end of JSON input');
  let v: unknown;
  try { v = JSON.parse(body); } catch (err) { throw new PlexusError('BAD_REQUEST', `invalid JSON: ${(err as Error).message}`); }
  if (!isObj(v)) throw new PlexusError('BAD_REQUEST', 'body: want a JSON object');
  return v;
}

export function decodeSub(o: Record<string, unknown>): { rev: Rev; tops: string[] } {
  return { rev: revField(o, 'rev'), tops: decodeTops(field(o, 'tops')) };
}

export function decodeSat(o: Record<string, unknown>): { rev: Rev; tops: string[]; trans: Array<TransInput & { rev?: Rev }> } {
  const tr = field(o, 'trans');
  if (tr !== undefined && tr !== null && !Array.isArray(tr)) bad('trans: want an array');
  const list = (tr ?? []) as unknown[];
  if (list.length > LEDGER_MAX_SAT_TRANS) throw new PlexusError('TOO_LARGE', `trans: more than ${LEDGER_MAX_SAT_TRANS}`);
  return { rev: revField(o, 'rev'), tops: decodeTops(field(o, 'tops')), trans: list.map(decodeTrans) };
}

export function decodeMonId(o: Record<string, unknown>): number {
  const m = field(o, 'mon');
  if (typeof m !== 'number' || !Number.isSafeInteger(m)) bad('mon: want an integer');
  return m;
}

export { field as jsonField, isObj };

// ---- decoding trusted-ish replies (client side) ---------------------------------------------------

export function decodeEvent(v: unknown): Event {
  if (!isObj(v)) bad('event: want an object');
  const a = decodeAction(v);
  const id = field(v, 'id');
  if (typeof id !== 'number') bad('event: id must be a number');
  return { id, rev: revField(v, 'rev'), ...a };
}

export function decodeUpdate(v: unknown): Update {
  if (!isObj(v)) bad('update: want an object');
  const u: Update = { rev: revField(v, 'rev') };
  const evs = field(v, 'evs');
  if (Array.isArray(evs) && evs.length) u.evs = evs.map(decodeEvent);
  const note = field(v, 'note');
  if (Array.isArray(note) && note.length) u.note = note as Note[];
  return u;
}

export function decodeStatus(v: unknown): Status {
  if (!isObj(v)) bad('status: want an object');
  const mig = field(v, 'mig');
  return { rev: revField(v, 'rev'), mig: typeof mig === 'string' ? mig : '', on: parseTimeField(field(v, 'on'), 'on'), off: parseTimeField(field(v, 'off'), 'off') };
}
