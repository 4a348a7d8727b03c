/**
 * Every limit plexus enforces, in one place, with its default. The README's "Limits" table lists these;
 * keep the two in step. Each module owns its section.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

// ---- text (every module) -------------------------------------------------------------------------
/** Deepest nesting of arrays / objects accepted in any structured input (graph messages, ledger bodies, bus payloads, JSON request bodies); deeper → BAD_REQUEST. */
export const MAX_NESTING_DEPTH = 64;

// ---- server ---------------------------------------------------------------------------------------
/** Largest HTTP request body accepted by JSON endpoints (anchors, api). */
export const MAX_JSON_BODY_BYTES = 1 * MiB;
/** Largest single blob accepted by `PUT /blob/:ref` and `POST /blob`. Bigger data: use putStream. */
export const MAX_BLOB_BYTES = 64 * MiB;
/** Largest gRPC message the bs rpc.Store service and RpcStore accept (a MAX_BLOB_BYTES blob plus framing); bigger is RESOURCE_EXHAUSTED. */
export const GRPC_MAX_MESSAGE_BYTES = MAX_BLOB_BYTES + 64 * KiB;
/** Largest URL (path + query) accepted. */
export const MAX_URL_BYTES = 8 * KiB;
/** Time a client has to send a whole request body before the server gives up (ms). */
export const REQUEST_BODY_TIMEOUT_MS = 60_000;
/** Time given to open connections to finish on graceful shutdown before they are cut (ms). */
export const SHUTDOWN_GRACE_MS = 5_000;
/** Open TCP connections (HTTP + WebSocket) the server accepts in total; more are answered 429 and closed. Config `maxConnections`. */
export const MAX_CONNECTIONS = 10_000;
/** Open TCP connections from one IP address; more are answered 429 and closed. Config `maxConnectionsPerIp`. */
export const MAX_CONNECTIONS_PER_IP = 2_000;
/** HTTP requests per second one connection may make (token bucket, burst of one second); more get 429 RATE_LIMITED. Config `httpRequestsPerSecond`. */
export const HTTP_REQUESTS_PER_SECOND = 1_000;
/** Largest WebSocket frame the server lets through on any path (each module may set a lower one); bigger frames close the socket with 1009. Config `wsMaxFrameBytes`. */
export const WS_MAX_FRAME_BYTES = 16 * MiB;
/**
 * WebSocket messages per second one connection may send (token bucket, burst of one second); more close it with 1008. Config `wsMessagesPerSecond`.
 * A flood guard, not the memory guard: it lets one pipelining client run at full speed (a ledger hub client does 30-60k publishes/s),
 * while what a connection can make the server hold is bounded by the memory budget and per-connection caps (LEDGER_MAX_REQUESTS_IN_FLIGHT, GRAPH_MAX_PENDING_PER_PEER).
 */
