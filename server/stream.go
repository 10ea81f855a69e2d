package server

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stream is one JetStream stream: its config, its store, the internal
// subscriptions on its subjects and its ingest goroutine (stream_ingest.go).
type stream struct {
	ja      *jsAccount
	name    string
	store   StreamStore
	created time.Time

	mu     sync.RWMutex // guards config and subs; leaf
	config StreamConfig
	subs   map[string]func() // subject -> unsubscribe

	in        *ingestQueue
	ackPrefix []byte          // the PubAck's JSON up to the sequence
	batches   streamBatches   // atomic batches being staged; ingest-owned
	schedules streamSchedules // message schedules' timetable; ingest-owned
	retention streamRetention // interest/workqueue consumers (stream_retention.go)
	cons      streamConsumers // its consumers (consumer.go)

	// replicated: num_replicas > 1 (fixed for the stream's life); repl is
	// its member of the stream's Raft group once started.
	replicated bool
	repl       atomic.Pointer[streamRepl]

	ingestXforms *streamXforms  // owned by the ingest goroutine (stream_transform.go)
	src          streamSourcing // its mirror/sources and its readers (stream_source_run.go)
}

const (
	jsMaxNameLen        = 255
	jsMaxDescriptionLen = 4 * 1024
	jsMaxMetadataLen    = 128 * 1024
	jsDefaultDuplicates = 2 * time.Minute
	jsMinWindow         = 100 * time.Millisecond
	jsMaxReplicas       = 5
)

func (st *stream) cfg() StreamConfig {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.config
}

// streamNameBad reports a name the reference refuses: empty, too long, or
// holding whitespace, '.', '*', '>', '\' or '/'.
func streamNameBad(name string) bool {
	return name == "" || strings.ContainsAny(name, " \t\r\n\f.*>\\/")
}

