/**
 * rinq's messages on the wire (rinq.md): builders that produce the exact AMQP exchange, routing key,
 * properties and body of each message kind, and validators that turn an untrusted delivery back into a
 * typed message (or a BAD_REQUEST / TOO_LARGE error naming what is wrong).
 */
import { PlexusError } from '../errors.js';
import { BUS_MAX_NAME_LENGTH, BUS_MAX_PAYLOAD_BYTES } from '../limits.js';
import { isWellFormedText } from '../text.js';
import { parseMessageId, parseSessionId, type MessageId, type SessionId } from './ids.js';
import type { Delivery, Exchange, HeaderValue, WireMessage, WireProperties } from './transport/transport.js';

export const EXCHANGES: Readonly<Record<string, { kind: 'direct' | 'topic' }>> = {
  'cmd.bal': { kind: 'direct' }, 'cmd.uc': { kind: 'direct' }, 'cmd.mc': { kind: 'direct' },
  'cmd.rsp': { kind: 'topic' }, 'ntf.uc': { kind: 'direct' }, 'ntf.mc': { kind: 'direct' },
};
/** Priorities (queues are declared with `x-max-priority` = PRIORITY_COUNT). */
export const PRIORITY_EXECUTE = 0, PRIORITY_CALL_BALANCED = 1, PRIORITY_CALL_UNICAST = 2, PRIORITY_COUNT = 3;
/** ReplyTo values: none (execute), correlated (call), uncorrelated (callAsync). */
export type ReplyMode = '' | 'c' | 'u';
/** The namespace of the remote session protocol. */
export const SESSION_NAMESPACE = '_sess';

export function balancedQueue(ns: string): string { return `cmd.${ns}`; }

export type RequestMode = 'balanced' | 'unicast' | 'multicast';

export interface OutgoingRequest {
  mode: RequestMode;
  /** Full peer id of the target (unicast only). */
  target?: string;
  namespace: string;
  command: string;
  messageId: string;
  traceId?: string;
  replyMode: ReplyMode;
  /** Deadline, ms since the epoch (calls always have one). */
  deadline?: number;
  body: Uint8Array;
}

function deadlineProps(p: WireProperties, deadline: number | undefined, now: number): void {
  if (deadline === undefined) return;
  (p.headers ??= {}).dl = Math.floor(deadline);
  const remaining = Math.floor(deadline - now);
  p.expiration = remaining > 0 ? String(remaining) : '0';
}

/** A command request exactly as rinq-go publishes it. */
export function buildRequest(r: OutgoingRequest, now = Date.now()): WireMessage {
  const exchange: Exchange = r.mode === 'balanced' ? 'cmd.bal' : r.mode === 'unicast' ? 'cmd.uc' : 'cmd.mc';
  const routingKey = r.mode === 'unicast' ? r.target! : r.namespace;
  const priority = r.replyMode === '' ? PRIORITY_EXECUTE : r.mode === 'unicast' ? PRIORITY_CALL_UNICAST : PRIORITY_CALL_BALANCED;
  const properties: WireProperties = { messageId: r.messageId, priority, headers: { n: r.namespace, c: r.command } };
  if (r.replyMode) properties.replyTo = r.replyMode;
  if (r.traceId && r.traceId !== r.messageId) properties.correlationId = r.traceId;
  if (r.mode === 'balanced' && r.replyMode === '') properties.deliveryMode = 2;
  deadlineProps(properties, r.deadline, now);
  return { exchange, routingKey, properties, body: r.body };
}

export type ResponseKind = 's' | 'f' | 'e';
export interface OutgoingResponse {
  /** The request's message id: the routing key on `cmd.rsp`. */
  requestId: string;
  kind: ResponseKind;
  body: Uint8Array;
  failureType?: string;
  failureMessage?: string;
  deadline?: number;
  traceId?: string;
  /** For callAsync (ReplyTo `u`): namespace and command echoed back. */
  uncorrelated?: { namespace: string; command: string };
}

/** A command response exactly as rinq-go publishes it. */
export function buildResponse(r: OutgoingResponse, now = Date.now()): WireMessage {
  const properties: WireProperties = { type: r.kind };
  if (r.kind === 'f') {
    properties.headers = { t: r.failureType! };
    if (r.failureMessage) properties.headers.m = r.failureMessage;
  }
  deadlineProps(properties, r.deadline, now);
  if (r.traceId) properties.correlationId = r.traceId;
  if (r.uncorrelated) {
    properties.headers = { ...properties.headers, n: r.uncorrelated.namespace, c: r.uncorrelated.command };
    properties.replyTo = 'u';
  }
  return { exchange: 'cmd.rsp', routingKey: r.requestId, properties, body: r.body };
}

/** A unicast notification to one session. */
export function buildUnicastNotification(n: { messageId: string; traceId?: string; namespace: string; type: string; target: string; targetPeer: string; body: Uint8Array }): WireMessage {
  const properties: WireProperties = { messageId: n.messageId, type: n.type, headers: { n: n.namespace, t: n.target } };
  if (n.traceId && n.traceId !== n.messageId) properties.correlationId = n.traceId;
  return { exchange: 'ntf.uc', routingKey: `${n.namespace}.${n.targetPeer}`, properties, body: n.body };
}