export const WS_MESSAGES_PER_SECOND = 100_000;
/** WebSocket bytes per second one connection may send (bucket holds one second plus one largest frame); more close it with 1008. Config `wsBytesPerSecond`. */
export const WS_BYTES_PER_SECOND = 32 * MiB;
/** The one server-wide memory budget (estimated heap bytes) for work connections make the server hold: graph subscriptions, JSON request bodies and big WebSocket messages being read, blob transfers, replies / pushes waiting in WebSocket send buffers, ledger events held for slow subscribers; past it new work is refused (RATE_LIMITED, or a socket that does not read is closed with 1013) and counted. */
export const SERVER_MEMORY_BUDGET_BYTES = 128 * MiB;
/** The part of SERVER_MEMORY_BUDGET_BYTES long-lived holdings (graph subscriptions, ledger topics and monitors) may take; the rest stays for replies and requests under way. */
export const SERVER_SUBSCRIPTION_BUDGET_BYTES = 64 * MiB;
/** One connection's share of SERVER_MEMORY_BUDGET_BYTES for graph subscriptions, request bodies and messages being received. */
export const SERVER_MEMORY_SHARE_BYTES = 16 * MiB;
/** One WebSocket's share of SERVER_MEMORY_BUDGET_BYTES for bytes waiting to be written to it (/gun, /evt); a frame that would pass it is not sent and the socket is closed with 1013. When the total runs out, the sockets with the largest queues are closed first. */
export const WS_MAX_QUEUED_BYTES = 16 * MiB;
/** WebSocket messages this big or bigger are charged to SERVER_MEMORY_BUDGET_BYTES (the connection's share) while they are being received; no room: the socket is closed with 1008. Smaller ones are part of SERVER_CONNECTION_BYTES. */
export const WS_CHARGED_FRAME_BYTES = 4 * KiB;
/** After closing a WebSocket that does not read (1013), the time its close handshake gets before the socket is cut (ms). */
export const WS_SLOW_CLOSE_GRACE_MS = 2_000;
/** Estimated resident bytes one open connection costs outside the budget (socket, parser and WebSocket state, WebSocket messages under WS_CHARGED_FRAME_BYTES; kernel buffers not counted), used in README's worst case; an idle WebSocket measured 16.5 KiB. */
export const SERVER_CONNECTION_BYTES = 32 * KiB;
/** Time the dashboard's bus call (`POST /api/bus/call`) waits for a response (ms). */
export const DASHBOARD_BUS_CALL_TIMEOUT_MS = 10_000;

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
/** Average children per tree node of a stream: a child closes its node when its ref, read as a number, falls in the lowest 1/CHUNK_FANOUT of the range (content-defined node boundaries). */
export const CHUNK_FANOUT = 64;
/** Most children of one stream tree node (a boundary is forced here; 40 bytes per child). */
export const CHUNK_NODE_MAX_CHILDREN = 8 * CHUNK_FANOUT;
/** How long a FileStore anchor write waits for the lock on `anchormapref` (bs's lock file, held by another plexus or a Go bs writer) before CONFLICT (ms). */
export const FILE_STORE_LOCK_WAIT_MS = 10_000;
/** Blob puts (putStream) and gets (getStream read-ahead) a stream keeps in flight at once. */
export const CHUNK_IO_CONCURRENCY = 4;
/** Blobs are read, streamed and (in SQLite and PostgreSQL) stored in parts of this size, so a GET or an upload holds at most one part in memory. */
export const BLOB_PART_BYTES = 1 * MiB;
/** SQLite blob store: blob bytes committed after which a background (worker thread) WAL checkpoint starts (SQLite's default 1,000 pages at our 64 KiB pages). */
export const BLOB_SQLITE_CHECKPOINT_BYTES = 64 * MiB;
/** SQLite blob store: WAL bytes after which puts wait for a checkpoint so the WAL restarts (bounds the WAL file); `walMaxBytes` overrides it. */
export const BLOB_SQLITE_WAL_MAX_BYTES = 1024 * MiB;

