import type { MountFactory } from './mount.js';

/**
 * The modules `plexus serve` mounts, in order. Each module adds its factory here (one line).
 */
export const defaultMounts: MountFactory[] = [];
