package server

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"
)

// STREAM.SNAPSHOT and STREAM.RESTORE with the reference's chunk and ack
// protocol (observed on v2.15.2), so that `nats stream backup` and
// `nats stream restore` work against this server and their files move
// between it and the reference. The archive itself is store_snapshot.go's.
//
// Snapshot: the response ({config, state}) goes first; then, once someone
// listens on deliver_subject (waiting up to 2 s), full chunks are published
// there with reply $JS.SNAPSHOT.ACK.<stream>.<id>.<bytes>.<index>, at most
// window/chunk of them unacknowledged (any message on an ack subject frees
// one slot, waiting at most 5 s); the last, short chunk has no reply; an
// empty message ends it ("NATS/1.0 204" header when full chunks were sent).
//
// Restore: the response names $JS.SNAPSHOT.RESTORE.<stream>.<id>; each
// chunk published there is answered with an empty message once consumed;
// an empty chunk ends the upload and is answered with the stream's info or
// err 10062. The archive is restored into a store outside the streams
// directory and moved in only when complete, so a failed or stalled restore
// leaves nothing behind.

const (
	jsSnapshotDeliverInvalid = "JSSnapshotDeliverSubjectInvalidErr"
	jsStreamSnapshot         = "JSStreamSnapshotErrF"
	jsStreamRestore          = "JSStreamRestoreErrF"
	jsStreamNameExistRestore = "JSStreamNameExistRestoreFailedErr"
	jsRestoreSubscribeFailed = "JSRestoreSubscribeFailedErrF"

	jsSnapshotAckPrefix     = "$JS.SNAPSHOT.ACK."
	jsSnapshotRestorePrefix = "$JS.SNAPSHOT.RESTORE."

	jsSnapDefaultChunk  = 128 << 10
	jsSnapMinChunk      = 1 << 10
	jsSnapMaxChunk      = 1 << 20
	jsSnapDefaultWindow = 8 << 20
	jsSnapMaxWindow     = 32 << 20
	jsSnapInterestWait  = 2 * time.Second
	jsSnapAckWait       = 5 * time.Second
	jsRestoreStall      = 5 * time.Second
	// jsRestoreMaxQueued bounds the chunk bytes received but not yet
	// written; a client that does not wait for acks past it is cut off.
	jsRestoreMaxQueued = 64 << 20
)

// jsSnapshotErrorIdentifiers lists the catalogue entries raised here, for
// the test that checks each exists.
var jsSnapshotErrorIdentifiers = []string{jsSnapshotDeliverInvalid, jsStreamSnapshot, jsStreamRestore,
	jsStreamNameExistRestore, jsRestoreSubscribeFailed}

// jsSnapshotRequest is the body of STREAM.SNAPSHOT.
type jsSnapshotRequest struct {
	DeliverSubject string `json:"deliver_subject"`
	NoConsumers    bool   `json:"no_consumers,omitempty"`
	ChunkSize      int    `json:"chunk_size,omitempty"`
	WindowSize     int    `json:"window_size,omitempty"`
	CheckMsgs      bool   `json:"jsck,omitempty"`
}

// JSApiStreamSnapshotResponse answers STREAM.SNAPSHOT before the chunks.
type JSApiStreamSnapshotResponse struct {
	ApiResponse
	Config *StreamConfig `json:"config,omitempty"`
	State  *StreamState  `json:"state,omitempty"`
}

func (ja *jsAccount) apiStreamSnapshot(r *jsAPIRequest, args []string) any {
	var req jsSnapshotRequest
	if e := r.decodeRequired(&req); e != nil {
		return errResponse(e)
	}
	st := ja.lookupStream(args[0])
	switch {
	case st == nil:
		return errResponse(jsError(jsStreamNotFound))
	case req.DeliverSubject == "":
		return errResponse(jsError(jsBadRequest))
	case !IsValidLiteralSubject(req.DeliverSubject):
		return errResponse(jsError(jsSnapshotDeliverInvalid))
	}
	cfg := st.cfg()
	cfg.Created = nil
	var ss StreamState
	st.store.FastState(&ss)
	ja.respond(r, jsAPIHandler{respType: "stream_snapshot_response"}, &JSApiStreamSnapshotResponse{Config: &cfg, State: &ss})
	ja.adviseSnapshotCreate(st.name, ss, r.client)
	go st.sendSnapshot(&req, r.client)
	return nil
}

