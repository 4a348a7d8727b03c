/**
 * The AMQP 0-9-1 frames of one rinq publish (Basic.Publish method frame, content header frame, body
 * frame), encoded in one pass into one buffer: byte for byte what amqplib 2.3.1's `channel.publish`
 * writes for the same message (test/bus/frames.test.ts compares them), without its generic option
 * parsing and field-table encoder, which cost more than the rest of a publish together. Only rinq's
 * property set is supported (message id, correlation id, type, reply-to, priority, expiration,
 * delivery mode, and headers whose values are strings, the int64 deadline or byte strings); anything
 * else returns undefined and goes through amqplib as before.
 */
import type { WireMessage } from './transport.js';

const FRAME_METHOD = 1, FRAME_HEADER = 2, FRAME_BODY = 3, FRAME_END = 0xce;
const BASIC_CLASS = 60, BASIC_PUBLISH = 40;
/** amqplib writes a message as one chunk below this size (connection.js SINGLE_CHUNK_THRESHOLD). */
export const SINGLE_CHUNK_LIMIT = 2048;

// Basic property flags (AMQP 0-9-1, in property-list order)
const F_HEADERS = 0x2000, F_DELIVERY_MODE = 0x1000, F_PRIORITY = 0x0800, F_CORRELATION_ID = 0x0400;
const F_REPLY_TO = 0x0200, F_EXPIRATION = 0x0100, F_MESSAGE_ID = 0x0080, F_TYPE = 0x0020;

const T_LONGSTR = 0x53 /* S */, T_INT64 = 0x6c /* l */, T_BYTES = 0x78 /* x */;

function shortStrOk(s: string | undefined): boolean {
  return s === undefined || Buffer.byteLength(s) < 256;
}

/**
 * The frames of `m` on `channel`, or undefined when amqplib would write them differently (in several
 * chunks: large messages, or a body over `frameMax`) or when a property is not one rinq uses.
 */
