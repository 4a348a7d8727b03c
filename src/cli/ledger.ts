import type { Command } from 'commander';
import WebSocket from 'ws';
import { PlexusError } from '../errors.js';
import { connectHub, type HubClient, type WebSocketCtor } from '../ledger/client.js';
import { eventJson, goJson, statusJson, updateJson, decodeTrans, decodeActs } from '../ledger/codec.js';
import type { Arg, TransInput } from '../ledger/event.js';
import { parseTime, ZERO_TIME } from '../ledger/time.js';

const DEFAULT_URL = process.env.PLEXUS_URL ?? 'http://127.0.0.1:8765';

interface HubOpts { url: string; token?: string }

/** http(s)://host:port[/evt] or ws(s)://… → the hub's WebSocket URL. */
export function hubUrl(u: string): string {
  let url: URL;
  try { url = new URL(u); } catch { throw new PlexusError('BAD_REQUEST', `invalid URL ${JSON.stringify(u)}`); }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new PlexusError('BAD_REQUEST', `want an http(s):// or ws(s):// URL, got ${u}`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/evt';
  return url.toString();
}

function hubOption(cmd: Command): Command {
  return cmd
    .option('-u, --url <url>', 'plexus server (http://host:port) or hub WebSocket URL (env PLEXUS_URL)', DEFAULT_URL)
    .option('--token <token>', 'bearer token for a server that requires one (env PLEXUS_TOKEN)');
}

async function withHub<T>(o: HubOpts, fn: (c: HubClient) => Promise<T>): Promise<T> {
  const token = o.token ?? process.env.PLEXUS_TOKEN;
  const c = await connectHub(hubUrl(o.url), { WebSocket: WebSocket as unknown as WebSocketCtor, reconnect: false, ...(token ? { token } : {}) });
  try { return await fn(c); } finally { c.close(); }
}

function parseRevArg(v: string): number {
  if (v === '0') return ZERO_TIME;
  return Math.floor(parseTime(v));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `plexus ledger publish|tail|status` */
export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('evt-style event ledger: publish transactions, tail events live, hub status');

  hubOption(ledger.command('publish [action...]')
    .description('publish one transaction: `new|mod|del TOPIC KEY [ARG-JSON]`, or a JSON transaction / action array on stdin with --stdin')
    .option('--stdin', 'read a transaction ({"acts":[…]}) or an array of actions from stdin')
    .option('--base <rev>', 'base revision (RFC 3339): CONFLICT if a touched record changed after it')
    .option('--tid <id>', 'transaction id: a second publish with the same id is refused (DUPLICATE)'))
    .action(async (action: string[], o: HubOpts & { stdin?: boolean; base?: string; tid?: string }) => {
      let t: TransInput;
      if (o.stdin) {
        const v: unknown = JSON.parse(await readStdin());
        t = Array.isArray(v) ? { acts: decodeActs(v) } : decodeTrans(v);
      } else {
        const [cmd, top, key, arg] = action;
        if (!cmd || !top || key === undefined) throw new PlexusError('BAD_REQUEST', 'usage: plexus ledger publish new|mod|del TOPIC KEY [ARG-JSON]');
        let parsed: Arg | undefined;
        if (arg !== undefined) {
          try { parsed = JSON.parse(arg) as Arg; } catch { throw new PlexusError('BAD_REQUEST', `ARG must be a JSON object, got ${arg}`); }
        }
        t = { acts: decodeActs([{ top, key, cmd, ...(parsed === undefined ? {} : { arg: parsed }) }]) };
      }
      if (o.base) t.base = parseRevArg(o.base);
      if (o.tid) t.tid = o.tid;
      const r = await withHub(o, (c) => c.publish(t));
      process.stdout.write(goJson(updateJson({ rev: r.rev, evs: r.evs })) + '\n');
    });

  hubOption(ledger.command('tail [topic...]')
    .description('print events as JSON lines, then follow live (all topics when none given)')
    .option('--since <rev>', 'only events after this revision (RFC 3339, or 0 for all)', '0')
    .option('-n, --limit <n>', 'exit after N events'))
    .action(async (topics: string[], o: HubOpts & { since: string; limit?: string }) => {
      const since = parseRevArg(o.since);
      const limit = o.limit === undefined ? Infinity : Number(o.limit);
      if (!(limit > 0)) throw new PlexusError('BAD_REQUEST', '--limit must be a positive number');
      await withHub(o, async (c) => {
        const sub = c.subscribe(topics.length ? topics : ['*'], { since });
        let n = 0;
        const stop = () => sub.close();
        process.once('SIGINT', stop);
        try {
          for await (const u of sub) {
            for (const e of u.evs ?? []) {
              process.stdout.write(goJson(eventJson(e)) + '\n');
              if (++n >= limit) return;
            }
          }
        } finally { process.off('SIGINT', stop); sub.close(); }
      });
    });

  hubOption(ledger.command('status').description('print the hub status (revision, schema version, up since)'))
    .action(async (o: HubOpts) => {
      const s = await withHub(o, (c) => c.status());
      process.stdout.write(goJson(statusJson(s)) + '\n');
    });
}
