// A plexus server with only the graph mount, for crash tests: prints {"url": ...} once listening.
// Usage: node --import tsx test/graph/helpers/serve.ts <dataDir> [port]
import { startServer } from '../../../src/server/http.js';
import { graphMount } from '../../../src/server/graph.js';

const s = await startServer({ port: Number(process.argv[3] ?? 0), dataDir: process.argv[2]!, logLevel: 'silent', mounts: [graphMount] });
process.stdout.write(JSON.stringify({ url: s.url }) + '\n');
