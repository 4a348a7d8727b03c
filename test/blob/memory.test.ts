import { MemoryStore } from '../../src/blob/store/memory.js';
import { blobStoreConformance } from '../conformance/blob-store.js';

blobStoreConformance('memory', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));
