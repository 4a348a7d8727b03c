import { PlexusError } from '../errors.js';
import { textProblem } from '../text.js';
import { GRAPH_MAX_FIELDS_PER_PUT, GRAPH_MAX_FRAME_BYTES, GRAPH_MAX_FUTURE_MS, GRAPH_MAX_ID_LENGTH, GRAPH_MAX_MESSAGES_PER_FRAME } from '../limits.js';
import { fieldProblem, soulProblem, valueProblem, type FieldWrite, type Value } from './value.js';

/** A lexical selection of fields (gun LEX: `*` prefix, `>` from, `<` to, `=` exact, `-` reverse). */
export interface FieldLex { prefix?: string; from?: string; to?: string; eq?: string; reverse?: boolean }

/** A parsed `get`: a whole node, one field, or a lexical range of fields; `souls` = a lexical soul query. */
export interface GetRequest { soul: string; field?: string; lex?: FieldLex; souls?: FieldLex; budget?: number }

/** One validated message of the gun wire protocol. */
export interface WireMessage {
  /** `#`: message id (invented when missing). */
  id: string;
  /** `@`: the id this message answers. */
  ack?: string;
  get?: GetRequest;
  /** The fields of `put`, validated (soul/field/value/state all checked). */
  put?: FieldWrite[];
  dam?: string;
  pid?: string;
  ok?: unknown;
  err?: string;
  /** `><`: peers the sender says already have this message. */
  via?: string[];
  /** `%` on a reply: more chunks follow. */
  more?: boolean;
}

/** The result of parsing one element of a frame: a message, or an error to answer (with the id if known). */
export type ParsedItem = { msg: WireMessage; error?: undefined; id?: undefined } | { msg?: undefined; error: PlexusError; id?: string };

export interface ParsedFrame {
  items: ParsedItem[];
  /** The frame was not JSON-looking (first char not `[`/`{`) and is ignored, as gun does. */
  ignored: boolean;
  /** Messages beyond GRAPH_MAX_MESSAGES_PER_FRAME that were dropped. */
  dropped: number;
}

export interface ParseOptions {
  /** The receiver's clock now (ms); states beyond now + maxFutureMs are INVALID_STATE. */
  now?: number;
  maxFutureMs?: number;
  maxFrameBytes?: number;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const P4 = 62 ** 4, P5 = 62 ** 5;

/** A random message id like gun's (9 alphanumerics; Math.random is enough: ids only need to be unlikely to collide). */
export function messageId(len = 9): string {
  if (len === 9) {
    // one string built at once rather than nine growing ones (two ids per read on a relay), its nine
    // base-62 digits taken from two random numbers (uniform below 62^5 and 62^4: each digit is uniform)
    let a = Math.floor(Math.random() * P5), b = Math.floor(Math.random() * P4);
    const a0 = a % 62; a = (a - a0) / 62; const a1 = a % 62; a = (a - a1) / 62; const a2 = a % 62; a = (a - a2) / 62; const a3 = a % 62; const a4 = (a - a3) / 62;
    const b0 = b % 62; b = (b - b0) / 62; const b1 = b % 62; b = (b - b1) / 62; const b2 = b % 62; const b3 = (b - b2) / 62;
    return String.fromCharCode(CODES[a0]!, CODES[a1]!, CODES[a2]!, CODES[a3]!, CODES[a4]!, CODES[b0]!, CODES[b1]!, CODES[b2]!, CODES[b3]!);
  }
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(Math.random() * 62)]!;
  return s;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(msg: string, code: 'BAD_REQUEST' | 'INVALID_STATE' | 'TOO_LARGE' = 'BAD_REQUEST'): never {
  throw new PlexusError(code, msg);
}

function parseId(v: unknown, what: string): string {
  if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
  if (typeof v !== 'string' || v.length === 0 || v.length > GRAPH_MAX_ID_LENGTH) bad(`${what} must be a string of 1..${GRAPH_MAX_ID_LENGTH} chars`);
  return v as string;
}

function parseLex(v: Record<string, unknown>): FieldLex {
  const lex: FieldLex = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '-') { lex.reverse = Boolean(x); continue; }
    if (typeof x !== 'string' || x.length > 1024) bad(`lex key ${JSON.stringify(k)} must be a string`);
    if (k === '*') lex.prefix = x as string;
    else if (k === '>') lex.from = x as string;
    else if (k === '<') lex.to = x as string;
    else if (k === '=') lex.eq = x as string;
    else bad(`unknown lex key ${JSON.stringify(k)}`);
  }
  return lex;
}

