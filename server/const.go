package server

import "time"

// VERSION is the NATS server version whose behaviour this server implements.
// Clients switch features on by it, so it tracks the reference, not our own
// release numbering.
const VERSION = "2.15.2"

// Protocol and server defaults, matching the reference.
const (
	// PROTO is the client protocol version advertised in INFO.
	PROTO = 1
	// JSApiLevel is the JetStream API level advertised in INFO.
	JSApiLevel = 5

	DEFAULT_PORT                   = 4222
	DEFAULT_HOST                   = "0.0.0.0"
	RANDOM_PORT                    = -1
	MAX_PAYLOAD_SIZE               = 1024 * 1024
	MAX_CONTROL_LINE_SIZE          = 4096
	MAX_PENDING_SIZE               = 64 * 1024 * 1024
	DEFAULT_MAX_CONNECTIONS        = 64 * 1024
	DEFAULT_PING_INTERVAL          = 2 * time.Minute
	DEFAULT_PING_MAX_OUT           = 2
	DEFAULT_WRITE_DEADLINE         = 10 * time.Second
	AUTH_TIMEOUT                   = 2 * time.Second
	DEFAULT_LAME_DUCK_DURATION     = 2 * time.Minute
	DEFAULT_LAME_DUCK_GRACE_PERIOD = 10 * time.Second

	// Read buffer sizing: start small so idle connections cost little,
	// grow when reads fill the buffer, shrink after a run of short reads.
	startBufSize   = 512
	minBufSize     = 64
	maxBufSize     = 64 * 1024
	shortsToShrink = 2

	// Outbound chunk sizing for the per-connection write queue.
	minOutChunk = 512
	maxOutChunk = 64 * 1024

	// Per-connection cache of subject match results.
	maxResultCache = 128

	// Ring of recently closed connections kept for /connz?state=closed.
	DEFAULT_MAX_CLOSED_CLIENTS = 10000

	// How long Shutdown waits for writers to flush before closing sockets.
	closeFlushTimeout = time.Second
)