// archiveConsumers is every consumer as the archive carries it: its
// configuration and its live state (newer than the stored one until the
// next flush; memory-stored consumers have no other).
func (st *stream) archiveConsumers() []ArchiveConsumer {
	list := st.listedConsumers()
	out := make([]ArchiveConsumer, 0, len(list))
	for _, c := range list {
		c.mu.Lock()
		cfg, state := c.cfg, c.state.snapshot()
		c.mu.Unlock()
		raw, err := json.Marshal(&cfg)
		if err != nil {
			continue
		}
		out = append(out, ArchiveConsumer{Name: c.name, Config: raw, State: state})
	}
	return out
}

// snapshotSizes clamps chunk and window as the reference does.
func snapshotSizes(req *jsSnapshotRequest) (chunk, window int) {
	chunk, window = req.ChunkSize, req.WindowSize
	if chunk <= 0 {
		chunk = jsSnapDefaultChunk
	}
	chunk = min(max(chunk, jsSnapMinChunk), jsSnapMaxChunk)
	if window <= 0 {
		window = jsSnapDefaultWindow
	}
	window = max(min(max(window, jsSnapMinChunk), jsSnapMaxWindow), chunk)
	return chunk, window
}

// sendSnapshot streams the archive to the requester; it runs on its own
// goroutine, the archive being written by another into a pipe.
func (st *stream) sendSnapshot(req *jsSnapshotRequest, requester *client) {
	s, acc, deliver := st.ja.js.srv, st.ja.acc, req.DeliverSubject
	start := time.Now()
	if !st.waitInterest(deliver, jsSnapInterestWait) {
		st.ja.adviseSnapshotComplete(st.name, start, time.Now(), requester, errors.New("no interest"))
		return
	}
	chunk, window := snapshotSizes(req)
	id := jsRandomID()
	acks := make(chan struct{}, window/chunk+1)
	ackPrefix := jsSnapshotAckPrefix + st.name + "." + id + "."
	unsub, err := s.SubscribeInternal(acc, ackPrefix+">", "", func(_, _ string, _, _ []byte) {
		select {
		case acks <- struct{}{}:
		default:
		}
	})
	if err != nil {
		st.snapshotStatus(deliver, "500 "+err.Error())
		st.ja.adviseSnapshotComplete(st.name, start, time.Now(), requester, err)
		return
	}
	defer unsub()
	pr, pw := io.Pipe()
	var cons []ArchiveConsumer
	if !req.NoConsumers {
		cons = st.archiveConsumers()
	}
	go func() { pw.CloseWithError(WriteArchive(pw, st.store, cons)) }()
	defer pr.Close()
	status := st.pumpSnapshot(pr, deliver, ackPrefix, chunk, window/chunk, acks)
	st.snapshotStatus(deliver, status)
	var failed error
	if status != "" && status != "204" {
		failed = errors.New(status)
	}
	st.ja.adviseSnapshotComplete(st.name, start, time.Now(), requester, failed)
}

// pumpSnapshot sends the chunks and returns the end marker's status ("204"
// or "" for a plain empty message, else the failure).
func (st *stream) pumpSnapshot(pr io.Reader, deliver, ackPrefix string, chunk, maxOut int, acks chan struct{}) string {
	s, acc := st.ja.js.srv, st.ja.acc
	buf := make([]byte, chunk)
	out, full := 0, 0
	for {
		n, err := io.ReadFull(pr, buf)
		if n < chunk {
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return "500 " + err.Error()
			}
			if n > 0 {
				s.PublishInternal(acc, deliver, "", nil, buf[:n])
			}
			if full > 0 {
				return "204"
			}
			return ""
		}
		for ; out >= maxOut; out-- {
			select {
			case <-acks:
			case <-time.After(jsSnapAckWait):
				return "408 No Flow Response"
			case <-st.ja.js.api.quit:
				return "500 " + ErrStoreClosed.Error()
			}
		}
		if !st.hasInterest(deliver) {
			return "408 No Interest"
		}
		full++
		out++
		reply := ackPrefix + strconv.Itoa(chunk) + "." + strconv.Itoa(full)
		s.PublishInternal(acc, deliver, reply, nil, buf)
	}
}