// ---- graph ----------------------------------------------------------------------------------------
// (owned by src/graph)
/** Largest WebSocket frame the graph relay accepts (bytes); bigger frames close the connection (ws maxPayload). */
export const GRAPH_MAX_FRAME_BYTES = 4 * MiB;
/** Most messages in one array frame; the rest are dropped, counted and answered with an err. */
export const GRAPH_MAX_MESSAGES_PER_FRAME = 1000;
/** Longest soul (node id), in UTF-16 code units. */
export const GRAPH_MAX_SOUL_LENGTH = 1024;
/** Longest field name, in UTF-16 code units. */
export const GRAPH_MAX_FIELD_LENGTH = 1024;
/** Longest string value, in UTF-16 code units. */
export const GRAPH_MAX_VALUE_LENGTH = 256 * KiB;
/** Most fields one put message may carry (over all its nodes). */
export const GRAPH_MAX_FIELDS_PER_PUT = 20_000;
/** Longest message id (`#`, `@`) accepted. */
export const GRAPH_MAX_ID_LENGTH = 64;
/** How far ahead of the receiver's clock a state may be and still be deferred (ms); beyond: INVALID_STATE. */
export const GRAPH_MAX_FUTURE_MS = 60 * 60_000;
/** How long a message id is remembered for de-duplication (ms, gun uses 9 s). */
export const GRAPH_DEDUP_WINDOW_MS = 9_000;
/** Most message ids remembered for de-duplication (oldest forgotten first): a fixed cap outside the memory budget, counted in README's worst case. */
export const GRAPH_DEDUP_MAX_IDS = 200_000;
/** Estimated heap bytes one remembered message id holds (a GRAPH_MAX_ID_LENGTH id, its map entry and expiry; about 133 bytes measured), for README's worst case. */
export const GRAPH_DEDUP_ID_BYTES = 160;
/** Interval of the `[]` heartbeat frame a relay sends to every peer (ms, as gun). */
export const GRAPH_HEARTBEAT_MS = 20_000;
/** Largest reply frame a relay sends (bytes); bigger nodes are split into several replies (gun Q20). */
export const GRAPH_MAX_REPLY_FRAME_BYTES = 32 * KiB;
/** Messages a relay keeps queued per connection; beyond that they are dropped, counted and answered with an err. */
export const GRAPH_MAX_PENDING_PER_PEER = 2_000;
/** Estimated heap bytes one graph subscription holds on a relay besides its key (map entries, peer set: 370-470 B measured in all with 50-character souls, so this errs high), charged to the budget with 2 bytes per key character on top. */
export const GRAPH_SUBSCRIPTION_BYTES = 768;
/** Most subscriptions (souls or soul.field) one connection may hold on a relay. */
export const GRAPH_MAX_SUBSCRIPTIONS_PER_PEER = 50_000;
/** Most fields one lexical get returns. */
export const GRAPH_MAX_LEX_FIELDS = 10_000;
/** A relay asks a connection back for the souls it reads within this long after connecting (ms): a reconnecting gun client re-reads what it holds, possibly with edits made while the relay was away. */
export const GRAPH_ASK_BACK_MS = 5_000;
/** For this long after a relay starts (ms), a client's get is also asked of the other connections, and each connection that says hello is asked for the souls others read: after a restart the relay knows nothing of what its reconnecting clients hold. */
export const GRAPH_ASK_AFTER_START_MS = 10_000;
/** For this long after a gun relay that had dialed this relay went away (ms), this relay behaves as just after its own start (it asks the connections that say hello, and all connections on a get): the gun relay, restarted or redialing, has forgotten which souls this relay asked it for, and gun relays forward a write only to the peers that asked. */
export const GRAPH_ASK_AFTER_DIALER_LOST_MS = 30_000;
/** Souls (changed last) a restarted relay asks each reconnecting connection about, within GRAPH_ASK_AFTER_START_MS. */
export const GRAPH_ASK_RECENT_SOULS = 256;
/** Most souls a relay asks one connection back for, and most souls it remembers a connection wrote. */
export const GRAPH_ASK_MAX_SOULS_PER_PEER = 1_024;
/** Most other connections (writers of the soul, relay peers) one client get is forwarded to. */
export const GRAPH_GET_FANOUT = 8;
/** A relay asks the same connection for the same soul at most once per this interval (ms). */
export const GRAPH_ASK_INTERVAL_MS = 1_000;
/** Relay peering (--peer): first and largest redial delay (ms), doubled with jitter after each failed dial. */
export const GRAPH_PEER_MIN_DELAY_MS = 250;
export const GRAPH_PEER_MAX_DELAY_MS = 15_000;
/** Public keys (imported WebCrypto keys or Node KeyObjects) a relay keeps cached for SEA signature checks (LRU). */
export const GRAPH_SEA_MAX_KEYS = 10_000;
/** Signatures a relay remembers as verified (LRU of public key, signature and signed digest, about 300 bytes each), so a signed field that comes again (a peer's echo, a client's resend or answer) is not verified again. */
export const GRAPH_SEA_MAX_VERIFIED = 10_000;
/** Client reconnect backoff: first and largest delay (ms), doubled with jitter after each failed dial. */
export const GRAPH_RECONNECT_MIN_DELAY_MS = 100;
export const GRAPH_RECONNECT_MAX_DELAY_MS = 5_000;
/** Time a client `put` waits for the first ack before rejecting with TIMEOUT (the write stays queued). */
export const GRAPH_PUT_TIMEOUT_MS = 10_000;
/** Time a client `once` waits for remote answers; it resolves early once every peer answered. */
export const GRAPH_ONCE_TIMEOUT_MS = 3_000;
/** After the first remote answer, how long `once` waits for more replies (chunks, other peers) (ms). */
export const GRAPH_ONCE_QUIET_MS = 50;
/** Most unacked writes a client keeps in its outbox; beyond that `put` fails with RATE_LIMITED. */
export const GRAPH_MAX_OUTBOX = 100_000;

