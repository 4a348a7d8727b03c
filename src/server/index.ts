/** plexus/server: run every plexus module on one HTTP port. */
export { startServer, type PlexusServer, type StartOptions } from './http.js';
export { resolveConfig, DEFAULT_PORT, type ServerConfig } from './config.js';
export type { Mount, MountContext, MountFactory } from './mount.js';
export { defaultMounts } from './mounts.js';
