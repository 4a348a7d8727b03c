/**
 * Every limit plexus enforces, in one place, with its default. The README's "Limits" table lists these;
 * keep the two in step. Each module owns its section.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

// ---- server ---------------------------------------------------------------------------------------
/** Largest HTTP request body accepted by JSON endpoints (anchors, api). */
export const MAX_JSON_BODY_BYTES = 1 * MiB;
/** Largest single blob accepted by `PUT /blob/:ref` and `POST /blob`. Bigger data: use putStream. */
export const MAX_BLOB_BYTES = 64 * MiB;
/** Largest URL (path + query) accepted. */
export const MAX_URL_BYTES = 8 * KiB;
/** Time a client has to send a whole request body before the server gives up (ms). */
export const REQUEST_BODY_TIMEOUT_MS = 60_000;
/** Time given to open connections to finish on graceful shutdown before they are cut (ms). */
export const SHUTDOWN_GRACE_MS = 5_000;

// ---- blob -----------------------------------------------------------------------------------------
/** Longest anchor name, in UTF-8 bytes. */
export const MAX_ANCHOR_NAME_BYTES = 1024;
/** Retries of `updateAnchors` on CONFLICT before giving up (with jittered backoff). */
export const ANCHOR_UPDATE_RETRIES = 50;
/** Content-defined chunking for putStream: target average chunk size is 2^CHUNK_SPLIT_BITS bytes. */
export const CHUNK_SPLIT_BITS = 16;
/** Smallest chunk (bytes) putStream cuts, except the last one. */
export const CHUNK_MIN_BYTES = 16 * KiB;
/** Largest chunk (bytes) putStream cuts; a boundary is forced here. */
export const CHUNK_MAX_BYTES = 1 * MiB;
/** Children per tree node of a stream. */
export const CHUNK_FANOUT = 64;

// ---- graph ----------------------------------------------------------------------------------------
// (owned by src/graph)

// ---- bus ------------------------------------------------------------------------------------------
// (owned by src/bus)

// ---- ledger ---------------------------------------------------------------------------------------
// (owned by src/ledger)
