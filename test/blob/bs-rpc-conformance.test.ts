import { after } from 'node:test';
import { RpcStore } from '../../src/blob/bs/rpc-store.js';
import { startServer, type PlexusServer } from '../../src/server/http.js';
import { blobMount, type BlobMount } from '../../src/server/blob.js';
import { blobStoreConformance } from '../conformance/blob-store.js';
import { tmpDir } from '../helpers/tmp.js';

const servers: { server: PlexusServer; rm(): void }[] = [];
after(async () => { for (const s of servers) { await s.server.close(); s.rm(); } });

// RpcStore through a real gRPC connection to `plexus serve`'s bs rpc.Store service.
blobStoreConformance('rpc (bs gRPC to plexus serve)', async () => {
  const d = tmpDir();
  const server = await startServer({ port: 0, dataDir: d.path, logLevel: 'silent', mounts: [blobMount], env: {} });
  servers.push({ server, rm: d.rm });
  const grpc = (server.mounts.find((m) => m.name === 'blob') as BlobMount).grpcAddress;
  const stores: RpcStore[] = [];
  const open = async () => { const s = new RpcStore(grpc); stores.push(s); return s; };
  return { store: await open(), cleanup: async () => { for (const s of stores) await s.close(); }, open };
}, { concurrentWriters: 24 }); // every write swaps the one map root over gRPC; bs-rpc.test.ts runs 48 writers on 4 names