// snapshotStatus ends a snapshot: a status line, or an empty message.
func (st *stream) snapshotStatus(deliver, status string) {
	var hdr []byte
	if status != "" {
		hdr = []byte("NATS/1.0 " + status + "\r\n\r\n")
	}
	st.ja.js.srv.PublishInternal(st.ja.acc, deliver, "", hdr, nil)
}

func (st *stream) hasInterest(subject string) bool {
	r := st.ja.acc.sl.Match(subject)
	return len(r.psubs) > 0 || len(r.qsubs) > 0
}

// hasOwnSubscriber reports a subscription on exactly subject: clients ask
// for a snapshot from a request inbox that a wildcard of theirs already
// matches, and subscribe to the deliver subject only once answered.
func (st *stream) hasOwnSubscriber(subject string) bool {
	r := st.ja.acc.sl.Match(subject)
	for _, sub := range r.psubs {
		if sub.subject == subject {
			return true
		}
	}
	for _, q := range r.qsubs {
		for _, sub := range q {
			if sub.subject == subject {
				return true
			}
		}
	}
	return false
}

// waitInterest waits up to d for a subscriber of subject's own, as the
// reference does, then settles for any interest at all.
func (st *stream) waitInterest(subject string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !st.hasOwnSubscriber(subject) {
		if time.Now().After(deadline) {
			return st.hasInterest(subject)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// jsRandomID is a 22-character base62 identifier, as the reference's.
func jsRandomID() string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [22]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return string(b[:])
}

// jsRestoreRequest is the body of STREAM.RESTORE.
type jsRestoreRequest struct {
	Config json.RawMessage `json:"config"`
	State  json.RawMessage `json:"state,omitempty"`
}

// JSApiStreamRestoreResponse answers STREAM.RESTORE.
type JSApiStreamRestoreResponse struct {
	ApiResponse
	DeliverSubject string `json:"deliver_subject"`
}

func (ja *jsAccount) apiStreamRestore(r *jsAPIRequest, args []string) any {
	fail := func(e *ApiError) any { return &JSApiStreamRestoreResponse{ApiResponse: ApiResponse{Error: e}} }
	var req jsRestoreRequest
	if e := r.decodeRequired(&req); e != nil {
		return fail(e)
	}
	cfg, e := restoreConfig(req.Config, args[0], ja.js.strict)
	if e != nil {
		return fail(e)
	}
	if ja.lookupStream(cfg.Name) != nil {
		return fail(jsError(jsStreamNameExistRestore))
	}
	if e := ja.checkReservation(cfg); e != nil {
		return fail(e)
	}
	rs, e := ja.startRestore(cfg, r.client)
	if e != nil {
		return fail(e)
	}
	ja.adviseRestoreCreate(cfg.Name, r.client)
	return &JSApiStreamRestoreResponse{DeliverSubject: rs.subject}
}

// restoreConfig decodes and checks a restore's config as STREAM.CREATE
// does; an empty name takes the subject's.
func restoreConfig(raw json.RawMessage, name string, strict bool) (*StreamConfig, *ApiError) {
	var req StreamConfigRequest
	if len(raw) > 0 {
		if e := decodeJSON(raw, &req, strict); e != nil {
			return nil, e
		}
	}
	if req.Name == "" {
		req.Name = name
	}
	if req.Name != name {
		return nil, jsError(jsStreamMismatch)
	}
	if f := req.unsupported(); f != "" {
		return nil, jsError(jsStreamInvalidConfig, f+" is not supported yet")
	}
	cfg := req.StreamConfig
	cfg.Created = nil
	setStreamDefaults(&cfg)
	if e := checkStreamConfig(&cfg); e != nil {
		return nil, e
	}
	if cfg.Replicas > 1 {
		return nil, jsError(jsStreamReplicasNotSupp)
	}
	return &cfg, nil
}
