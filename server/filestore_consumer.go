package server

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// fsConsumer keeps one consumer's state in <Dir>/obs/<name>/o.dat: the
// state encoded by storeEncodeConsumerState, sealed with fsSealChecked
// under a key derived from the stream key and the consumer's name (clear
// when the stream is), replaced atomically on every update.
type fsConsumer struct {
	mu     sync.Mutex
	fs     *FileStore
	name   string
	dir    string
	closed atomic.Bool
}

const fsConsumerFile = "o.dat"

// ConsumerStore implements StreamStore.
func (fs *FileStore) ConsumerStore(name string) (ConsumerStore, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return nil, ErrStoreBadConfig
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil, ErrStoreClosed
	}
	old, ok := fs.consumers[name]
	if ok && !old.closed.Load() {
		return old, nil
	}
	// A stopped one is opened again (a replicated stream's consumer that
	// stops and starts with the leadership).
	dir := filepath.Join(fs.fcfg.Dir, fsConsumersDir, name)
	if err := fsConsumerMkdir(fs.sys, dir); err != nil {
		return nil, err
	}
	o := &fsConsumer{fs: fs, name: name, dir: dir}
	fs.consumers[name] = o
	if !ok {
		fs.ncons++
	}
	return o, nil
}

func (o *fsConsumer) key() []byte {
	if o.fs.skey == nil {
		return nil
	}
	return fsDerive(o.fs.skey, "consumer:"+o.name)
}

func (o *fsConsumer) Update(st *ConsumerState) error {
	if o.closed.Load() {
		return ErrStoreClosed
	}
	if err := storeCheckConsumerState(st); err != nil {
		return err
	}
	blob, err := fsSealChecked(o.fs.newBlockCipher(), o.key(), storeEncodeConsumerState(st), []byte(o.name), o.fs.hkey)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return fsWriteFile(o.fs.sys, filepath.Join(o.dir, fsConsumerFile), blob, o.fs.fcfg.SyncAlways)
}

func (o *fsConsumer) State() (*ConsumerState, error) {
	o.mu.Lock()
	data, err := o.fs.sys.ReadFile(filepath.Join(o.dir, fsConsumerFile))
	o.mu.Unlock()
	if os.IsNotExist(err) {
		return &ConsumerState{}, nil
	}
	if err != nil {
		return nil, err
	}
	enc, _, err := fsOpenChecked(data, o.key(), []byte(o.name), o.fs.hkey)
	if err != nil {
		// Sealed before a key rotation that has not finished yet?
		o.fs.mu.Lock()
		old := o.fs.oldKeys
		o.fs.mu.Unlock()
		for _, k := range old {
			if enc, _, err = fsOpenChecked(data, fsDerive(k.key, "consumer:"+o.name), []byte(o.name), o.fs.hkey); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, ErrStoreBadConsumerState
	}
	return storeDecodeConsumerState(enc)
}

func (o *fsConsumer) Stop() error {
	o.closed.Store(true)
	return nil
}

func (o *fsConsumer) Delete() error {
	o.closed.Store(true)
	o.fs.mu.Lock()
	if o.fs.consumers[o.name] == o {
		delete(o.fs.consumers, o.name)
		o.fs.ncons--
	}
	o.fs.mu.Unlock()
	return fsRemoveAllSync(o.fs.sys, o.dir)
}

// fsConsumerMetaFile holds the consumer's configuration, sealed like its
// state.
const fsConsumerMetaFile = "meta.inf"

// fsConsumerMkdir creates a consumer's directory without syncing its
// parent: WriteMeta makes the entry durable for a durable consumer. The
// consumers' directory itself is created (durably) when missing.
func fsConsumerMkdir(sys storeFS, dir string) error {
	err := sys.Mkdir(dir, 0o750)
	if errors.Is(err, fs.ErrNotExist) {
		if err = fsMkdirAll(sys, filepath.Dir(dir)); err == nil {
			err = sys.Mkdir(dir, 0o750)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// WriteMeta implements consumerMetaStore: the configuration is replaced
// atomically; with durable (a durable consumer) also durably, with the
// directory entries that lead to it, whatever the sync policy (the state
// follows it). An ephemeral consumer's config is not synced, as the
// reference does for every consumer: a create is then answered without
// waiting for the disk, which clients such as KV watchers count on (they
// send their next requests without waiting; see
// TestFileStoreEphemeralConsumerCreateNoSync). An ephemeral that a power
// cut loses is one its client recreates, as after its inactive_threshold;
// a kill -9 loses neither.
func (o *fsConsumer) WriteMeta(meta []byte, durable bool) error {
	if o.closed.Load() {
		return ErrStoreClosed
	}
	blob, err := fsSealChecked(o.fs.newBlockCipher(), o.key(), meta, []byte("meta:"+o.name), o.fs.hkey)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// A durable consumer's config is written at create and update only, and
	// a consumer whose config a crash lost would be gone with its state.
	if err := fsWriteFile(o.fs.sys, filepath.Join(o.dir, fsConsumerMetaFile), blob, durable); err != nil || !durable {
		return err
	}
	return o.fs.sys.SyncDir(filepath.Dir(o.dir))
}

// Meta implements consumerMetaStore.
func (o *fsConsumer) Meta() ([]byte, error) {
	o.mu.Lock()
	data, err := o.fs.sys.ReadFile(filepath.Join(o.dir, fsConsumerMetaFile))
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	meta, _, err := fsOpenChecked(data, o.key(), []byte("meta:"+o.name), o.fs.hkey)
	if err != nil {
		return nil, ErrStoreBadConsumerState
	}
	return meta, nil
}

// ConsumerNames implements consumerNamesStore: the consumers found on
// disk or created since, sorted.
func (fs *FileStore) ConsumerNames() []string {
	fs.mu.Lock()
	names := make([]string, 0, len(fs.consumers))
	for n := range fs.consumers {
		names = append(names, n)
	}
	fs.mu.Unlock()
	sort.Strings(names)
	return names
}