function parseGet(v: unknown): GetRequest {
  if (!isObj(v)) bad('get must be an object');
  const soul = v['#'];
  const req: GetRequest = { soul: '' };
  if (isObj(soul)) {
    const lex = parseLex(soul);
    if (lex.eq !== undefined && lex.prefix === undefined && lex.from === undefined && lex.to === undefined) req.soul = lex.eq;
    else req.souls = lex;
  } else {
    const p = soulProblem(soul);
    if (p) bad(`get: ${p}`);
    req.soul = soul as string;
  }
  const f = v['.'];
  if (f !== undefined) {
    if (isObj(f)) {
      const lex = parseLex(f);
      if (lex.eq !== undefined && lex.prefix === undefined && lex.from === undefined && lex.to === undefined) req.field = lex.eq;
      else req.lex = lex;
    } else {
      const p = fieldProblem(f);
      if (p) bad(`get: ${p}`);
      req.field = f as string;
    }
  }
  // `-` beside `.` (as gun's client sends it) reverses the lexical order too
  if (v['-'] !== undefined && Boolean(v['-'])) { if (req.lex) req.lex.reverse = true; if (req.souls) req.souls.reverse = true; }
  const budget = v['%'];
  if (budget !== undefined) {
    if (typeof budget !== 'number' || !(budget >= 0)) bad('get: % must be a non-negative number');
    req.budget = budget as number;
  }
  return req;
}

/** Why `s` is not an acceptable state for a receiver at `now`, or undefined. */
export function stateProblem(s: unknown, now: number, maxFutureMs = GRAPH_MAX_FUTURE_MS): string | undefined {
  if (typeof s !== 'number' || !Number.isFinite(s)) return 'state must be a finite number';
  if (s < 0) return 'state must not be negative';
  if (s > now + maxFutureMs) return `state is more than ${maxFutureMs} ms in the future`;
  return undefined;
}

/**
 * Validate a wire graph (soul → node) as a whole (unlike gun, nothing is applied when any part is
 * invalid, Q7). Returns the field writes in message order.
 */
export function parsePut(v: unknown, now: number, maxFutureMs = GRAPH_MAX_FUTURE_MS): FieldWrite[] {
  if (!isObj(v)) bad('put must be an object of souls to nodes');
  const out: FieldWrite[] = [];
  for (const soul of Object.keys(v)) {
    const sp = soulProblem(soul);
    if (sp) bad(`put: ${sp}`);
    const node = v[soul];
    if (!isObj(node)) bad(`put: node ${JSON.stringify(soul.slice(0, 64))} is not an object`);
    const meta = node._;
    if (!isObj(meta)) bad(`put: node ${JSON.stringify(soul.slice(0, 64))} has no _ metadata`);
    if (meta['#'] !== soul) bad(`put: node ${JSON.stringify(soul.slice(0, 64))} has _.# ${JSON.stringify(String(meta['#']).slice(0, 64))}`);
    const states = meta['>'];
    if (!isObj(states)) bad(`put: node ${JSON.stringify(soul.slice(0, 64))} has no _.> states`);
    for (const field of Object.keys(node)) {
      if (field === '_') continue;
      const fp = fieldProblem(field);
      if (fp) bad(`put: ${soul.slice(0, 64)}: ${fp}`);
      const value = node[field];
      const vp = valueProblem(value);
      if (vp) bad(`put: ${soul.slice(0, 64)}.${field.slice(0, 64)}: ${vp}`);
      const state = Object.hasOwn(states, field) ? states[field] : undefined;
      const stp = stateProblem(state, now, maxFutureMs);
      if (stp) bad(`put: ${soul.slice(0, 64)}.${field.slice(0, 64)}: ${stp}`, 'INVALID_STATE');
      if (out.length >= GRAPH_MAX_FIELDS_PER_PUT) bad(`put: more than ${GRAPH_MAX_FIELDS_PER_PUT} fields`, 'TOO_LARGE');
      out.push({ soul, field, value: value as Value, state: state as number });
    }
  }
  return out;
}

