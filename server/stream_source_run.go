package server

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The copy of one origin into a stream (its mirror, or one of its
// sources): a goroutine per origin that pulls from an originReader in
// sequence order and hands batches to the stream's ingest goroutine, the
// stream's only writer, waiting for each batch to be stored before reading
// on. It sleeps on the origin's append signal when caught up and on the
// server's stream-created signal while the origin is missing, so an idle
// copy costs nothing.
//
// Where a copy stands is never kept apart from the messages: a mirror is
// at its last sequence (the origin's), a source at the origin sequence in
// the Nats-Stream-Source header of the last message it stored. A restart,
// even after kill -9, resumes from what the store holds, so nothing is
// copied twice or skipped.

const (
	sourceBatchMsgs   = 256
	sourceBatchBytes  = 1 << 20
	sourceRetryDelay  = 2 * time.Second
	sourceLagScanStop = 100000 // a filtered lag counts at most this many
)

var errMaxPayloadSourced = errors.New("maximum payload exceeded")

// sourcedMsg marks an ingest queue entry as copied from an origin.
type sourcedMsg struct {
	run       *sourceRun
	subject   string // the origin's subject, before any transform
	originSeq uint64
	ts        int64
	last      bool // the batch's last: the run waits for it
}

// sourceRun is the copy of one origin.
type sourceRun struct {
	st     *stream
	cfg    *StreamSource
	mirror bool
	iname  string
	xforms []sourceXform
	filter string // for the origin lookup: the only filter, or ">"

	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
	wake   chan struct{} // the origin appended (buffered 1)
	stored chan error    // the batch is stored (buffered 1)

	// Written by the ingest goroutine during a batch, read by the run once
	// the batch is stored.
	batchPos uint64
	batchErr error

	ident  string // identity of the origin copied from (run goroutine only)
	warned bool   // the missing origin was logged (run goroutine only)

	dur *durableCopy // durable sourcing (cfg.Consumer), else nil

	mu     sync.Mutex // guards the fields below; leaf
	origin originReader
	pos    uint64 // last origin sequence copied or passed over
	err    *ApiError
}

func newSourceRun(st *stream, src *StreamSource, mirror bool) *sourceRun {
	r := &sourceRun{st: st, cfg: src, mirror: mirror, iname: sourceIndexName(src),
		xforms: sourceXforms(src), filter: ">", quit: make(chan struct{}), done: make(chan struct{}),
		wake: make(chan struct{}, 1), stored: make(chan error, 1)}
	if len(r.xforms) == 1 {
		r.filter = r.xforms[0].filter
	}
	if src.Consumer != nil || st.isExternalOrigin(src) {
		r.dur = &durableCopy{reset: make(chan durableDelivery, 1)}
	}
	return r
}

// startSourcing starts the stream's copies and tells the copies waiting
// for an origin that a stream appeared. Called once the stream is
// registered.
func (st *stream) startSourcing() {
	cfg := st.cfg()
	if !st.answersHere() {
		st.ja.js.origins.fire() // a replica that does not lead copies nothing
		return
	}
	var runs []*sourceRun // made before locking: newSourceRun looks up the origin
	for _, src := range cfg.originsOf() {
		runs = append(runs, newSourceRun(st, src, cfg.Mirror != nil))
	}
	st.src.mu.Lock()
	for _, r := range runs {
		st.src.runs = append(st.src.runs, r)
		go r.run()
	}
	st.src.mu.Unlock()
	st.ja.js.origins.fire()
}

// updateSourcing stops the copies whose origin left the config and starts
// those of new ones; unchanged ones carry on.
func (st *stream) updateSourcing() {
	if !st.answersHere() {
		return
	}
	cfg := st.cfg()
	want := cfg.originsOf()
	st.src.mu.Lock()
	var keep, drop []*sourceRun
	for _, r := range st.src.runs {
		i := indexOfSource(want, r.cfg)
		if i < 0 || r.mirror != (cfg.Mirror != nil) {
			drop = append(drop, r)
			continue
		}
		keep = append(keep, r)
		want = append(want[:i:i], want[i+1:]...)
	}
	st.src.runs = keep
	st.src.mu.Unlock()
	for _, r := range drop {
		r.stop()
	}
	runs := make([]*sourceRun, 0, len(want))
	for _, src := range want {
		runs = append(runs, newSourceRun(st, src, false))
	}
	st.src.mu.Lock()
	for _, r := range runs {
		st.src.runs = append(st.src.runs, r)
		go r.run()
	}
	st.src.mu.Unlock()
}

func indexOfSource(list []*StreamSource, src *StreamSource) int {
	for i, s := range list {
		if reflect.DeepEqual(s, src) {
			return i
		}
	}
	return -1
}

// stopSourcing stops the stream's copies (each finishes the batch it
// handed to ingest) and lets go of the readers copying from it. Called
// before the stream's ingest stops.
func (st *stream) stopSourcing() {
	st.src.closed.Store(true)
	st.haltSourcing()
	st.notifyAppend() // readers of this stream see it is gone
}

func (r *sourceRun) stop() {
	r.once.Do(func() { close(r.quit) })
	<-r.done
}

func (r *sourceRun) run() {
	defer close(r.done)
	pos, ident := r.recoverPos()
	r.setPos(pos)
	r.ident = ident
	switch {
	case r.cfg.Consumer != nil:
		r.runDurable()
		return
	case r.dur != nil:
		r.runExternal()
		return
	}
	for {
		created := r.st.ja.js.origins.wait()
		started := r.st.ja.js.srv.jetStreamStarted() // before looking: see setOrigin
		o, e := r.st.ja.resolveOrigin(r.cfg)
		r.setOrigin(o, e, started)
		if o == nil {
			select {
			case <-r.quit:
				return
			case <-created:
				continue
			}
		}
		if r.follow(o) {
			return
		}
	}
}

// setOrigin records the origin found (or the error), logging as the
// reference does when the origin is missing. During start-up an origin may
// simply not be recovered yet: that is logged only if it was still missing
// when looked for after JetStream was up (started was read before looking).
func (r *sourceRun) setOrigin(o originReader, e *ApiError, started bool) {
	r.mu.Lock()
	r.origin, r.err = o, e
	r.mu.Unlock()
	s := r.st.ja.js.srv
	if e == nil {
		r.warned = false
	}
	switch {
	case e != nil && !r.warned && started:
		r.warned = true
		s.Warnf("JetStream error response for create %s consumer: %s (%d)", r.kind(), e.Description, e.ErrCode)
	case o == nil && e == nil:
		s.Debugf("JetStream %s %q of '%s > %s' is not on this server, waiting for it",
			r.kind(), r.cfg.Name, r.st.ja.acc.Name, r.st.name)
	}
}

func (r *sourceRun) kind() string {
	if r.mirror {
		return "mirror"
	}
	return "source"
}

// follow copies from o until the run stops (true) or o goes away (false).
func (r *sourceRun) follow(o originReader) bool {
	defer o.watch(r.wake)()
	if id := o.identity(); id != r.ident {
		if r.ident != "" && !r.mirror {
			r.setPos(0) // the origin was recreated: a source takes it from its start
		}
		r.ident = id
	}
	r.applyStart(o)
	var sm StoreMsg
	for {
		select {
		case <-r.quit:
			return true
		default:
		}
		if !o.alive() {
			return false
		}
		n, err := r.copyBatch(o, &sm)
		if err != nil {
			r.logStoreError(err)
			select {
			case <-r.quit:
				return true
			case <-time.After(sourceRetryDelay):
			}
			continue
		}
		if n > 0 {
			continue
		}
		select {
		case <-r.quit:
			return true
		case <-r.wake:
		}
	}
}

func (r *sourceRun) logStoreError(err error) {
	s, acc := r.st.ja.js.srv, r.st.ja.acc.Name
	if errors.Is(err, ErrStoreMsgTooLarge) {
		err = errMaxPayloadSourced // the reference's words
	}
	if r.mirror {
		s.Warnf("Error processing inbound mirror message for '%s' > '%s': %v", acc, r.st.name, err)
		return
	}
	x := r.xforms[0]
	s.Warnf("Error processing inbound source %q for '%s' > '%s': %v", r.iname+" "+x.filter+" "+x.dest, acc, r.st.name, err)
}

// applyStart places a copy that has copied nothing yet at its configured
// start: opt_start_seq, else the first message at opt_start_time, else
// the origin's beginning.
func (r *sourceRun) applyStart(o originReader) {
	if r.getPos() > 0 {
		return
	}
	switch {
	case r.cfg.OptStartSeq > 0:
		r.setPos(r.cfg.OptStartSeq - 1)
	case r.cfg.OptStartTime != nil:
		if seq := o.seqAtTime(*r.cfg.OptStartTime); seq > 0 {
			r.setPos(seq - 1)
		} else {
			_, last, _ := o.state()
			r.setPos(last)
		}
	}
}

func (r *sourceRun) getPos() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

func (r *sourceRun) setPos(pos uint64) {
	r.mu.Lock()
	r.pos = pos
	r.mu.Unlock()
}

// copyBatch reads up to a batch from the origin, has ingest store it and
// waits for that. It returns how many origin messages it went through.
func (r *sourceRun) copyBatch(o originReader, sm *StoreMsg) (int, error) {
	seq, size, seen := r.getPos()+1, 0, 0
	var scanned uint64
	ident := o.identity()
	batch := make([]*inMsg, 0, 16)
	for len(batch) < sourceBatchMsgs && size < sourceBatchBytes && seen < 4*sourceBatchMsgs {
		m, err := o.next(r.filter, seq, sm)
		if err != nil {
			break
		}
		scanned, seq = m.Seq, m.Seq+1
		seen++
		if in := r.translate(m, ident); in != nil {
			batch = append(batch, in)
			size += len(in.hdr) + len(in.msg)
		}
	}
	if len(batch) == 0 {
		if scanned > 0 {
			r.setPos(scanned)
		}
		return seen, nil
	}
	batch[len(batch)-1].sourced.last = true
	return seen, r.storeBatch(batch, scanned)
}

// storeBatch has ingest store batch (its last entry marked) and waits for
// that; the copy is then at top, or at the last message stored before an
// error.
func (r *sourceRun) storeBatch(batch []*inMsg, top uint64) error {
	r.batchPos, r.batchErr = 0, nil
	r.st.enqueueSourced(batch)
	// Even when stopping, wait: the ingest goroutine outlives the run.
	err := <-r.stored
	switch {
	case err == nil:
		r.setPos(top)
	case r.batchPos > 0:
		r.setPos(r.batchPos)
	}
	return err
}

// translate turns an origin message into the ingest entry to store, nil
// when no filter of the copy takes it. sm's buffers are reused by the next
// load, so the payload is copied.
func (r *sourceRun) translate(m *StoreMsg, ident string) *inMsg {
	x := r.match(m.Subject)
	if x == nil {
		return nil
	}
	subj := m.Subject
	if x.t != nil {
		subj = string(x.t.apply(nil, m.Subject))
	}
	var hdr []byte
	if r.mirror {
		hdr = mirroredHeader(m.Hdr)
	} else {
		hdr = sourcedHeader(m.Hdr, r.iname+" "+strconv.FormatUint(m.Seq, 10)+" "+x.filter+" "+x.dest+" "+m.Subject+" "+ident)
	}
	return &inMsg{subject: subj, hdr: hdr, msg: bytes.Clone(m.Msg),
		sourced: &sourcedMsg{run: r, subject: m.Subject, originSeq: m.Seq, ts: m.TS}}
}

// mirroredHeader is the origin's header block, without the headers the
// reference drops when mirroring.
func mirroredHeader(hdr []byte) []byte {
	if len(hdr) == 0 {
		return nil
	}
	if !bytes.Contains(hdr, []byte("Nats-Expected-")) && !bytes.Contains(hdr, []byte("Nats-Batch-")) &&
		!bytes.Contains(hdr, []byte(hdrStreamSource)) {
		return bytes.Clone(hdr)
	}
	return sourcedHeader(hdr, "")
}

// match returns the first filter of the copy that subject matches.
func (r *sourceRun) match(subject string) *sourceXform {
	for i := range r.xforms {
		if f := r.xforms[i].filter; f == ">" || SubjectMatchesFilter(subject, f) {
			return &r.xforms[i]
		}
	}
	return nil
}

// enqueueSourced hands a batch to the stream's ingest goroutine. The
// publishers' buffer limits do not apply: a copy has one batch in flight.
func (st *stream) enqueueSourced(batch []*inMsg) {
	q := st.in
	q.mu.Lock()
	for _, m := range batch {
		q.msgs = append(q.msgs, m)
		q.size += len(m.msg) + len(m.hdr)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// storeSourced stores one copied message on the ingest goroutine. After a
// failure the rest of the batch is not stored (the copy retries from the
// failed message), so a copy never leaves a gap.
func (st *stream) storeSourced(m *inMsg) {
	sm := m.sourced
	r := sm.run
	if r.batchErr == nil {
		var err error
		if r.mirror {
			err = st.storeMirrored(m)
		} else {
			err = st.storeFromSource(m)
		}
		if err != nil {
			r.batchErr = err
		} else {
			r.batchPos = sm.originSeq
			st.notifyAppend()
		}
	}
	if sm.last {
		r.stored <- r.batchErr
	}
}

// storeFromSource stores a sourced message as a new message of the
// stream, deduplicated by Nats-Msg-Id within the duplicate window.
func (st *stream) storeFromSource(m *inMsg) error {
	cfg := st.cfg()
	if cfg.Sealed {
		return jsError(jsStreamSealed)
	}
	msgID, _ := headerValue(m.hdr, hdrMsgID)
	if msgID != "" && cfg.Duplicates > 0 {
		if _, dup := st.isDuplicate(msgID, cfg.Duplicates); dup {
			return nil
		}
	}
	if cfg.AllowMsgCounter {
		if err := st.countSourced(m, m.sourced.run.cfg.Name, m.sourced.subject); err != nil {
			return err
		}
	}
	if st.overLimit() {
		return jsError(jsInsufficientResources)
	}
	seq, ts, err := st.storeProduced(m.subject, m.hdr, m.msg, 0)
	if err != nil {
		return err
	}
	st.noteStored(m.subject, m.hdr, m.msg)
	st.in.lastMsgID = msgID
	if msgID != "" && cfg.Duplicates > 0 {
		st.in.dedupe[msgID] = dedupeEntry{seq: seq, ts: ts}
		st.in.dedupeLog = append(st.in.dedupeLog, dedupeKey{id: msgID, ts: ts})
	}
	return nil
}

// recoverPos finds where the copy stands from what the stream stored: a
// mirror's last sequence, or the origin sequence (and origin identity) of
// the newest message this source stored, scanning back from the end.
func (r *sourceRun) recoverPos() (uint64, string) {
	var ss StreamState
	r.st.store.FastState(&ss)
	if r.mirror {
		return ss.LastSeq, ""
	}
	keys := make(map[string]bool, len(r.xforms))
	for _, x := range r.xforms {
		keys[r.iname+" "+x.filter+" "+x.dest] = true
	}
	var sm StoreMsg
	for seq := ss.LastSeq; seq >= ss.FirstSeq && seq > 0; seq-- {
		if seq%4096 == 0 && r.stopping() {
			return 0, ""
		}
		m, err := r.st.store.LoadMsg(seq, &sm)
		if err != nil {
			continue
		}
		if pos, ident, ok := sourcePosFromHeader(m.Hdr, keys); ok {
			return pos, ident
		}
	}
	return 0, ""
}

func (r *sourceRun) stopping() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

// sourcePosFromHeader reads "<index name> <origin seq> <filter> <dest>
// <subject> [<identity>]" and returns the sequence and identity if the
// source is one of keys.
func sourcePosFromHeader(hdr []byte, keys map[string]bool) (uint64, string, bool) {
	v, ok := headerValue(hdr, hdrStreamSource)
	if !ok {
		return 0, "", false
	}
	f := strings.Fields(v)
	if len(f) < 4 || !keys[f[0]+" "+f[2]+" "+f[3]] {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	ident := ""
	if len(f) >= 6 {
		ident = f[5]
	}
	return seq, ident, err == nil
}

// sourcingInfo is the mirror and sources part of StreamInfo.
func (st *stream) sourcingInfo() (*StreamSourceInfo, []*StreamSourceInfo) {
	st.src.mu.Lock()
	runs := append([]*sourceRun(nil), st.src.runs...)
	st.src.mu.Unlock()
	var mirror *StreamSourceInfo
	var sources []*StreamSourceInfo
	for _, r := range runs {
		if r.mirror {
			mirror = r.info()
		} else {
			sources = append(sources, r.info())
		}
	}
	return mirror, sources
}

// info is the copy's StreamSourceInfo: active is how long ago the origin
// was last reached (a local origin is reached right here, so it is the
// time this check took), -1 when it cannot be reached.
func (r *sourceRun) info() *StreamSourceInfo {
	r.mu.Lock()
	o, pos, e := r.origin, r.pos, r.err
	r.mu.Unlock()
	si := &StreamSourceInfo{Name: r.cfg.Name, External: r.cfg.External, Active: -1, Error: e,
		FilterSubject: r.cfg.FilterSubject, SubjectTransforms: r.cfg.SubjectTransforms}
	if r.mirror {
		// What the mirror stored is where it stands, even before its copy
		// goroutine notes the batch done.
		var ss StreamState
		r.st.store.FastState(&ss)
		pos = max(pos, ss.LastSeq)
	} else {
		si.Seq = pos
	}
	if r.dur != nil {
		r.durableInfo(si)
		return si
	}
	if o == nil {
		return si
	}
	start := time.Now()
	if o.alive() {
		si.Lag = r.lag(o, pos)
		si.Active = max(time.Since(start), 1)
	}
	return si
}

// lag counts the origin's messages after pos that the copy will take.
func (r *sourceRun) lag(o originReader, pos uint64) uint64 {
	first, last, msgs := o.state()
	if last <= pos {
		return 0
	}
	if r.filter == ">" && len(r.xforms) == 1 {
		from := max(pos+1, first)
		return min(last-from+1, msgs)
	}
	var n uint64
	var sm StoreMsg
	seq := pos + 1
	for i := 0; i < sourceLagScanStop; i++ {
		m, err := o.next(r.filter, seq, &sm)
		if err != nil {
			break
		}
		if r.match(m.Subject) != nil {
			n++
		}
		seq = m.Seq + 1
	}
	return n
}

// createdInfo is the StreamInfo answering a create. The reference answers
// before its copies reach their origins, so they show as not yet active
// (and a mirror without its filter); the same here, whatever the copies
// did meanwhile, so the answer does not depend on timing.
func (st *stream) createdInfo() *StreamInfo {
	si := st.info(true, false)
	fresh := func(si *StreamSourceInfo) {
		si.Lag, si.Seq, si.Active, si.Error = 0, 0, -1, nil
	}
	if si.Mirror != nil {
		fresh(si.Mirror)
		si.Mirror.FilterSubject = ""
	}
	for _, s := range si.Sources {
		fresh(s)
	}
	return si
}

// jetStreamStarted reports whether JetStream finished starting (every
// stream recovered).
func (s *Server) jetStreamStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info.JetStream
}
