// Byte-level fixtures: every rinq message kind's AMQP exchange, routing key, properties and body, as
// rinq.md (and rinq-go v0.7.0) specify them, plus the amqplib options they are published with.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildMulticastNotification, buildRequest, buildResponse, buildUnicastNotification, parseNotification, parseRequest, parseResponse } from '../../src/bus/wire.js';
import { encodePayload } from '../../src/bus/payload.js';
import { constraintToWire, within, equal } from '../../src/bus/constraint.js';
import { publishOptions } from '../../src/bus/transport/amqp.js';
import type { Delivery, WireMessage } from '../../src/bus/transport/transport.js';
import { isPlexusError } from '../../src/errors.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const NOW = 1_700_000_000_000;
const ID = '6553F100-191C.1@0#1';
const body = encodePayload({ a: 1 }); // a1 6161 01

function delivery(m: WireMessage, over: Partial<Delivery> = {}): Delivery {
  return { exchange: m.exchange, routingKey: m.routingKey, properties: { ...m.properties }, body: m.body, redelivered: false, ack() {}, reject() {}, ...over };
}

describe('bus wire: command requests', () => {
  it('balanced call: cmd.bal / ns, priority 1, ReplyTo c, headers n c dl, Expiration = remaining ms', () => {
    const m = buildRequest({ mode: 'balanced', namespace: 'math', command: 'add', messageId: ID, replyMode: 'c', deadline: NOW + 5000, body }, NOW);
    assert.deepEqual(m, { exchange: 'cmd.bal', routingKey: 'math', properties: { messageId: ID, priority: 1, replyTo: 'c', headers: { n: 'math', c: 'add', dl: NOW + 5000 }, expiration: '5000' }, body });
    assert.equal(hex(m.body), 'a1616101');
    assert.deepEqual(publishOptions(m), { messageId: ID, replyTo: 'c', priority: 1, expiration: '5000', headers: { n: 'math', c: 'add', dl: { '!': 'int64', value: NOW + 5000 } } });
  });
  it('unicast call: cmd.uc / target peer id, priority 2', () => {
    const m = buildRequest({ mode: 'unicast', target: '6553F100-AAAA', namespace: '_sess', command: 'fetch', messageId: '6553F100-191C.0@0#3', replyMode: 'c', deadline: NOW + 10, body }, NOW);
    assert.equal(m.exchange, 'cmd.uc');
    assert.equal(m.routingKey, '6553F100-AAAA');
    assert.equal(m.properties.priority, 2);
    assert.equal(m.properties.expiration, '10');
  });
  it('balanced execute: priority 0, no ReplyTo, persistent, no deadline', () => {
    const m = buildRequest({ mode: 'balanced', namespace: 'jobs', command: 'run', messageId: ID, replyMode: '', body: new Uint8Array(0) }, NOW);
    assert.deepEqual(m.properties, { messageId: ID, priority: 0, headers: { n: 'jobs', c: 'run' }, deliveryMode: 2 });
    assert.equal(m.body.length, 0); // nil payload = empty body
    assert.deepEqual(publishOptions(m), { messageId: ID, priority: 0, deliveryMode: 2, headers: { n: 'jobs', c: 'run' } });
  });
  it('multicast execute: cmd.mc / ns, priority 0, not persistent', () => {
    const m = buildRequest({ mode: 'multicast', namespace: 'jobs', command: 'run', messageId: ID, replyMode: '', body }, NOW);
    assert.equal(m.exchange, 'cmd.mc');
    assert.equal(m.routingKey, 'jobs');
    assert.equal(m.properties.deliveryMode, undefined);
  });
  it('callAsync: ReplyTo u; an expired deadline gives Expiration 0; trace id only when it differs', () => {
    const m = buildRequest({ mode: 'balanced', namespace: 'x', command: 'y', messageId: ID, traceId: 'T', replyMode: 'u', deadline: NOW - 5, body }, NOW);
    assert.equal(m.properties.replyTo, 'u');
    assert.equal(m.properties.expiration, '0');
    assert.equal(m.properties.correlationId, 'T');
    assert.equal(buildRequest({ mode: 'balanced', namespace: 'x', command: 'y', messageId: ID, traceId: ID, replyMode: 'c', body }, NOW).properties.correlationId, undefined);
  });
  it('parses back, and names what is wrong with a malformed request', () => {
    const m = buildRequest({ mode: 'balanced', namespace: 'math', command: 'add', messageId: ID, replyMode: 'c', deadline: NOW + 5000, body }, NOW);
    const r = parseRequest(delivery(m));
    assert.equal(r.namespace, 'math');
    assert.equal(r.deadline, NOW + 5000);
    assert.equal(r.balanced, true);
    const bad = (over: Partial<Delivery>, re: RegExp) => assert.throws(() => parseRequest(delivery(m, over)), (e) => isPlexusError(e) && re.test(e.message));
    bad({ properties: { ...m.properties, headers: { c: 'add' } } }, /namespace header is missing/);
    bad({ properties: { ...m.properties, headers: { n: 1, c: 'add' } } }, /namespace header is not a string/);
    bad({ properties: { ...m.properties, headers: { n: 'math' } } }, /command header is missing/);
    bad({ properties: { ...m.properties, messageId: undefined } }, /message id is missing/);
    bad({ properties: { ...m.properties, messageId: 'nope' } }, /invalid message id/);
    bad({ properties: { ...m.properties, replyTo: 'zz' } }, /unknown reply mode/);
    bad({ properties: { ...m.properties, headers: { n: 'math', c: 'add', dl: 'soon' } } }, /deadline header/);
    assert.throws(() => parseRequest(delivery(m, { body: new Uint8Array(1024 * 1024 + 1) })), (e) => isPlexusError(e, 'TOO_LARGE'));
  });
});

