package server

import (
	"errors"
	"time"
)

// Re-encrypting a store in place. Two things rewrite blocks under the
// current stream key while the stream keeps taking writes and serving reads:
//
//   - encrypt_existing: blocks written in the clear (before a key was set);
//   - a full key rotation (rotate_stream_keys with prev_key): blocks sealed
//     under an older stream key. Re-sealing meta.key alone (prev_key without
//     rotation) changes only which server key opens the stream key, so the
//     old server key with an old copy of meta.key still opens every block;
//     a full rotation draws a new stream key, re-encrypts every block, index
//     and consumer state under it, and then forgets the old stream key, so
//     that old key material opens nothing.
//
// One background worker (rekeyLoop) does both, a block at a time under the
// write lock. A block that cannot be rewritten is logged with its reason and
// skipped; the others go on, and skipped blocks are retried every
// fsRekeyRetry and at the next start. The old stream keys stay in meta.key
// until no block needs them.

// fsRekeyRetry is how long the worker waits before retrying skipped blocks.
const fsRekeyRetry = time.Minute

// fsGenKey is one stream key and its generation (block header byte 6).
type fsGenKey struct {
	gen uint8
	key []byte
}

var errFsKeyring = errors.New("invalid stream key file")

// fsParseKeyring reads the plaintext of meta.key (see writeStreamKey).
func fsParseKeyring(p []byte) ([]fsGenKey, error) {
	if len(p) == 32 {
		return []fsGenKey{{0, p}}, nil
	}
	if len(p) == 0 || len(p)%33 != 0 {
		return nil, errFsKeyring
	}
	keys := make([]fsGenKey, 0, len(p)/33)
	for ; len(p) > 0; p = p[33:] {
		keys = append(keys, fsGenKey{p[0], p[1:33:33]})
	}
	return keys, nil
}

func fsEncodeKeyring(keys []fsGenKey) []byte {
	if len(keys) == 1 && keys[0].gen == 0 {
		return keys[0].key // The format of stores without rotations.
	}
	out := make([]byte, 0, 33*len(keys))
	for _, k := range keys {
		out = append(append(out, k.gen), k.key...)
	}
	return out
}

// keyring is the stream's keys, the current one first.
func (fs *FileStore) keyring() []fsGenKey {
	return append([]fsGenKey{{fs.kgen, fs.skey}}, fs.oldKeys...)
}

// streamKeyFor returns the stream key of generation gen, nil if unknown.
func (fs *FileStore) streamKeyFor(gen uint8) []byte {
	if gen == fs.kgen {
		return fs.skey
	}
	for _, k := range fs.oldKeys {
		if k.gen == gen {
			return k.key
		}
	}
	return nil
}

// startRotation makes a new stream key current, keeping the others for the
// blocks still sealed under them. The caller writes meta.key.
func (fs *FileStore) startRotation() error {
	key, err := fsNewStreamKey()
	if err != nil {
		return err
	}
	ring := fs.keyring()
	gen := fs.kgen + 1
	for fsGenUsed(ring, gen) {
		gen++
	}
	fs.oldKeys = ring
	fs.skey, fs.kgen = key, gen
	fs.logf("full key rotation: new stream key, re-encrypting every block in the background")
	return nil
}

func fsGenUsed(ring []fsGenKey, gen uint8) bool {
	for _, k := range ring {
		if k.gen == gen {
			return true
		}
	}
	return false
}

// needsRekeyLocked reports whether b must be rewritten under the current
// stream key.
func (fs *FileStore) needsRekeyLocked(b *fsBlock) bool {
	if fs.skey == nil {
		return false
	}
	if b.hdr.cipher == NoCipher {
		return fs.fcfg.EncryptExisting
	}
	return b.hdr.keyGen != fs.kgen
}

func (fs *FileStore) rekeyWanted() bool {
	return fs.skey != nil && (fs.fcfg.EncryptExisting || len(fs.oldKeys) > 0)
}

func (fs *FileStore) rekeyRetry() time.Duration {
	if fs.fcfg.rekeyRetry > 0 {
		return fs.fcfg.rekeyRetry
	}
	return fsRekeyRetry
}

