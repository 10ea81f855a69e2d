package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A restore in progress (see jetstream_api_snapshot.go for the protocol).
// Chunks arrive on the publisher's goroutine, which only queues them; the
// restore's goroutine writes them into a pipe read by RestoreSnapshot,
// which fills a store of its own, and acknowledges each chunk once it has
// been consumed. The stream is registered only when the whole archive is in.

var errRestoreStalled = errors.New("restore stalled")

type restoreChunk struct {
	data  []byte
	reply string
}

type restoreResult struct {
	state *StreamState
	cons  []ArchiveConsumer
	err   error
}

// activeRestores holds the directories of the file restores in progress;
// any other directory under an account's restore/ is what a crash left.
var activeRestores sync.Map

// removeStaleRestores deletes what restores cut short by a crash left.
func removeStaleRestores(root string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if _, active := activeRestores.Load(dir); !active {
			_ = os.RemoveAll(dir)
		}
	}
}

type streamRestore struct {
	ja      *jsAccount
	cfg     *StreamConfig
	subject string
	tmpDir  string // file streams: where the store is built
	chunks  chan restoreChunk
	queued  atomic.Int64 // chunk bytes received, not yet written
	abortCh chan struct{}
	once    sync.Once
	unsub   func()

	requester *client // for the advisories
	start     time.Time
	received  int64 // archive bytes, owned by the restore's goroutine
}

// startRestore subscribes the upload subject and starts the goroutine that
// builds the store.
func (ja *jsAccount) startRestore(cfg *StreamConfig, requester *client) (*streamRestore, *ApiError) {
	id := jsRandomID()
	rs := &streamRestore{ja: ja, cfg: cfg, subject: jsSnapshotRestorePrefix + cfg.Name + "." + id,
		chunks: make(chan restoreChunk, 1024), abortCh: make(chan struct{}), requester: requester, start: time.Now()}
	if cfg.Storage == FileStorage {
		root := filepath.Join(ja.js.storeDir, ja.acc.Name, "restore")
		removeStaleRestores(root)
		rs.tmpDir = filepath.Join(root, id)
		activeRestores.Store(rs.tmpDir, true)
	}
	store, err := ja.openRestoreStore(cfg, rs.tmpDir)
	if err != nil {
		return nil, jsError(jsStreamRestore, err)
	}
	unsub, err := ja.js.srv.SubscribeInternal(ja.acc, rs.subject, "", rs.onChunk)
	if err != nil {
		_ = store.Delete()
		return nil, jsError(jsRestoreSubscribeFailed, rs.subject, err)
	}
	rs.unsub = unsub
	go rs.run(store)
	return rs, nil
}

// openRestoreStore opens the store a restore fills: in memory, or a file
// store in dir under the stream's own keys.
func (ja *jsAccount) openRestoreStore(cfg *StreamConfig, dir string) (StreamStore, error) {
	if cfg.Storage == MemoryStorage {
		return NewMemStore(cfg)
	}
	fcfg, err := ja.js.srv.getOpts().StreamFileStoreConfig(ja.acc.Name, cfg.Name)
	if err != nil {
		return nil, err
	}
	fcfg.Dir, fcfg.Logf = dir, ja.js.srv.Warnf
	return NewFileStore(fcfg, cfg)
}

// onChunk runs on the publisher's goroutine: copy and queue only. A chunk
// without a reply, or a client running too far ahead, aborts the restore.
func (rs *streamRestore) onChunk(_, reply string, _, msg []byte) {
	if reply == "" || rs.queued.Add(int64(len(msg))) > jsRestoreMaxQueued {
		rs.abort()
		return
	}
	select {
	case rs.chunks <- restoreChunk{data: bytes.Clone(msg), reply: strings.Clone(reply)}:
	default:
		rs.abort()
	}
}

func (rs *streamRestore) abort() { rs.once.Do(func() { close(rs.abortCh) }) }

func (rs *streamRestore) run(store StreamStore) {
	defer rs.unsub()
	defer activeRestores.Delete(rs.tmpDir)
	pr, pw := io.Pipe()
	result := make(chan restoreResult, 1)
	go func() {
		state, cons, err := RestoreArchive(pr, store)
		if err != nil {
			pr.CloseWithError(err)
		} else {
			_, _ = io.Copy(io.Discard, pr) // whatever follows the archive
		}
		result <- restoreResult{state, cons, err}
	}()
	stall := time.NewTimer(jsRestoreStall)
	defer stall.Stop()
	s := rs.ja.js.srv
	for {
		select {
		case c := <-rs.chunks:
			rs.queued.Add(-int64(len(c.data)))
			if len(c.data) == 0 {
				_ = pw.Close()
				rs.finish(store, <-result, c.reply)
				return
			}
			// A write error means the archive is bad: the chunks are still
			// acknowledged, and the error answers the end of the upload.
			rs.received += int64(len(c.data))
			_, _ = pw.Write(c.data)
			s.PublishInternal(rs.ja.acc, c.reply, "", nil, nil)
			stall.Reset(jsRestoreStall)
		case <-stall.C:
			rs.fail(store, pw, result, errRestoreStalled)
			return
		case <-rs.ja.js.api.quit:
			rs.fail(store, pw, result, ErrStoreClosed)
			return
		case <-rs.abortCh:
			rs.fail(store, pw, result, errors.New("restore aborted by the client"))
			return
		}
	}
}

