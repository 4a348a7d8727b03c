import type { MountFactory } from './mount.js';
import { blobMount } from './blob.js';
import { busMount } from './bus.js';
import { ledgerMount } from './ledger.js';
import { graphMount } from './graph.js';

/**
 * The modules `plexus serve` mounts, in order. Each module adds its factory here (one line).
 */
export const defaultMounts: MountFactory[] = [
  blobMount,
  busMount,
  ledgerMount,
  graphMount,
];
