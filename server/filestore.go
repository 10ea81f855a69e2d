package server

import (
	"bytes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// FileStoreConfig is the part of the server's jetstream {} options that the
// file store needs, plus tuning knobs. The server fills one per stream.
type FileStoreConfig struct {
	// Dir is the stream's own directory (created if missing).
	Dir string
	// BlockSize bounds a message block's logical size; default 4 MiB.
	BlockSize uint32
	// SyncInterval is how often written data is fsynced; default 2 minutes.
	// Whatever the interval, a store or removal returns only once its record
	// was written to the file, so it survives the process being killed; the
	// interval bounds what a power loss can take.
	SyncInterval time.Duration
	// SyncAlways fsyncs before every store returns (sync_interval: always),
	// batching concurrent writers into one fsync (group commit).
	SyncAlways bool
	// Cipher selects the cipher for new data when Key is set.
	Cipher StoreCipher
	// Key is the server's encryption key; empty means no encryption.
	Key []byte
	// PrevKey is the previous key during a rotation: streams it opens are
	// re-sealed with Key.
	PrevKey []byte
	// EncryptExisting re-encrypts plaintext blocks in the background.
	EncryptExisting bool
	// RotateStreamKey makes a stream opened with PrevKey draw a new stream
	// key and re-encrypt every block under it in the background, instead of
	// only re-sealing the stream key (see filestore_rekey.go).
	RotateStreamKey bool
	// CacheSize bounds the bytes of decoded blocks kept in memory; default
	// 8 MiB: the active block plus about one sealed one. Writers and tailing
	// readers only need those; a larger budget mostly holds blocks nobody
	// reads again, and with GC headroom it doubles the process RSS.
	CacheSize int64
	// Logf, if set, receives warnings (torn tails, corruption, rotations).
	Logf func(format string, args ...any)
	// fsys is the filesystem under the store; nil means the real one.
	fsys storeFS
	// rekeyRetry overrides fsRekeyRetry (tests).
	rekeyRetry time.Duration
}

const (
	fsDefaultBlockSize    = 4 << 20
	fsDefaultSyncInterval = 2 * time.Minute
	fsDefaultCacheSize    = 8 << 20
	fsMetaFile            = "meta.inf"
	fsKeyFile             = "meta.key"
	fsMsgsDir             = "msgs"
	fsConsumersDir        = "obs"
)

// FileStore is the file implementation of StreamStore. Directory layout:
//
//	<Dir>/meta.inf        stream config (see writeMetaLocked)
//	<Dir>/meta.key        sealed stream key, only when encrypted
//	<Dir>/msgs/<id>.blk   message blocks (see fsBlkHeader)
//	<Dir>/msgs/<id>.idx   block indexes (see fsWriteIdx)
//	<Dir>/obs/<name>/o.dat consumer states (see fsConsumer)
type FileStore struct {
	storeCore
	fcfg     FileStoreConfig
	sys      storeFS
	mdir     string
	hkey     []byte     // HighwayHash key for records.
	skey     []byte     // Current stream key; nil when the store is clear.
	kgen     uint8      // Its generation.
	oldKeys  []fsGenKey // Older stream keys some blocks still need.
	cipher   StoreCipher
	blks     []*fsBlock
	bmap     map[uint32]*fsBlock
	active   *fsBlock
	nextID   uint32
	cached   int64
	useClock uint64
	// blockFrom is the first sequence the block being recovered may hold:
	// where its losses begin when it cannot tell (store_repair.go).
	blockFrom uint64

	// Write path; wmu is taken before storeCore.mu. cmu and ccond elect
	// the leader of a write batch (see storeCommit).
	cmu       sync.Mutex
	ccond     *sync.Cond
	flushing  bool
	wmu       sync.Mutex
	unlockIO  func()
	pend      []fsPend
	spare     []fsPend
	toSeal    []*fsBlock
	pendEnd   uint64
	done      atomic.Uint64
	werr      atomic.Pointer[error]
	scratch   []byte
	zscratch  []byte
	housekeep bool
	syncs     atomic.Uint64 // fsyncs of block data, for tests and stats
	stopCh    chan struct{}
	bg        sync.WaitGroup

	consumers map[string]*fsConsumer

	// rekeyIdle is set while the rekey worker is not rewriting: finished,
	// or waiting to retry what it skipped (tests wait on it).
	rekeyIdle atomic.Bool
}

// fsBlock is one message block. Guarded by storeCore.mu except the write
// fields noted, which belong to the holder of wmu.
type fsBlock struct {
	id       uint32
	hdr      fsBlkHeader
	aead     cipher.AEAD
	path     string
	f        storeFile // Open while the block takes writes (wmu).
	fileSize int64     // Physical size written (wmu).
	written  atomic.Uint32
	plainLen uint32
	plain    []byte // Decoded content, nil when not cached.
	lastUse  uint64
	first    uint64 // Lowest message sequence held, 0 if none.
	last     uint64 // Highest message sequence held.
	maxSeq   uint64 // Highest sequence any record here speaks for.
	nrec     uint32 // Records held.
	hasEnd   bool   // Ends with an end record.
	phys     uint32 // Message records held.
	live     uint32 // Of which still in the stream.
	physB    uint64 // Accounted bytes (fsMsgSize) of the message records held,
	liveB    uint64 // and of those still in the stream: compaction compares them.
	sealed   bool
	dirty    bool // Written since the last fsync (wmu).
}

// fsPend is a range of a block's content not yet written to its file.
type fsPend struct {
	b        *fsBlock
	from, to uint32
	data     []byte // Set when the writer takes the range.
}

var _ StreamStore = (*FileStore)(nil)

// NewFileStore opens (creating if needed) the stream store in fcfg.Dir with
// configuration cfg, which replaces the stored one. Use ReadFileStoreConfig
// to learn the stored configuration first.
func NewFileStore(fcfg FileStoreConfig, cfg *StreamConfig) (*FileStore, error) {
	if fcfg.Dir == "" || (cfg == nil) {
		return nil, ErrStoreBadConfig
	}
	if fcfg.BlockSize == 0 {
		fcfg.BlockSize = fsDefaultBlockSize
	}
	if fcfg.SyncInterval <= 0 {
		fcfg.SyncInterval = fsDefaultSyncInterval
	}
	if fcfg.CacheSize <= 0 {
		fcfg.CacheSize = fsDefaultCacheSize
	}
	if len(fcfg.Key) > 0 && fcfg.Cipher == NoCipher {
		fcfg.Cipher = ChaCha
	}
	if len(fcfg.Key) == 0 {
		fcfg.Cipher = NoCipher
	}
	fs := &FileStore{fcfg: fcfg, mdir: filepath.Join(fcfg.Dir, fsMsgsDir), bmap: make(map[uint32]*fsBlock),
		stopCh: make(chan struct{}), consumers: make(map[string]*fsConsumer), cipher: fcfg.Cipher, sys: fcfg.fsOf()}
	fs.unlockIO = fs.wmu.Unlock
	fs.ccond = sync.NewCond(&fs.cmu)
	c := *cfg
	c.Storage = FileStorage
	fs.init(&c, fs)
	fs.hkey = fsDerive([]byte(c.Name), "record-hash")
	if err := fsMkdirAll(fs.sys, fs.mdir); err != nil {
		return nil, err
	}
	if err := fs.openMeta(); err != nil {
		return nil, err
	}
	if err := fs.recover(); err != nil {
		for _, b := range fs.blks {
			if b.f != nil {
				b.f.Close()
			}
		}
		return nil, err
	}
	fs.loadConsumers()
	fs.bg.Add(1)
	go fs.syncLoop()
	if fs.rekeyWanted() {
		fs.bg.Add(1)
		go fs.rekeyLoop()
	} else {
		fs.rekeyIdle.Store(true)
	}
	return fs, nil
}

func (fs *FileStore) logf(format string, args ...any) {
	if fs.fcfg.Logf != nil {
		fs.fcfg.Logf("Stream %q: "+format, append([]any{fs.cfg.Name}, args...)...)
	}
}

// openMeta loads or creates the stream key and the config file.
func (fs *FileStore) openMeta() error {
	keyPath := filepath.Join(fs.fcfg.Dir, fsKeyFile)
	blob, err := fs.sys.ReadFile(keyPath)
	switch {
	case err == nil:
		if err := fs.openStreamKey(blob); err != nil {
			return err
		}
	case !os.IsNotExist(err):
		return err
	case fs.cipher != NoCipher:
		if fs.skey, err = fsNewStreamKey(); err != nil {
			return err
		}
		if err := fs.writeStreamKey(); err != nil {
			return err
		}
	}
	metaPath := filepath.Join(fs.fcfg.Dir, fsMetaFile)
	data, err := fs.sys.ReadFile(metaPath)
	if os.IsNotExist(err) {
		return fs.writeMetaLocked()
	}
	if err != nil {
		return err
	}
	js, c, current, err := fsOpenMeta(data, fs.keyringOrNil(), fs.hkey)
	if err != nil && (len(data) < 9 || errors.Is(err, errFsChecksum)) {
		// Empty, cut short or damaged (its checksum, not a key, fails):
		// the config given is the stream's (in a cluster, the meta
		// group's assignment), so the file is written again from it
		// rather than the stream being lost with its messages.
		fs.logf("%s unreadable (%v): written again from the stream's configuration", fsMetaFile, err)
		return fs.writeMetaLocked()
	}
	if err != nil {
		return fsDecryptErr(err)
	}
	var cfg StreamConfig
	if err := json.Unmarshal(js, &cfg); err != nil {
		return fmt.Errorf("Error unmarshalling stream metafile: %v", err)
	}
	// The given config replaces the stored one; the cipher or the stream
	// key may have changed.
	if now, err := json.Marshal(&fs.cfg); err != nil || c != fs.newBlockCipher() || !current || !bytes.Equal(now, js) {
		return fs.writeMetaLocked()
	}
	return nil
}

func (fs *FileStore) metaKey() []byte {
	if fs.skey == nil {
		return nil
	}
	return fsDerive(fs.skey, "meta")
}

func (fs *FileStore) keyringOrNil() []fsGenKey {
	if fs.skey == nil {
		return nil
	}
	return fs.keyring()
}

// fsOpenMeta opens meta.inf with the first key of ring that opens it (nil
// ring: clear), reporting whether that was the current (first) key.
func fsOpenMeta(data []byte, ring []fsGenKey, hkey []byte) ([]byte, StoreCipher, bool, error) {
	if len(ring) == 0 {
		js, c, err := fsOpenChecked(data, nil, []byte(fsMetaFile), hkey)
		return js, c, true, err
	}
	var firstErr error
	for i, k := range ring {
		js, c, err := fsOpenChecked(data, fsDerive(k.key, "meta"), []byte(fsMetaFile), hkey)
		if err == nil || errors.Is(err, errFsChecksum) {
			return js, c, i == 0, err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, NoCipher, false, firstErr
}

// openStreamKey unseals meta.key with the server key, or with the previous
// key after a server key change: then it re-seals it with the new one and,
// with RotateStreamKey, starts a full rotation of the stream key.
func (fs *FileStore) openStreamKey(blob []byte) error {
	ring, c, withPrev, err := fsOpenStreamKey(blob, &fs.fcfg, fs.cfg.Name)
	if err != nil {
		return fsDecryptErr(err)
	}
	fs.skey, fs.kgen, fs.oldKeys = ring[0].key, ring[0].gen, ring[1:]
	if withPrev && fs.fcfg.RotateStreamKey {
		if err := fs.startRotation(); err != nil {
			return err
		}
	} else if withPrev {
		fs.logf("stream key re-sealed with the new server key")
	}
	if withPrev || c != fs.cipher {
		return fs.writeStreamKey()
	}
	return nil
}

// writeStreamKey writes meta.key: an fsSeal blob (cipher byte, nonce, AEAD
// ciphertext) under a key derived from the server key and the stream name,
// with "meta.key" as additional data. Its plaintext is the stream's keys:
// either one 32-byte key (generation 0, the only form before rotations), or
// 33-byte entries, each a generation byte and a 32-byte key, the current
// key first and, while a full rotation is under way, the older keys blocks
// still use (block header byte 6 names a block's generation).
func (fs *FileStore) writeStreamKey() error {
	blob, err := fsSeal(fs.cipher, fsKEK(fs.fcfg.Key, fs.cfg.Name), fsEncodeKeyring(fs.keyring()), []byte(fsKeyFile))
	if err != nil {
		return err
	}
	return fsWriteFileSync(fs.sys, filepath.Join(fs.fcfg.Dir, fsKeyFile), blob)
}

// writeMetaLocked writes meta.inf: the stream config as JSON, sealed with
// fsSeal under a key derived from the stream key (clear if none), followed
// by an 8-byte HighwayHash of the sealed blob.
func (fs *FileStore) writeMetaLocked() error {
	js, err := json.Marshal(&fs.cfg)
	if err != nil {
		return err
	}
	c := fs.cipher
	if fs.skey == nil {
		c = NoCipher
	}
	blob, err := fsSealChecked(c, fs.metaKey(), js, []byte(fsMetaFile), fs.hkey)
	if err != nil {
		return err
	}
	return fsWriteFileSync(fs.sys, filepath.Join(fs.fcfg.Dir, fsMetaFile), blob)
}

func (fs *FileStore) storeSetConfig(cfg *StreamConfig) error {
	if cfg.Name != fs.cfg.Name {
		return ErrStoreBadConfig
	}
	old := fs.cfg
	fs.cfg = *cfg
	if err := fs.writeMetaLocked(); err != nil {
		fs.cfg = old
		return err
	}
	return nil
}

// Type implements StreamStore.
func (fs *FileStore) Type() StorageType { return FileStorage }

// Stop implements StreamStore: it writes what is pending, fsyncs, and saves
// the active block's index for a fast restart.
func (fs *FileStore) Stop() error {
	fs.wmu.Lock()
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		fs.wmu.Unlock()
		return nil
	}
	err := fs.flushHeldLocked(true)
	for _, b := range fs.blks {
		if b.f != nil {
			if ierr := fs.writeIdxLocked(b); ierr != nil && err == nil {
				err = ierr
			}
			b.f.Close()
			b.f = nil
		}
	}
	for _, o := range fs.consumers {
		o.closed.Store(true)
	}
	fs.stopCoreLocked()
	close(fs.stopCh)
	fs.mu.Unlock()
	fs.wmu.Unlock()
	fs.bg.Wait()
	return err
}

// Delete implements StreamStore.
func (fs *FileStore) Delete() error {
	_ = fs.Stop()
	return fsRemoveAllSync(fs.sys, fs.fcfg.Dir)
}

// Snapshot implements StreamStore.
func (fs *FileStore) Snapshot(w io.Writer) error {
	fs.mu.Lock()
	cons := make(map[string]*ConsumerState, len(fs.consumers))
	names := make([]*fsConsumer, 0, len(fs.consumers))
	for _, o := range fs.consumers {
		names = append(names, o)
	}
	fs.mu.Unlock()
	for _, o := range names {
		if st, err := o.State(); err == nil {
			cons[o.name] = st
		}
	}
	return storeWriteSnapshot(w, &fs.storeCore, storeNamedConsumers(cons))
}

// fsWriteFileSync replaces path atomically and durably: temp file, fsync,
// rename, fsync of the directory.
func fsWriteFileSync(sys storeFS, path string, data []byte) error {
	return fsWriteFile(sys, path, data, true)
}

// fsWriteFile replaces path atomically; with sync it is also durable.
func fsWriteFile(sys storeFS, path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := sys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err = f.WriteAt(data, 0); err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		sys.Remove(tmp)
		return err
	}
	if err := sys.Rename(tmp, path); err != nil {
		sys.Remove(tmp)
		return err
	}
	if !sync {
		return nil
	}
	if err := sys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("%w: %w", errFsDirSync, err)
	}
	return nil
}