/** Validate one message object of a frame. */
export function parseMessage(v: unknown, now: number, maxFutureMs = GRAPH_MAX_FUTURE_MS): WireMessage {
  if (!isObj(v)) bad('message must be an object');
  const tp = textProblem(v);
  if (tp) bad(`message: ${tp}`);
  const msg: WireMessage = { id: v['#'] === undefined ? messageId() : parseId(v['#'], '#') };
  if (v['@'] !== undefined) msg.ack = parseId(v['@'], '@');
  if (v.dam !== undefined) {
    if (typeof v.dam !== 'string' || v.dam.length > 32) bad('dam must be a short string');
    msg.dam = v.dam;
    if (v.pid !== undefined) msg.pid = parseId(v.pid, 'pid');
    if (typeof v.err === 'string') msg.err = v.err.slice(0, 1024);
    return msg;
  }
  if (v.get !== undefined) msg.get = parseGet(v.get);
  if (v.put !== undefined) {
    if (isObj(v.put) && '#' in v.put && '.' in v.put) bad('put: the internal single-field form is not accepted');
    msg.put = parsePut(v.put, now, maxFutureMs);
  }
  if (v.get !== undefined && v.put !== undefined) bad('a message carries get or put, not both');
  if (v.ok !== undefined) msg.ok = v.ok;
  if (v.err !== undefined) msg.err = typeof v.err === 'string' ? v.err.slice(0, 1024) : JSON.stringify(v.err).slice(0, 1024);
  if (typeof v['><'] === 'string') msg.via = v['><'].split(',').slice(0, 64);
  if (v['%'] !== undefined && msg.ack !== undefined) msg.more = true;
  return msg;
}

/**
 * Parse one WebSocket text frame: one message object or an array of them. Never throws: bad parts
 * become error items (answered with `err` by a relay), a frame not starting with `[`/`{` is ignored.
 */
export function parseFrame(text: string, opts: ParseOptions = {}): ParsedFrame {
  const now = opts.now ?? Date.now();
  const maxFuture = opts.maxFutureMs ?? GRAPH_MAX_FUTURE_MS;
  const maxBytes = opts.maxFrameBytes ?? GRAPH_MAX_FRAME_BYTES;
  const first = text.trimStart()[0];
  if (first !== '[' && first !== '{') return { items: [], ignored: true, dropped: 0 };
  if (text.length > maxBytes) return { items: [{ error: new PlexusError('TOO_LARGE', `frame longer than ${maxBytes}`) }], ignored: false, dropped: 0 };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { items: [{ error: new PlexusError('BAD_REQUEST', 'DAM JSON parse error.') }], ignored: false, dropped: 0 };
  }
  const list = Array.isArray(raw) ? raw : [raw];
  const dropped = Math.max(0, list.length - GRAPH_MAX_MESSAGES_PER_FRAME);
  const items: ParsedItem[] = [];
  for (let i = 0; i < list.length - dropped; i++) {
    const m = list[i];
    try {
      items.push({ msg: parseMessage(m, now, maxFuture) });
    } catch (err) {
      const e = err instanceof PlexusError ? err : new PlexusError('BAD_REQUEST', String(err));
      const rawId = isObj(m) ? m['#'] : undefined;
      items.push(typeof rawId === 'string' && rawId.length > 0 && rawId.length <= GRAPH_MAX_ID_LENGTH ? { error: e, id: rawId } : { error: e });
    }
  }
  return { items, ignored: false, dropped };
}