describe('bus wire: command responses', () => {
  it('success: cmd.rsp / request id, Type s, body = CBOR, dl + Expiration from the request deadline', () => {
    const m = buildResponse({ requestId: ID, kind: 's', body, deadline: NOW + 100 }, NOW);
    assert.deepEqual(m, { exchange: 'cmd.rsp', routingKey: ID, properties: { type: 's', headers: { dl: NOW + 100 }, expiration: '100' }, body });
  });
  it('failure: Type f, headers t and m (m only when non-empty), body = failure payload', () => {
    const m = buildResponse({ requestId: ID, kind: 'f', body: new Uint8Array(0), failureType: 'not-found', failureMessage: '' }, NOW);
    assert.deepEqual(m.properties, { type: 'f', headers: { t: 'not-found' } });
    const m2 = buildResponse({ requestId: ID, kind: 'f', body, failureType: 'bad', failureMessage: 'why' }, NOW);
    assert.deepEqual(m2.properties.headers, { t: 'bad', m: 'why' });
    const r = parseResponse(delivery(m2));
    assert.equal(r.failureType, 'bad');
    assert.equal(r.failureMessage, 'why');
  });
  it('error: Type e, body = the error text (not CBOR)', () => {
    const m = buildResponse({ requestId: ID, kind: 'e', body: new TextEncoder().encode('kaput') }, NOW);
    assert.equal(Buffer.from(m.body).toString(), 'kaput');
    assert.equal(m.properties.type, 'e');
  });
  it('uncorrelated (callAsync): ReplyTo u and headers n c echoed', () => {
    const m = buildResponse({ requestId: ID, kind: 's', body, uncorrelated: { namespace: 'x', command: 'y' } }, NOW);
    assert.deepEqual(m.properties, { type: 's', headers: { n: 'x', c: 'y' }, replyTo: 'u' });
    assert.deepEqual(parseResponse(delivery(m)).uncorrelated, { namespace: 'x', command: 'y' });
  });
  it('rejects unknown types and failures without a type', () => {
    const m = buildResponse({ requestId: ID, kind: 's', body }, NOW);
    assert.throws(() => parseResponse(delivery(m, { properties: { type: 'x' } })), /message type "x" is unexpected/);
    assert.throws(() => parseResponse(delivery(m, { properties: { type: 'f', headers: {} } })), /failure type must be a non-empty string/);
  });
});

describe('bus wire: notifications', () => {
  it('unicast: ntf.uc / <ns>.<peer id>, Type = notification type, headers n and t = target session', () => {
    const m = buildUnicastNotification({ messageId: ID, namespace: 'chat', type: 'hello', target: '6553F100-AAAA.4', targetPeer: '6553F100-AAAA', body });
    assert.deepEqual(m, { exchange: 'ntf.uc', routingKey: 'chat.6553F100-AAAA', properties: { messageId: ID, type: 'hello', headers: { n: 'chat', t: '6553F100-AAAA.4' } }, body });
    assert.deepEqual(parseNotification(delivery(m)).target, { peer: { clock: 0x6553f100, rand: 0xaaaa }, seq: 4 });
  });
  it('multicast: ntf.mc / ns, header c = CBOR of the constraint, as bytes', () => {
    const c = encodePayload(constraintToWire(within('app', equal('room', 'x'))));
    const m = buildMulticastNotification({ messageId: ID, namespace: 'chat', type: 'many', constraint: c, body });
    assert.equal(m.exchange, 'ntf.mc');
    assert.equal(m.routingKey, 'chat');
    assert.equal(hex(m.properties.headers!.c as Uint8Array), 'a3616f626e73617481a3616b64726f6f6d616f613d61766178617663617070');
    const o = publishOptions(m) as { headers: Record<string, unknown> };
    assert.ok(Buffer.isBuffer(o.headers.c), 'constraint header is sent as an AMQP byte array (x)');
    assert.throws(() => parseNotification(delivery(m, { properties: { ...m.properties, headers: { n: 'chat', c: 'str' } } })), /constraint header is not a byte slice/);
    assert.throws(() => parseNotification(delivery(m, { exchange: 'amq.direct' })), /not expected/);
  });
});