// errFsDirSync: a file was replaced but its directory's fsync failed, so
// whether the new name survives a crash is unknown.
var errFsDirSync = errors.New("directory sync failed")

// loadConsumers registers the consumers found on disk.
func (fs *FileStore) loadConsumers() {
	ents, _ := fs.sys.ReadDir(filepath.Join(fs.fcfg.Dir, fsConsumersDir))
	for _, e := range ents {
		if e.IsDir() {
			fs.consumers[e.Name()] = &fsConsumer{fs: fs, name: e.Name(), dir: filepath.Join(fs.fcfg.Dir, fsConsumersDir, e.Name())}
			fs.ncons++
		}
	}
}

// ReadFileStoreConfig returns the configuration stored for stream name in
// fcfg.Dir, opening it with fcfg's keys, without changing anything on disk.
// A wrong or missing key gives the reference's "Error decrypting our stream
// metafile: ..." error.
func ReadFileStoreConfig(fcfg FileStoreConfig, name string) (*StreamConfig, error) {
	hkey := fsDerive([]byte(name), "record-hash")
	var ring []fsGenKey
	sys := fcfg.fsOf()
	blob, err := sys.ReadFile(filepath.Join(fcfg.Dir, fsKeyFile))
	switch {
	case err == nil:
		if ring, _, _, err = fsOpenStreamKey(blob, &fcfg, name); err != nil {
			return nil, fsDecryptErr(err)
		}
	case !os.IsNotExist(err):
		return nil, err
	}
	data, err := sys.ReadFile(filepath.Join(fcfg.Dir, fsMetaFile))
	if err != nil {
		return nil, err
	}
	js, _, _, err := fsOpenMeta(data, ring, hkey)
	if err != nil {
		return nil, fsDecryptErr(err)
	}
	var cfg StreamConfig
	if err := json.Unmarshal(js, &cfg); err != nil {
		return nil, fmt.Errorf("Error unmarshalling stream metafile: %v", err)
	}
	return &cfg, nil
}
