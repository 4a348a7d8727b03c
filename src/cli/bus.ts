import type { Command } from 'commander';
import { PlexusError } from '../errors.js';
import { connect, equal, and, none, within, isFailure, type Constraint, type Peer } from '../bus/index.js';

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new PlexusError('BAD_REQUEST', `payload is not JSON: ${(err as Error).message}`);
  }
}

/** JSON for printing: bytes as {"$bytes": hex}, big integers as strings. */
export function toPrintable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? { $bytes: Buffer.from(x).toString('hex') } : typeof x === 'bigint' ? x.toString() : x));
}

function timeout(s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new PlexusError('BAD_REQUEST', `invalid timeout: ${s}`);
  return n;
}

async function withPeer<T>(url: string | undefined, f: (p: Peer) => Promise<T>): Promise<T> {
  const peer = await connect({ ...(url ? { url } : {}), connectionName: 'plexus-cli', logger: (level, msg) => { if (level === 'warn' || level === 'error') process.stderr.write(`plexus bus: ${msg}\n`); } });
  try {
    return await f(peer);
  } finally {
    await peer.stop();
  }
}

/** `plexus bus call|listen|notify`: talk to a rinq network on RabbitMQ from the shell. */
export function registerBus(program: Command): void {
  const bus = program.command('bus').description('rinq-compatible command bus on RabbitMQ (env PLEXUS_AMQP or RINQ_AMQP_DSN)');
  const url = '--url <amqp-url>';
  const urlHelp = 'AMQP URL (default env PLEXUS_AMQP, RINQ_AMQP_DSN, amqp://localhost)';

  bus.command('call')
    .description('call NS::CMD with a JSON payload (CBOR on the wire) and print the JSON result')
    .argument('<ns>').argument('<cmd>').argument('[json]', 'payload as JSON (default null)')
    .option(url, urlHelp)
    .option('-t, --timeout <ms>', 'call timeout in ms', '5000')
    .action(async (ns: string, cmd: string, json: string | undefined, o: { url?: string; timeout: string }) => {
      const payload = parseJson(json);
      await withPeer(o.url, async (peer) => {
        try {
          const out = await peer.session().call(ns, cmd, payload, { timeoutMs: timeout(o.timeout) });
          process.stdout.write(`${toPrintable(out)}\n`);
        } catch (err) {
          if (isFailure(err)) {
            process.stdout.write(`${toPrintable({ failure: err.type, message: err.failureMessage, payload: err.payload })}\n`);
            process.exitCode = 2;
            return;
          }
          throw err;
        }
      });
    });

  bus.command('listen')
    .description('serve NS: print each request as a JSON line and answer it (with --reply, else an empty success)')
    .argument('<ns>')
    .option(url, urlHelp)
    .option('--reply <json>', 'answer every request with this JSON payload')
    .option('--fail <type>', 'answer every request with this failure type instead')
    .action(async (ns: string, o: { url?: string; reply?: string; fail?: string }) => {
      const reply = parseJson(o.reply);
      const peer = await connect({ ...(o.url ? { url: o.url } : {}), connectionName: `plexus-cli listen ${ns}` });
      await peer.listen(ns, (req, res) => {
        process.stdout.write(`${toPrintable({ id: req.id, source: req.source.ref, namespace: req.namespace, command: req.command, payload: req.payload })}\n`);
        if (o.fail) res.fail(o.fail, 'plexus bus listen --fail');
        else if (o.reply !== undefined) res.done(reply);
        else res.close();
      });
      process.stderr.write(`plexus bus: peer ${peer.id} listening to ${ns} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => { peer.gracefulStop().then(resolve, resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        void peer.done.then(resolve);
      });
    });

  bus.command('notify')
    .description('notify one session (--session ID) or every session matching --where key=value (all when none)')
    .argument('<ns>').argument('<type>').argument('[json]', 'payload as JSON (default null)')
    .option(url, urlHelp)
    .option('--session <id>', 'target session id (unicast)')
    .option('--where <key=value...>', 'constraint terms (ANDed), matched in --attr-ns')
    .option('--attr-ns <ns>', 'attribute namespace the --where terms read (default: NS)')
    .action(async (ns: string, type: string, json: string | undefined, o: { url?: string; session?: string; where?: string[]; attrNs?: string }) => {
      const payload = parseJson(json);
      await withPeer(o.url, async (peer) => {
        const s = peer.session();
        if (o.session) {
          await s.notify(ns, type, o.session, payload);
        } else {
          const terms = (o.where ?? []).map((w) => {
            const i = w.indexOf('=');
            if (i < 0) throw new PlexusError('BAD_REQUEST', `--where needs key=value: ${w}`);
            return equal(w.slice(0, i), w.slice(i + 1));
          });
          let c: Constraint = terms.length === 0 ? none : terms.length === 1 ? terms[0]! : and(...terms);
          if (o.attrNs) c = within(o.attrNs, c);
          await s.notifyMany(ns, type, c, payload);
        }
        process.stderr.write('plexus bus: sent\n');
      });
    });
}
