import type { Duplex } from 'node:stream';
import type { QueueSocket, SendQueue } from './budget.js';

/** Frames of at least this many characters queued behind others, and frames in pieces (catch-up pages), are encoded into a pooled buffer of their own. */
const BIG_CHARS = 16 * 1024;
/**
 * Once the frames queued in one turn reach this many characters, they are written at once instead of at
 * the end of the turn. A pipelining client then gets its first replies, and sends its next requests,
 * while the rest of its batch is still being handled: the server and the client work at the same time
 * instead of taking turns (on 2 cores, a hub with one client 64 publishes deep went from about 86% to
 * 100% busy). 4 KiB of replies still amortise a write's fixed cost over ~20 frames.
 */
export const EARLY_WRITE_CHARS = 4 * 1024;
/** Room for the longest header of an unmasked server frame (2 + 8 bytes of length). */
const HEADER_ROOM = 10;

type Done = (err?: Error | null) => void;

/** Write the header of an unmasked FIN text frame of `len` payload bytes so that it ends at `end`; returns its first byte's offset. */
function header(b: Buffer, end: number, len: number): number {
  if (len < 126) { b[end - 2] = 0x81; b[end - 1] = len; return end - 2; }
  if (len < 65536) { b[end - 4] = 0x81; b[end - 3] = 126; b.writeUInt16BE(len, end - 2); return end - 4; }
  b[end - 10] = 0x81; b[end - 9] = 127; b.writeUInt32BE(0, end - 8); b.writeUInt32BE(len, end - 4);
  return end - 10;
}

