package server

import (
	"crypto/rand"
	"io"
	"slices"
	"sync"
)

// MemStore is the memory implementation of StreamStore.
type MemStore struct {
	storeCore
	msgs      map[uint64]*msMsg
	consumers map[string]*msConsumer
}

// msMsg keeps no subject: the index's copy serves, so a message does not
// pin its publisher's buffer.
type msMsg struct {
	buf  []byte // Headers then payload.
	hlen int
	ttl  int64
}

var _ StreamStore = (*MemStore)(nil)

// NewMemStore creates an empty memory store for cfg.
func NewMemStore(cfg *StreamConfig) (*MemStore, error) {
	if cfg == nil {
		return nil, ErrStoreBadConfig
	}
	ms := &MemStore{msgs: make(map[uint64]*msMsg), consumers: make(map[string]*msConsumer)}
	c := *cfg
	c.Storage = MemoryStorage
	ms.init(&c, ms)
	if cfg.FirstSeq > 1 {
		ms.idx.skipTo(cfg.FirstSeq-1, 0)
	}
	return ms, nil
}

func (ms *MemStore) storePut(seq uint64, subj string, hdr, msg []byte, ts, ttl int64) (uint64, error) {
	buf := make([]byte, len(hdr)+len(msg))
	copy(buf, hdr)
	copy(buf[len(hdr):], msg)
	ms.msgs[seq] = &msMsg{buf: buf, hlen: len(hdr), ttl: ttl}
	return 0, nil
}

func (ms *MemStore) storeGet(seq uint64, sl *storeSlot, sm *StoreMsg) error {
	m := ms.msgs[seq]
	if m == nil {
		return ErrStoreMsgNotFound
	}
	sm.copyFrom(ms.idx.subjs[sl.subj].name, m.buf[:m.hlen], m.buf[m.hlen:], seq, sl.ts, m.ttl)
	return nil
}

func (ms *MemStore) storeDrop(seq uint64, _ storeSlot, kind storeDropKind) error {
	m := ms.msgs[seq]
	if m == nil {
		return nil
	}
	delete(ms.msgs, seq)
	if kind == storeDropErase {
		// Readers got copies, so the only other reference is gone: overwrite.
		_, _ = rand.Read(m.buf)
	}
	return nil
}

func (ms *MemStore) storeSkip(uint64, int64) error { return nil }
func (ms *MemStore) storeFloor(uint64) error       { return nil }

func (ms *MemStore) storeTruncate(seq uint64) error {
	for s := range ms.msgs {
		if s > seq {
			delete(ms.msgs, s)
		}
	}
	return nil
}

func (ms *MemStore) storeSetConfig(*StreamConfig) error { return nil }
func (ms *MemStore) storeTicket() uint64                { return 0 }
func (ms *MemStore) storeCommit(uint64) error           { return nil }
func (ms *MemStore) storeLockIO() func()                { return storeNoUnlock }

func storeNoUnlock() {}

// Type implements StreamStore.
func (ms *MemStore) Type() StorageType { return MemoryStorage }

// Stop implements StreamStore.
func (ms *MemStore) Stop() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.stopCoreLocked()
	return nil
}

// Delete implements StreamStore.
func (ms *MemStore) Delete() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.stopCoreLocked()
	ms.msgs = make(map[uint64]*msMsg)
	ms.idx = newStoreIndex()
	return nil
}

// Snapshot implements StreamStore.
func (ms *MemStore) Snapshot(w io.Writer) error {
	ms.mu.Lock()
	cons := make(map[string]*ConsumerState, len(ms.consumers))
	for name, o := range ms.consumers {
		if st, err := o.State(); err == nil {
			cons[name] = st
		}
	}
	ms.mu.Unlock()
	return storeWriteSnapshot(w, &ms.storeCore, storeNamedConsumers(cons))
}

// ConsumerStore implements StreamStore.
func (ms *MemStore) ConsumerStore(name string) (ConsumerStore, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return nil, ErrStoreClosed
	}
	if o, ok := ms.consumers[name]; ok {
		return o, nil
	}
	o := &msConsumer{ms: ms, name: name}
	ms.consumers[name] = o
	ms.ncons++
	return o, nil
}

// msConsumer keeps a consumer's state in memory, encoded so that callers
// never share maps with the store.
type msConsumer struct {
	mu   sync.Mutex
	ms   *MemStore
	name string
	enc  []byte
	meta []byte // the configuration (consumerMetaStore)
}

// ConsumerNames implements consumerNamesStore: a replicated memory
// stream's follower keeps its consumers here until it leads and starts
// them (recoverConsumers).
func (ms *MemStore) ConsumerNames() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	names := make([]string, 0, len(ms.consumers))
	for name := range ms.consumers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// The memory store keeps consumer configs too (a replicated memory
// stream's new leader starts its consumers from them).
var _ consumerMetaStore = (*msConsumer)(nil)

// WriteMeta implements consumerMetaStore.
func (o *msConsumer) WriteMeta(meta []byte, _ bool) error {
	o.mu.Lock()
	o.meta = slices.Clone(meta)
	o.mu.Unlock()
	return nil
}

// Meta implements consumerMetaStore.
func (o *msConsumer) Meta() ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.meta == nil {
		return nil, ErrStoreBadConsumerState
	}
	return slices.Clone(o.meta), nil
}

func (o *msConsumer) Update(st *ConsumerState) error {
	if err := storeCheckConsumerState(st); err != nil {
		return err
	}
	enc := storeEncodeConsumerState(st)
	o.mu.Lock()
	o.enc = enc
	o.mu.Unlock()
	return nil
}

func (o *msConsumer) State() (*ConsumerState, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.enc == nil {
		return &ConsumerState{}, nil
	}
	return storeDecodeConsumerState(o.enc)
}

func (o *msConsumer) Stop() error { return nil }

func (o *msConsumer) Delete() error {
	o.ms.mu.Lock()
	defer o.ms.mu.Unlock()
	if o.ms.consumers[o.name] == o {
		delete(o.ms.consumers, o.name)
		o.ms.ncons--
	}
	return nil
}