/** A multicast notification; `constraint` is the CBOR of the constraint map. */
export function buildMulticastNotification(n: { messageId: string; traceId?: string; namespace: string; type: string; constraint: Uint8Array; body: Uint8Array }): WireMessage {
  const properties: WireProperties = { messageId: n.messageId, type: n.type, headers: { n: n.namespace, c: n.constraint } };
  if (n.traceId && n.traceId !== n.messageId) properties.correlationId = n.traceId;
  return { exchange: 'ntf.mc', routingKey: n.namespace, properties, body: n.body };
}

// ---- incoming ------------------------------------------------------------------------------------

function bad(msg: string): PlexusError { return new PlexusError('BAD_REQUEST', msg); }
function header(d: Delivery, name: string): unknown { const h = d.properties.headers; return h && typeof h === 'object' ? h[name] : undefined; }
function name(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(`${what} header is ${v === undefined ? 'missing' : 'not a string'}`);
  if (v.length > BUS_MAX_NAME_LENGTH) throw bad(`${what} header is too long`);
  if (!isWellFormedText(v, true)) throw bad(`${what} header is not well-formed Unicode`);
  return v;
}
function checkSize(d: Delivery): void {
  if (d.body.length > BUS_MAX_PAYLOAD_BYTES) throw new PlexusError('TOO_LARGE', `body of ${d.body.length} bytes is over BUS_MAX_PAYLOAD_BYTES (${BUS_MAX_PAYLOAD_BYTES})`);
}
function toBytes(v: unknown): Uint8Array | undefined { return v instanceof Uint8Array ? v : undefined; }
function optString(v: unknown): string | undefined { return typeof v === 'string' && v !== '' ? v : undefined; }
function deadlineOf(d: Delivery): number | undefined {
  const dl = header(d, 'dl');
  if (dl === undefined) return undefined;
  const n = typeof dl === 'bigint' ? Number(dl) : dl;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw bad('deadline header is not an integer');
  return n;
}

export interface IncomingRequest {
  id: MessageId; messageId: string; traceId: string;
  namespace: string; command: string; replyMode: ReplyMode;
  balanced: boolean; deadline?: number; body: Uint8Array;
}

/** Validate a request delivery (message id, `n`/`c` headers, reply mode, deadline, size). */
export function parseRequest(d: Delivery): IncomingRequest {
  const messageId = d.properties.messageId;
  if (typeof messageId !== 'string') throw bad('message id is missing');
  const id = parseMessageId(messageId);
  const namespace = name(header(d, 'n'), 'namespace'), command = name(header(d, 'c'), 'command');
  const rt = d.properties.replyTo ?? '';
  if (rt !== '' && rt !== 'c' && rt !== 'u') throw bad(`unknown reply mode ${JSON.stringify(rt)}`);
  checkSize(d);
  const deadline = deadlineOf(d);
  const r: IncomingRequest = { id, messageId, traceId: optString(d.properties.correlationId) ?? messageId, namespace, command, replyMode: rt, balanced: d.exchange === 'cmd.bal', body: d.body };
  if (deadline !== undefined) r.deadline = deadline;
  return r;
}

export interface IncomingResponse {
  requestId: string; kind: ResponseKind; body: Uint8Array;
  failureType?: string; failureMessage?: string;
  uncorrelated?: { namespace: string; command: string };
}

/** Validate a response delivery (routing key = request id, type s/f/e, failure type). */
export function parseResponse(d: Delivery): IncomingResponse {
  const kind = d.properties.type;
  if (kind !== 's' && kind !== 'f' && kind !== 'e') throw bad(`malformed response, message type ${JSON.stringify(kind)} is unexpected`);
  checkSize(d);
  const r: IncomingResponse = { requestId: d.routingKey, kind, body: d.body };
  if (kind === 'f') {
    const t = header(d, 't');
    if (typeof t !== 'string' || t === '') throw bad('malformed response, failure type must be a non-empty string');
    r.failureType = t;
    r.failureMessage = typeof header(d, 'm') === 'string' ? (header(d, 'm') as string) : '';
  }
  if (d.properties.replyTo === 'u') r.uncorrelated = { namespace: name(header(d, 'n'), 'namespace'), command: name(header(d, 'c'), 'command') };
  return r;
}

export interface IncomingNotification {
  id: MessageId; messageId: string; traceId: string; namespace: string; type: string; body: Uint8Array;
  target?: SessionId; constraint?: Uint8Array;
}

/** Validate a notification delivery (message id, `n`, and `t` (unicast) or `c` (multicast)). */
export function parseNotification(d: Delivery): IncomingNotification {
  const messageId = d.properties.messageId;
  if (typeof messageId !== 'string') throw bad('message id is missing');
  const id = parseMessageId(messageId);
  const namespace = name(header(d, 'n'), 'namespace');
  const type = typeof d.properties.type === 'string' ? d.properties.type : '';
  checkSize(d);
  const n: IncomingNotification = { id, messageId, traceId: optString(d.properties.correlationId) ?? messageId, namespace, type, body: d.body };
  if (d.exchange === 'ntf.uc') {
    const t = header(d, 't');
    if (typeof t !== 'string') throw bad('target header is not a string');
    n.target = parseSessionId(t);
  } else if (d.exchange === 'ntf.mc') {
    const c = toBytes(header(d, 'c'));
    if (!c) throw bad('constraint header is not a byte slice');
    n.constraint = c;
  } else throw bad(`delivery via '${d.exchange}' exchange is not expected`);
  return n;
}

export type { HeaderValue };