func (rs *streamRestore) fail(store StreamStore, pw *io.PipeWriter, result chan restoreResult, err error) {
	pw.CloseWithError(err)
	<-result
	_ = store.Delete()
	rs.ja.js.srv.Warnf("JetStream restore of stream '%s > %s' failed: %v", rs.ja.acc.Name, rs.cfg.Name, err)
}

// finish registers the restored stream, or discards it, and answers the
// upload's last message.
func (rs *streamRestore) finish(store StreamStore, res restoreResult, reply string) {
	var resp any
	st, err := rs.register(store, res)
	if err != nil {
		_ = store.Delete()
		resp = errResponse(jsError(jsStreamRestore, err))
	} else {
		rs.ja.restoreConsumers(st, res.cons)
		resp = &JSApiStreamCreateResponse{StreamInfo: st.info(true, false)}
	}
	if env := apiEnvelope(resp); env != nil {
		env.Type = jsAPITypePrefix + "stream_create_response"
	}
	if data, err := json.Marshal(resp); err == nil && reply != "" {
		rs.ja.js.srv.PublishInternal(rs.ja.acc, reply, "", nil, data)
	}
	rs.ja.adviseRestoreComplete(rs.cfg.Name, rs.start, time.Now(), rs.received, rs.requester)
}

// register moves a complete restore in under the stream's name, with the
// same checks as a create.
func (rs *streamRestore) register(store StreamStore, res restoreResult) (*stream, error) {
	if res.err != nil {
		return nil, res.err
	}
	ja, cfg := rs.ja, *rs.cfg
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if e := rs.checkFree(&cfg); e != nil {
		return nil, fmt.Errorf("error adding stream: %s (%s)", e.Description, strconv.Itoa(int(e.ErrCode)))
	}
	now := time.Now().UTC()
	cfg.Created = &now
	if cfg.Storage == MemoryStorage {
		return ja.registerStream(&cfg, now, store)
	}
	if err := store.Stop(); err != nil {
		return nil, err
	}
	fcfg, err := ja.js.srv.getOpts().StreamFileStoreConfig(ja.acc.Name, cfg.Name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(fcfg.Dir); !os.IsNotExist(err) {
		return nil, fmt.Errorf("stream directory %q already exists", cfg.Name)
	}
	if err := os.MkdirAll(filepath.Dir(fcfg.Dir), 0o750); err != nil {
		return nil, err
	}
	if err := os.Rename(rs.tmpDir, fcfg.Dir); err != nil {
		return nil, err
	}
	return ja.addStream(&cfg, now)
}

func (rs *streamRestore) checkFree(cfg *StreamConfig) *ApiError {
	switch {
	case rs.ja.lookupStream(cfg.Name) != nil:
		return jsError(jsStreamNameExist)
	case rs.ja.subjectsTaken(cfg.Subjects, ""):
		return jsError(jsStreamSubjectOverlap)
	}
	return rs.ja.checkReservation(cfg)
}

// restoreConsumers recreates an archive's consumers on the stream just
// restored, each checked as a create and carrying on from its state; one
// this server refuses is logged and left out, the stream kept.
func (ja *jsAccount) restoreConsumers(st *stream, cons []ArchiveConsumer) {
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	for i := range cons {
		if err := ja.restoreConsumer(st, &cons[i]); err != nil {
			ja.js.srv.Warnf("JetStream restore of stream '%s > %s': consumer '%s' not restored: %v",
				ja.acc.Name, st.name, cons[i].Name, err)
		}
	}
}

func (ja *jsAccount) restoreConsumer(st *stream, ac *ArchiveConsumer) error {
	req := &CreateConsumerRequest{Stream: st.name}
	if err := json.Unmarshal(ac.Config, &req.Config); err != nil {
		return err
	}
	if st.lookupConsumer(ac.Name) != nil {
		return errors.New("a consumer of that name exists")
	}
	a := &consumerCreateArgs{stream: st.name, name: ac.Name, req: req, accountConsumers: ja.consumerCount()}
	cfg, e := ja.checkConsumerCreate(st, a, nil, st.otherConfigs(nil))
	if e != nil {
		return e
	}
	return st.addRestoredConsumer(ac.Name, cfg, ac.State)
}

// addRestoredConsumer is createConsumer positioned by a saved state rather
// than by the deliver policy.
func (st *stream) addRestoredConsumer(name string, cfg *ConsumerConfig, saved *ConsumerState) error {
	var cs ConsumerStore = &consumerMemStore{}
	if !cfg.MemoryStorage {
		var err error
		if cs, err = st.store.ConsumerStore(name); err != nil {
			return err
		}
	}
	c := st.newConsumer(name, cfg, time.Now().UTC(), cs)
	c.state.restore(&c.cfg, saved)
	c.state.dirty = true
	err := c.saveMeta()
	if err == nil {
		err = c.flushState()
	}
	if err != nil {
		_ = cs.Delete()
		return err
	}
	st.registerConsumer(c)
	c.rearm()
	c.adminRecovered()
	return nil
}
