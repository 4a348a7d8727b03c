import { after } from 'node:test';
import { HttpStore } from '../../src/blob/store/http.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount } from '../../src/server/blob.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';

// The remote adapter passes the same suite as the local ones, against a real `plexus serve`.
const servers: { server: PlexusServer; rm(): void }[] = [];
after(async () => { for (const s of servers) { await s.server.close(); s.rm(); } });

blobStoreConformance('http (remote plexus serve)', async () => {
  const d = tmpDir();
  const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount] });
  servers.push({ server, rm: d.rm });
  return { store: new HttpStore(server.url), cleanup: async () => {}, open: async () => new HttpStore(server.url) };
});