/** The bytes of the header of a server frame of `len` payload bytes. */
function headerBytes(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** A whole text frame (header + payload) in one buffer. */
function frameOf(text: string): Buffer {
  const n = Buffer.byteLength(text);
  const h = headerBytes(n);
  const b = Buffer.allocUnsafe(h + n);
  header(b, h, n);
  b.write(text, h);
  return b;
}

/**
 * A push to many subscribers with the same pending events is one text sent to each socket in a row:
 * its frame is encoded once and the same bytes written to each (written buffers are never changed).
 */
let lastText = '';
let lastFrame: Buffer = frameOf('');
function sharedFrame(text: string): Buffer {
  if (text !== lastText) { lastFrame = frameOf(text); lastText = text; }
  return lastFrame;
}

/**
 * Big frames are encoded into buffers taken from this pool and given back once written: at most one such
 * write is in flight per connection, and reusing the memory keeps a long catch-up from piling up
 * freed-but-not-yet-collected buffers outside V8's heap.
 */
const pool: Buffer[] = [];
function take(n: number): Buffer {
  const i = pool.findIndex((b) => b.length >= n);
  if (i >= 0) return pool.splice(i, 1)[0]!;
  return Buffer.allocUnsafeSlow(Math.max(n, 256 * 1024));
}
function give(b: Buffer, max: number): void {
  if (pool.length < 16 && b.length <= max) pool.push(b);
}

/**
 * The text frames the server sends on one WebSocket, written by the server itself as unmasked FIN text
 * frames (RFC 6455 §5.2; `ws` keeps reading, answering pings and closing): the frames sent in one turn
 * of the event loop leave together, in the order they were sent, one write per EARLY_WRITE_CHARS or so,
 * so a pipelining client's many replies cost few writes and the first of them leave early. Each write
 * goes through the socket's SendQueue (charged to the memory budget).
 * Needs a socket without permessage-deflate (the ledger mount turns it off), and nothing else writing
 * data frames to it.
 */
export class TextFrameWriter {
  /** What is to be sent this turn: a text, or a frame given as pieces to concatenate. */
  #frames: Array<string | readonly string[]> = [];
  #dones: Array<Done | undefined> = [];
  #scheduled = false;
  /** Characters in #frames (string frames; a frame given as pieces counts as EARLY_WRITE_CHARS). */
  #chars = 0;
  readonly #queue: SendQueue;
  readonly #poolMax: number;

  /** `queue` sends through `rawSocket(...)` of the same socket. `poolMax`: largest pooled buffer kept for reuse. */
  constructor(queue: SendQueue, poolMax = 4 * 1024 * 1024) {
    this.#queue = queue;
    this.#poolMax = poolMax;
  }

  /** Queue a text frame (or one given as pieces) for the end of this turn; `done` once it left the process (or failed). */
  send(frame: string | readonly string[], done?: Done): void {
    this.#frames.push(frame);
    this.#dones.push(done);
    this.#chars += typeof frame === 'string' ? frame.length : EARLY_WRITE_CHARS;
    if (this.#chars >= EARLY_WRITE_CHARS) { this.#write(); return; }
    if (!this.#scheduled) { this.#scheduled = true; process.nextTick(this.flush); }
  }

  /** Write what is queued now (before a close frame, so the frames sent before it go first). */
  readonly flush = (): void => {
    this.#scheduled = false;
    this.#write();
  };

  /** Write what is queued (a scheduled flush that finds nothing left does nothing). */
  #write(): void {
    this.#chars = 0;
    const frames = this.#frames, dones = this.#dones;
    if (!frames.length) return;
    this.#frames = [];
    this.#dones = [];
    const first = frames[0]!;
    // a lone text (a forward or push sent to many sockets in a row, however big) is encoded once for all of them
    if (frames.length === 1 && typeof first === 'string') { this.#queue.send(sharedFrame(first), dones[0]); return; }
    let i = 0;
    while (i < frames.length) {
      const f = frames[i]!;
      if (typeof f !== 'string' || f.length >= BIG_CHARS) { this.#big(f, dones[i]); i++; continue; }
      // a run of small frames (bounded: fewer than EARLY_WRITE_CHARS characters came before its last one)
      let j = i, bytes = 0;
      const lens: number[] = [];
      while (j < frames.length) {
        const g = frames[j]!;
        if (typeof g !== 'string' || g.length >= BIG_CHARS) break;
        const n = Buffer.byteLength(g);
        lens.push(n);
        bytes += n + headerBytes(n);
        j++;
      }
      const done = runDone(dones, i, j);
      const b = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (let k = i; k < j; k++) {
        const n = lens[k - i]!;
        const h = headerBytes(n);
        header(b, at + h, n);
        b.write(frames[k] as string, at + h);
        at += h + n;
      }
      this.#queue.send(b, done);
      i = j;
    }
  }

  /** One big frame, encoded into a pooled buffer after room for its header. */
  #big(f: string | readonly string[], done: Done | undefined): void {
    const parts = typeof f === 'string' ? [f] : f;
    let chars = 0;
    for (const p of parts) chars += p.length;
    // room for 3 UTF-8 bytes per UTF-16 unit
    const b = take(HEADER_ROOM + 3 * chars);
    let n = HEADER_ROOM;
    for (const p of parts) n += b.write(p, n);
    const start = header(b, HEADER_ROOM, n - HEADER_ROOM);
    this.#queue.send(b.subarray(start, n), (err) => { give(b, this.#poolMax); done?.(err); });
  }
}

/** One callback for the frames [i, j) written together (undefined when none of them wants one). */
function runDone(dones: Array<Done | undefined>, i: number, j: number): Done | undefined {
  if (j === i + 1) return dones[i];
  let any = false;
  for (let k = i; k < j; k++) if (dones[k]) { any = true; break; }
  if (!any) return undefined;
  return (err) => { for (let k = i; k < j; k++) dones[k]?.(err); };
}

/** The part of a `ws` WebSocket the raw socket needs. */
interface OpenSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/**
 * A SendQueue's socket that writes already framed bytes (TextFrameWriter's) straight to the WebSocket's
 * TCP socket while it is open; once `ws` has begun closing (its close frame went out), data frames are
 * dropped and their callbacks get an error, as `ws.send` does.
 */
export function rawSocket(ws: OpenSocket, socket: Duplex): QueueSocket {
  return {
    get bufferedAmount() { return ws.bufferedAmount; },
    send(data, _opts, cb) {
      if (ws.readyState !== 1) { if (cb) process.nextTick(cb, new Error('WebSocket is not open')); return; }
      if (cb) socket.write(data, (err) => cb(err ?? undefined)); else socket.write(data);
    },
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  };
}