export function encodePublish(channel: number, m: WireMessage, frameMax: number): Buffer | undefined {
  const p = m.properties, body = m.body;
  if (!shortStrOk(m.exchange) || !shortStrOk(m.routingKey) || !shortStrOk(p.messageId) || !shortStrOk(p.correlationId) || !shortStrOk(p.type) || !shortStrOk(p.replyTo) || !shortStrOk(p.expiration)) return undefined;
  if (p.priority !== undefined && !(Number.isInteger(p.priority) && p.priority >= 0 && p.priority < 256)) return undefined;
  // header table size
  let tableLen = 0;
  const h = p.headers;
  if (h) {
    for (const k in h) {
      const v = h[k];
      if (v === undefined) continue;
      const kl = Buffer.byteLength(k);
      if (kl > 255) return undefined;
      tableLen += 1 + kl + 1;
      if (typeof v === 'string') tableLen += 4 + Buffer.byteLength(v);
      else if (typeof v === 'number') { if (k !== 'dl' || !Number.isSafeInteger(v)) return undefined; tableLen += 8; }
      else if (v instanceof Uint8Array) tableLen += 4 + v.length;
      else return undefined;
    }
  }
  const exLen = Buffer.byteLength(m.exchange), rkLen = Buffer.byteLength(m.routingKey);
  const methodLen = 7 + 4 + 2 + 1 + exLen + 1 + rkLen + 1 + 1;
  let props = 4 + tableLen; // amqplib always sends a (possibly empty) headers table
  let flags = F_HEADERS;
  if (p.deliveryMode !== undefined) { flags |= F_DELIVERY_MODE; props += 1; }
  if (p.priority !== undefined) { flags |= F_PRIORITY; props += 1; }
  if (p.correlationId !== undefined) { flags |= F_CORRELATION_ID; props += 1 + Buffer.byteLength(p.correlationId); }
  if (p.replyTo !== undefined) { flags |= F_REPLY_TO; props += 1 + Buffer.byteLength(p.replyTo); }
  if (p.expiration !== undefined) { flags |= F_EXPIRATION; props += 1 + Buffer.byteLength(p.expiration); }
  if (p.messageId !== undefined) { flags |= F_MESSAGE_ID; props += 1 + Buffer.byteLength(p.messageId); }
  if (p.type !== undefined) { flags |= F_TYPE; props += 1 + Buffer.byteLength(p.type); }
  const headerLen = 7 + 2 + 2 + 8 + 2 + props + 1;
  const bodyLen = body.length > 0 ? 7 + body.length + 1 : 0;
  const total = methodLen + headerLen + bodyLen;
  if (total >= SINGLE_CHUNK_LIMIT || body.length > frameMax - 8) return undefined;

  const b = Buffer.allocUnsafe(total);
  let o = 0;
  // method frame: Basic.Publish(ticket 0, exchange, routing key, mandatory/immediate off)
  b[o] = FRAME_METHOD; b.writeUInt16BE(channel, o + 1); b.writeUInt32BE(methodLen - 8, o + 3);
  o += 7;
  b.writeUInt16BE(BASIC_CLASS, o); b.writeUInt16BE(BASIC_PUBLISH, o + 2); b.writeUInt16BE(0, o + 4);
  o += 6;
  o = shortStr(b, o, m.exchange, exLen);
  o = shortStr(b, o, m.routingKey, rkLen);
  b[o++] = 0;
  b[o++] = FRAME_END;
  // content header frame
  b[o] = FRAME_HEADER; b.writeUInt16BE(channel, o + 1); b.writeUInt32BE(headerLen - 8, o + 3);
  o += 7;
  b.writeUInt16BE(BASIC_CLASS, o); b.writeUInt16BE(0, o + 2);
  b.writeUInt32BE(Math.floor(body.length / 0x1_0000_0000), o + 4); b.writeUInt32BE(body.length >>> 0, o + 8);
  b.writeUInt16BE(flags, o + 12);
  o += 14;
  b.writeUInt32BE(tableLen, o);
  o += 4;
  if (h) {
    for (const k in h) {
      const v = h[k];
      if (v === undefined) continue;
      o = shortStr(b, o, k, Buffer.byteLength(k));
      if (typeof v === 'string') {
        b[o++] = T_LONGSTR;
        const n = b.write(v, o + 4, 'utf8');
        b.writeUInt32BE(n, o);
        o += 4 + n;
      } else if (typeof v === 'number') {
        b[o++] = T_INT64;
        b.writeBigInt64BE(BigInt(v), o);
        o += 8;
      } else {
        b[o++] = T_BYTES;
        b.writeUInt32BE(v.length, o);
        b.set(v, o + 4);
        o += 4 + v.length;
      }
    }
  }
  if (p.deliveryMode !== undefined) b[o++] = p.deliveryMode;
  if (p.priority !== undefined) b[o++] = p.priority;
  if (p.correlationId !== undefined) o = shortStr(b, o, p.correlationId, Buffer.byteLength(p.correlationId));
  if (p.replyTo !== undefined) o = shortStr(b, o, p.replyTo, Buffer.byteLength(p.replyTo));
  if (p.expiration !== undefined) o = shortStr(b, o, p.expiration, Buffer.byteLength(p.expiration));
  if (p.messageId !== undefined) o = shortStr(b, o, p.messageId, Buffer.byteLength(p.messageId));
  if (p.type !== undefined) o = shortStr(b, o, p.type, Buffer.byteLength(p.type));
  b[o++] = FRAME_END;
  // body frame (none for an empty body)
  if (body.length > 0) {
    b[o] = FRAME_BODY; b.writeUInt16BE(channel, o + 1); b.writeUInt32BE(body.length, o + 3);
    o += 7;
    b.set(body, o);
    o += body.length;
    b[o++] = FRAME_END;
  }
  return b;
}

function shortStr(b: Buffer, o: number, s: string, len: number): number {
  b[o] = len;
  if (len > 0) b.write(s, o + 1, 'utf8');
  return o + 1 + len;
}