// setStreamDefaults fills unset fields as the reference does.
func setStreamDefaults(c *StreamConfig) {
	if c.MaxConsumers == 0 {
		c.MaxConsumers = -1
	}
	if c.MaxMsgs == 0 {
		c.MaxMsgs = -1
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = -1
	}
	if c.MaxMsgsPer == 0 {
		c.MaxMsgsPer = -1
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = -1
	}
	if c.Storage == 0 {
		c.Storage = FileStorage
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 && !c.isSourcing() {
		c.Duplicates = jsDefaultDuplicates
		if c.MaxAge > 0 && c.MaxAge < c.Duplicates {
			c.Duplicates = c.MaxAge
		}
	}
	if len(c.Subjects) == 0 && !c.isSourcing() {
		c.Subjects = []string{c.Name}
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	delete(c.Metadata, "_nats.ver")
	delete(c.Metadata, "_nats.level")
	c.Metadata["_nats.req.level"] = strconv.Itoa(max(batchScheduleReqLevel(c), streamRequiredLevel(c), persistReqLevel(c)))
	setRePublishDefaults(c)
}

// checkStreamConfig validates a stream config in the reference's words
// (err 10052 unless the reference uses another code).
func checkStreamConfig(c *StreamConfig) *ApiError {
	invalid := func(msg string) *ApiError { return jsError(jsStreamInvalidConfig, msg) }
	switch {
	case strings.ContainsAny(c.Name, "\\/"):
		return jsError(jsStreamNamePathSep)
	case streamNameBad(c.Name):
		return invalid(`stream name is required and can not contain '.', '*', '>', '\', '/'`)
	case len(c.Name) > jsMaxNameLen:
		return invalid("stream name is too long, maximum allowed is 255")
	case len(c.Description) > jsMaxDescriptionLen:
		return invalid("stream description is too long, maximum allowed is 4096")
	case metadataLen(c.Metadata) > jsMaxMetadataLen:
		return invalid("stream metadata exceeds maximum size of 131072 bytes")
	}
	if e := checkPersistMode(c); e != nil {
		return e
	}
	switch {
	case c.Replicas < 0:
		return jsError(jsReplicasNegative)
	case c.Replicas > jsMaxReplicas:
		return invalid("maximum replicas is 5")
	case c.MaxAge < 0:
		return invalid("max age can not be negative")
	case c.MaxAge > 0 && c.MaxAge < jsMinWindow:
		return invalid("max age needs to be >= 100ms")
	case c.Duplicates < 0:
		return invalid("duplicates window can not be negative")
	case c.MaxAge > 0 && c.Duplicates > c.MaxAge:
		return invalid("duplicates window can not be larger then max age")
	case c.Duplicates > 0 && c.Duplicates < jsMinWindow:
		return invalid("duplicates window needs to be >= 100ms")
	case c.DenyPurge && c.AllowRollup:
		return invalid("roll-ups require the purge permission")
	}
	if e := checkMsgFeatureConfig(c); e != nil {
		return e
	}
	switch {
	case c.DiscardNewPer && c.Discard != DiscardNew:
		return invalid("discard new per subject requires discard new policy to be set")
	case c.DiscardNewPer && c.MaxMsgsPer <= 0:
		return invalid("discard new per subject requires max msgs per subject > 0")
	case c.MirrorDirect && c.Mirror == nil:
		return invalid("stream has no mirror but does have mirror direct")
	}
	if e := checkBatchScheduleConfig(c); e != nil {
		return e
	}
	if e := checkSourcingConfig(c); e != nil {
		return e
	}
	if e := checkStreamSubjects(c); e != nil {
		return e
	}
	return checkStreamXforms(c)
}

func metadataLen(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// checkStreamSubjects validates the subjects themselves.
func checkStreamSubjects(c *StreamConfig) *ApiError {
	invalid := func(msg string) *ApiError { return jsError(jsStreamInvalidConfig, msg) }
	seen := make(map[string]bool, len(c.Subjects))
	for i, s := range c.Subjects {
		if !IsValidSubject(s) {
			return invalid("invalid subject")
		}
		if seen[s] {
			return invalid("duplicate subjects detected")
		}
		seen[s] = true
		for _, o := range c.Subjects[:i] {
			if subjectsCollide(s, o) {
				return invalid("subject \"" + o + "\" overlaps with \"" + s + "\"")
			}
		}
		if c.NoAck {
			continue
		}
		switch {
		case s == ">":
			return invalid("capturing all subjects requires no-ack to be true")
		case subjectsCollide(s, "$JS.API.>"):
			return invalid("subjects that overlap with jetstream api require no-ack to be true")
		case subjectsCollide(s, "$SYS.>") && !strings.HasPrefix(s, "$SYS.ACCOUNT."):
			return invalid("subjects that overlap with system api require no-ack to be true")
		}
	}
	return nil
}

// streamList returns the account's streams sorted by name.
func (ja *jsAccount) streamList() []*stream {
	ja.mu.RLock()
	out := make([]*stream, 0, len(ja.streams))
	for _, st := range ja.streams {
		out = append(out, st)
	}
	ja.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (ja *jsAccount) lookupStream(name string) *stream {
	ja.mu.RLock()
	defer ja.mu.RUnlock()
	return ja.streams[name]
}

// subjectsTaken reports whether any of subjects collides with a subject of
// another stream than except.
func (ja *jsAccount) subjectsTaken(subjects []string, except string) bool {
	for _, st := range ja.streamList() {
		if st.name == except {
			continue
		}
		for _, a := range st.cfg().Subjects {
			for _, b := range subjects {
				if subjectsCollide(a, b) {
					return true
				}
			}
		}
	}
	return false
}

// openStore opens the stream's store: file streams under the account's
// directory with the server's encryption settings.
func (ja *jsAccount) openStore(cfg *StreamConfig) (StreamStore, error) {
	if cfg.Storage == MemoryStorage {
		return NewMemStore(cfg)
	}
	s := ja.js.srv
	fcfg, err := s.getOpts().StreamFileStoreConfig(ja.acc.Name, cfg.Name)
	if err != nil {
		return nil, err
	}
	fcfg.Logf = s.Warnf
	return NewFileStore(fcfg, cfg)
}

// addStream opens the store, subscribes the subjects and starts ingest.
// The caller holds no lock; ja.mu is taken to register the stream.
func (ja *jsAccount) addStream(cfg *StreamConfig, created time.Time) (*stream, error) {
	store, err := ja.openStore(cfg)
	if err != nil {
		return nil, err
	}
	return ja.registerStream(cfg, created, store)
}

// registerStream starts ingest on an open store, subscribes the subjects
// and registers the stream (restore hands in the store it filled).
func (ja *jsAccount) registerStream(cfg *StreamConfig, created time.Time, store StreamStore) (*stream, error) {
	st := &stream{ja: ja, name: cfg.Name, store: store, created: created, config: *cfg,
		replicated: cfg.Replicas > 1}
	st.initConsumers()
	st.startIngest()
	st.startSchedules()
	st.watchExpiry()
	if err := st.subscribe(); err != nil {
		st.stop()
		return nil, err
	}
	ja.mu.Lock()
	ja.streams[st.name] = st
	ja.mu.Unlock()
	st.startSourcing()
	return st, nil
}

// subscribe brings the stream's internal subscriptions in line with its
// subjects: subjects kept keep their subscription (so an update never
// opens a gap where publishes go unstored, nor a moment where two
// subscriptions store one message twice), new ones are added, dropped ones
// removed. Only the API workers (under createMu) and stream start call it.
func (st *stream) subscribe() error {
	cfg := st.cfg()
	st.mu.Lock()
	old := st.subs
	st.mu.Unlock()
	next := make(map[string]func(), len(cfg.Subjects))
	for _, subj := range cfg.Subjects {
		if unsub, ok := old[subj]; ok {
			next[subj] = unsub
			continue
		}
		unsub, err := st.ja.js.srv.SubscribeInternal(st.ja.acc, subj, "", st.onPublish)
		if err != nil {
			for s, u := range next {
				if _, kept := old[s]; !kept {
					u()
				}
			}
			return err
		}
		next[subj] = unsub
	}
	for subj, unsub := range old {
		if _, ok := next[subj]; !ok {
			unsub()
		}
	}
	st.mu.Lock()
	st.subs = next
	st.mu.Unlock()
	return nil
}

func (st *stream) unsubscribe() {
	st.mu.Lock()
	subs := st.subs
	st.subs = nil
	st.mu.Unlock()
	for _, u := range subs {
		u()
	}
}

// stop unsubscribes, drains ingest and closes the store.
func (st *stream) stop() {
	st.stopSourcing()
	st.unsubscribe()
	st.stopIngest()
	st.releaseIngestState()
	st.stopConsumers()
	if err := st.store.Stop(); err != nil && !errors.Is(err, ErrStoreClosed) {
		st.ja.js.srv.Warnf("JetStream stream '%s > %s' stop: %v", st.ja.acc.Name, st.name, err)
	}
}

// deleteStream removes the stream and everything it stored.
func (ja *jsAccount) deleteStream(st *stream) error {
	ja.mu.Lock()
	delete(ja.streams, st.name)
	ja.mu.Unlock()
	st.stopSourcing()
	st.unsubscribe()
	st.stopIngest()
	st.releaseIngestState()
	st.dropConsumers()
	return st.store.Delete()
}

func (ja *jsAccount) stopStreams() {
	for _, st := range ja.streamList() {
		st.stop()
	}
}

// recoverStream opens one stored stream, logging as the reference does.
func (ja *jsAccount) recoverStream(cfg *StreamConfig, dir string) {
	s := ja.js.srv
	start := time.Now()
	s.Noticef("  Starting restore for stream '%s > %s'", ja.acc.Name, cfg.Name)
	created := time.Now().UTC()
	if cfg.Created != nil {
		created = *cfg.Created
	} else if fi, err := os.Stat(filepath.Join(dir, fsMetaFile)); err == nil {
		created = fi.ModTime().UTC() // a meta file written before Created was kept
	}
	st, err := ja.addStream(cfg, created)
	if err != nil {
		s.Warnf("  Error recreating stream %q: %v", cfg.Name, err)
		return
	}
	var ss StreamState
	st.store.FastState(&ss)
	s.Noticef("  Restored %d messages for stream '%s > %s' in %v",
		ss.Msgs, ja.acc.Name, cfg.Name, time.Since(start).Round(time.Millisecond))
}

// recoverStreams opens every file stream stored for the account. A stream
// that cannot be opened (a wrong key, a damaged meta file) is logged and
// skipped: the rest of the server keeps working.
func (ja *jsAccount) recoverStreams() error {
	s := ja.js.srv
	dir := filepath.Join(ja.js.storeDir, ja.acc.Name, "streams")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		fcfg, err := s.getOpts().StreamFileStoreConfig(ja.acc.Name, e.Name())
		if err != nil {
			return err
		}
		cfg, err := ReadFileStoreConfig(fcfg, e.Name())
		if err != nil {
			s.Warnf("  Error recovering stream '%s > %s': %v", ja.acc.Name, e.Name(), err)
			continue
		}
		ja.recoverStream(cfg, fcfg.Dir)
	}
	return nil
}
