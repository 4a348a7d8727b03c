/**
 * rinq identifiers, rendered exactly as rinq-go v0.7.0 renders them so Go and TypeScript logs line up:
 * peer `58AEE146-191C`, session `58AEE146-191C.45`, ref `58AEE146-191C.45@3`, message `58AEE146-191C.45@3#7`.
 */
import { PlexusError } from '../errors.js';

/** A peer: unix-seconds clock and a 16-bit random part, unique on the network while the peer lives. */
export interface PeerId { readonly clock: number; readonly rand: number }
/** A session: its owning peer and a per-peer sequence (0 is the peer's internal "zero session"). */
export interface SessionId { readonly peer: PeerId; readonly seq: number }
/** A session at one revision. */
export interface Ref { readonly session: SessionId; readonly rev: number }
/** A message sent from a session at a revision; seq restarts at 1 after each revision change. */
export interface MessageId { readonly ref: Ref; readonly seq: number }

const MAX_U32 = 0xffff_ffff;

/** A fresh peer id (not yet reserved on a network). `rand` is 1..65535, never 0, as in rinq. */
export function newPeerId(now = Date.now(), random = Math.random): PeerId {
  return { clock: Math.floor(now / 1000), rand: 1 + Math.floor(random() * 0xfffe) };
}

/** `58AEE146-191C`. */
export function formatPeerId(p: PeerId): string {
  return `${p.clock.toString(16).toUpperCase()}-${p.rand.toString(16).toUpperCase().padStart(4, '0')}`;
}
/** `191C`: the random part only; names the peer's queues (`191C.req`, ...). */
export function shortPeerId(p: PeerId): string {
  return p.rand.toString(16).toUpperCase().padStart(4, '0');
}
export function formatSessionId(s: SessionId): string { return `${formatPeerId(s.peer)}.${s.seq}`; }
export function formatRef(r: Ref): string { return `${formatSessionId(r.session)}@${r.rev}`; }
export function formatMessageId(m: MessageId): string { return `${formatRef(m.ref)}#${m.seq}`; }

const HEX = /^[0-9A-Fa-f]{1,16}$/;
const DEC = /^[0-9]{1,10}$/;

function bad(what: string, s: string): PlexusError {
  return new PlexusError('BAD_REQUEST', `invalid ${what}: ${JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s)}`);
}
function dec(s: string, what: string, whole: string): number {
  if (!DEC.test(s)) throw bad(what, whole);
  const n = Number(s);
  if (n > MAX_U32) throw bad(what, whole);
  return n;
}

/** The last peer id parsed (a peer talks to few peers: most parses repeat the previous one). */
let lastPeerText = '', lastPeer: PeerId = { clock: 0, rand: 0 };

/** Parse `CLOCK-RAND`; both parts hex and non-zero (rinq's validity rule). */
export function parsePeerId(s: string): PeerId {
  if (s === lastPeerText) return lastPeer;
  const p = parsePeerIdUncached(s);
  lastPeerText = s;
  lastPeer = p;
  return p;
}

function parsePeerIdUncached(s: string): PeerId {
  const dash = s.indexOf('-');
  if (dash < 0 || s.indexOf('-', dash + 1) >= 0) throw bad('peer id', s);
  const c = s.slice(0, dash), r = s.slice(dash + 1);
  if (!HEX.test(c) || !HEX.test(r) || r.length > 4) throw bad('peer id', s);
  const clock = parseInt(c, 16), rand = parseInt(r, 16);
  if (clock === 0 || rand === 0 || !Number.isSafeInteger(clock)) throw bad('peer id', s);
  return { clock, rand };
}

/** Parse `PEER.SEQ`. */
export function parseSessionId(s: string): SessionId {
  const dot = s.lastIndexOf('.');
  if (dot < 0) throw bad('session id', s);
  return { peer: parsePeerId(s.slice(0, dot)), seq: dec(s.slice(dot + 1), 'session id', s) };
}

/** Parse `SESSION@REV`. */
export function parseRef(s: string): Ref {
  const at = s.lastIndexOf('@');
  if (at < 0) throw bad('ref', s);
  return { session: parseSessionId(s.slice(0, at)), rev: dec(s.slice(at + 1), 'ref', s) };
}

/** Parse `REF#SEQ`; seq must be non-zero (rinq's validity rule). */
export function parseMessageId(s: string): MessageId {
  const hash = s.lastIndexOf('#');
  if (hash < 0) throw bad('message id', s);
  const seq = dec(s.slice(hash + 1), 'message id', s);
  if (seq === 0) throw bad('message id', s);
  try {
    return { ref: parseRef(s.slice(0, hash)), seq };
  } catch {
    throw bad('message id', s);
  }
}

export function samePeer(a: PeerId, b: PeerId): boolean { return a.clock === b.clock && a.rand === b.rand; }
