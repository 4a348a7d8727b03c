// A hand-written "rinq-go shaped" peer on plain amqplib, for interop and bad-input tests: it publishes
// exactly what rinq-go v0.7.0 publishes (written out by hand here, independent of src/bus/wire.ts)
// and records what it receives.
import amqp from 'amqplib';
import { AMQP_URL } from './amqp-helpers.js';

type ChannelModel = Awaited<ReturnType<typeof amqp.connect>>;
type Channel = Awaited<ReturnType<ChannelModel['createChannel']>>;
export type Msg = NonNullable<Parameters<Parameters<Channel['consume']>[1]>[0]>;

export class RawPeer {
  readonly short: string;
  readonly id: string;
  responses: Msg[] = [];
  private constructor(private conn: ChannelModel, readonly ch: Channel, rand: number) {
    this.short = rand.toString(16).toUpperCase().padStart(4, '0');
    this.id = `${Math.floor(Date.now() / 1000).toString(16).toUpperCase()}-${this.short}`;
  }
  static async open(): Promise<RawPeer> {
    const conn = await amqp.connect(AMQP_URL, { clientProperties: { connection_name: 'plexus-test raw-rinq-peer' } });
    const ch = await conn.createChannel();
    const p = new RawPeer(conn, ch, 0xf000 + Math.floor(Math.random() * 0xfff));
    await ch.assertQueue(p.short, { exclusive: true, durable: false });
    // the exchanges exactly as rinq-go declares them: a mismatch with plexus' declarations would fail here
    for (const [n, k] of [['cmd.bal', 'direct'], ['cmd.uc', 'direct'], ['cmd.mc', 'direct'], ['cmd.rsp', 'topic'], ['ntf.uc', 'direct'], ['ntf.mc', 'direct']] as const) {
      await ch.assertExchange(n, k, { durable: false, autoDelete: false, internal: false });
    }
    await ch.assertQueue(`${p.short}.rsp`, { exclusive: true, durable: false });
    await ch.bindQueue(`${p.short}.rsp`, 'cmd.rsp', `${p.id}.*`);
    await ch.consume(`${p.short}.rsp`, (m) => { if (m) { p.responses.push(m); ch.ack(m); } }, { consumerTag: `${p.short}.rsp`, exclusive: true });
    return p;
  }
  /** Declare cmd.<ns> as rinq-go does before a balanced publish. */
  async declareBalanced(ns: string): Promise<void> {
    await this.ch.assertQueue(`cmd.${ns}`, { durable: true, arguments: { 'x-max-priority': 3 } });
    await this.ch.bindQueue(`cmd.${ns}`, 'cmd.bal', ns);
  }
  publish(exchange: string, key: string, body: Uint8Array | Buffer, props: Record<string, unknown>): void {
    this.ch.publish(exchange, key, Buffer.from(body), props);
  }
  async waitResponse(routingKey: string, ms = 3000): Promise<Msg> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.responses.find((r) => r.fields.routingKey === routingKey);
      if (m) return m;
      if (Date.now() > end) throw new Error(`no response for ${routingKey}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  async close(): Promise<void> { await this.conn.close(); }
}

export const hexBytes = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
