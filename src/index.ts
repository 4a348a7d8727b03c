/**
 * plexus: shared state for real-time distributed apps. The modules are separate entry points —
 * `plexus/graph`, `plexus/bus`, `plexus/ledger`, `plexus/blob`, `plexus/server` — so an app loads only
 * what it uses; this root entry exports what they share: errors and limits.
 */
export { PlexusError, isPlexusError, ERROR_CODES, type ErrorCode } from './errors.js';
export * as limits from './limits.js';