// rekeyLoop rewrites blocks until none needs it, then re-seals consumer
// states and drops the old stream keys.
func (fs *FileStore) rekeyLoop() {
	defer fs.bg.Done()
	defer fs.rekeyIdle.Store(true)
	rewritten := 0
	for quick := 0; ; {
		n, skipped, stopped := fs.rekeyPass()
		rewritten += n
		if stopped {
			return
		}
		if skipped == 0 {
			done, pending := fs.finishRekey()
			if done {
				if rewritten > 0 {
					fs.logf("%d blocks re-encrypted, none left to do", rewritten)
				}
				return
			}
			// A block rotated out by writers during the pass: pass again
			// at once, a few times, before falling back to the timer.
			if pending && quick < 3 {
				quick++
				continue
			}
		}
		quick = 0
		fs.rekeyIdle.Store(true)
		select {
		case <-fs.stopCh:
			return
		case <-time.After(fs.rekeyRetry()):
		}
		fs.rekeyIdle.Store(false)
	}
}

// rekeyPass tries every block that needs it once and returns how many it
// rewrote and skipped, or stopped if the store closed.
func (fs *FileStore) rekeyPass() (rewritten, skipped int, stopped bool) {
	tried := map[*fsBlock]bool{}
	sealedActive := false
	for {
		fs.wmu.Lock()
		fs.mu.Lock()
		if fs.closed {
			fs.mu.Unlock()
			fs.wmu.Unlock()
			return rewritten, skipped, true
		}
		if len(fs.toSeal) > 0 {
			// Blocks writers just rotated out are still open: seal them
			// first so that they can be rewritten in this pass.
			_ = fs.flushHeldLocked(false)
		}
		var target *fsBlock
		for _, b := range fs.blks {
			if !tried[b] && b != fs.active && b.f == nil && fs.needsRekeyLocked(b) {
				target = b
				break
			}
		}
		var err error
		if target != nil {
			tried[target] = true
			if err = fs.rekeyBlockLocked(target); err == nil {
				rewritten++
			}
		} else if a := fs.active; a != nil && fs.needsRekeyLocked(a) && !sealedActive {
			// The active block is sealed so that it can be rewritten next.
			sealedActive = true
			if _, err = fs.newBlockLocked(); err == nil {
				err = fs.flushHeldLocked(false)
			}
			target = a
		}
		fs.mu.Unlock()
		fs.wmu.Unlock()
		if target == nil {
			return rewritten, skipped, false
		}
		if err != nil {
			skipped++
			fs.logf("re-encrypting block %d failed, skipped (retry in %v): %v", target.id, fs.rekeyRetry(), err)
		}
	}
}

// rekeyBlockLocked rewrites b under the current stream key. Holds wmu, mu.
func (fs *FileStore) rekeyBlockLocked(b *fsBlock) error {
	if err := fs.loadBlockLocked(b); err != nil {
		return err
	}
	if err := fs.rewriteBlockLocked(b, b.plain, b.hdr.compressed); err != nil {
		return err
	}
	if err := fs.writeIdxLocked(b); err != nil {
		fs.logf("index of block %d not saved, it will be rebuilt at the next start: %v", b.id, err)
	}
	return nil
}

// finishRekey re-seals the consumer states under the current key and, once
// no block needs an old stream key, writes meta.key without them. It
// reports whether everything is done, or else whether blocks still need a
// rewrite (rather than a failure to wait for).
func (fs *FileStore) finishRekey() (done, pending bool) {
	fs.mu.Lock()
	cons := make([]*fsConsumer, 0, len(fs.consumers))
	for _, o := range fs.consumers {
		cons = append(cons, o)
	}
	fs.mu.Unlock()
	for _, o := range cons {
		st, err := o.State()
		if err == nil {
			err = o.Update(st)
		}
		if err != nil && !errors.Is(err, ErrStoreClosed) {
			fs.logf("re-encrypting consumer %q failed (retry in %v): %v", o.name, fs.rekeyRetry(), err)
			return false, false
		}
	}
	fs.wmu.Lock()
	defer fs.wmu.Unlock()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return true, false
	}
	for _, b := range fs.blks {
		if fs.needsRekeyLocked(b) {
			return false, true
		}
	}
	if len(fs.oldKeys) == 0 {
		return true, false
	}
	old := fs.oldKeys
	fs.oldKeys = nil
	if err := fs.writeStreamKey(); err != nil {
		fs.oldKeys = old
		fs.logf("writing the rotated stream key failed (retry in %v): %v", fs.rekeyRetry(), err)
		return false, false
	}
	fs.logf("full key rotation complete: old stream keys erased")
	return true, false
}