// ---- bus ------------------------------------------------------------------------------------------
// (owned by src/bus)
/** rinq's default command call timeout (ms), used when a call gives no `timeoutMs`. */
export const BUS_DEFAULT_TIMEOUT_MS = 5_000;
/** Largest command / notification payload (CBOR bytes) sent or accepted; bigger ones are rejected. */
export const BUS_MAX_PAYLOAD_BYTES = 1 * MiB;
/** Unacknowledged AMQP deliveries per consumer (requests, responses, notifications). */
export const BUS_PREFETCH = 64;
/** Time a handler of a request WITHOUT deadline (execute) may run before its delivery is rejected (ms). */
export const BUS_HANDLER_TIMEOUT_MS = 60_000;
/** Deepest nesting of a notifyMany constraint accepted from the wire. */
export const BUS_MAX_CONSTRAINT_DEPTH = 32;
/** Longest namespace / command / notification type, in characters. */
export const BUS_MAX_NAME_LENGTH = 255;
/** Reconnect backoff after the broker connection drops: first and largest delay (ms). */
export const BUS_RECONNECT_MIN_DELAY_MS = 100;
export const BUS_RECONNECT_MAX_DELAY_MS = 5_000;
/** Remote sessions whose revision state and attribute cache a peer remembers (least recently seen dropped). */
export const BUS_MAX_REMOTE_SESSIONS = 10_000;

// ---- ledger ---------------------------------------------------------------------------------------
// (owned by src/ledger)
/** Largest hub WebSocket frame (bytes); bigger frames close the connection (ws maxPayload). */
export const LEDGER_MAX_FRAME_BYTES = 1 * MiB;
/** Most actions in one transaction; more → TOO_LARGE. */
export const LEDGER_MAX_ACTIONS_PER_TRANS = 1_000;
/** Largest JSON body of one transaction's actions (bytes); more → TOO_LARGE. */
export const LEDGER_MAX_TRANS_BYTES = 512 * KiB;
/** Longest topic name / record key, in UTF-16 code units. */
export const LEDGER_MAX_TOPIC_LENGTH = 255;
export const LEDGER_MAX_KEY_LENGTH = 1024;
/** Longest transaction id (`tid`), user name and request token. */
export const LEDGER_MAX_ID_LENGTH = 128;
/** evt's fixed push window (ms). The hub pushes adaptively (at once to an idle subscriber, coalesced while a push is in flight) unless `--evt-batch-ms` (mount option `batchMs`) sets a window; this is evt's own value for it. */
export const LEDGER_BATCH_WINDOW_MS = 200;
/** Most topics one connection may subscribe to, and most monitors it may hold. */
export const LEDGER_MAX_TOPICS_PER_CONN = 1_000;
export const LEDGER_MAX_MONITORS_PER_CONN = 1_000;
/** Most pending transactions one `evt.sat` may carry. */
export const LEDGER_MAX_SAT_TRANS = 1_000;
/** Time a hub client request waits for its reply before rejecting with TIMEOUT (ms). */
export const LEDGER_REQUEST_TIMEOUT_MS = 10_000;
/** Hub client / satellite reconnect backoff: first and largest delay (ms). */
export const LEDGER_RECONNECT_MIN_DELAY_MS = 100;
export const LEDGER_RECONNECT_MAX_DELAY_MS = 5_000;
/** Updates a hub client keeps queued per subscription before dropping the oldest (slow consumer). */
export const LEDGER_MAX_QUEUED_UPDATES = 10_000;
/** Most events in one hub reply or push; a longer catch-up continues in further `evt.update` pushes. */
export const LEDGER_MAX_EVENTS_PER_UPDATE = 1_000;
/** Requests (publishes included) one hub connection may have unanswered; past it the hub stops reading the connection (TCP backpressure) until half of them are answered. */
export const LEDGER_MAX_REQUESTS_IN_FLIGHT = 1_024;
/** Events the hub holds for one subscriber while a push or catch-up to it is under way (slow consumer); one more closes the connection (1013) and the client catches up when it reconnects. Bytes waiting in its socket are bounded by WS_MAX_QUEUED_BYTES. */
export const LEDGER_MAX_PENDING_EVENTS = 10_000;
/** SQLite ledger: pages committed after which a background (worker thread) WAL checkpoint starts (SQLite's own default). */
export const LEDGER_SQLITE_CHECKPOINT_PAGES = 1_000;
/** SQLite ledger: WAL pages after which publishes wait for a checkpoint so the WAL restarts (64 MiB at 4 KiB pages). */
export const LEDGER_SQLITE_WAL_MAX_PAGES = 16_384;
