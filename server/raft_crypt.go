package server

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Encryption of a Raft group's log and snapshot at rest, with the store's
// cipher and server key (jetstream { cipher, key, prev_key }), the way the
// file store encrypts a stream: the server key never touches data; it
// seals a random key of the group's own.
//
// # On disk
//
// The group's directory holds `key` (written once, before any record): an
// fsSeal blob (cipher byte, nonce, AEAD ciphertext and tag) of the group's
// 32-byte key, sealed under fsKEK(server key, "raft."+group) with "meta.key"
// as additional data, exactly as a stream's meta.key (so fsOpenStreamKey
// opens it, prev_key fallback included). Stream names cannot contain a dot,
// so no stream shares a group's key-encryption key.
//
// With a key, every log record's body (raft_log.go) is sealed:
//
//	u8 3 (sealed) | 12-byte nonce | AEAD(the clear body, kind byte first)
//
// so the record's length and CRC-32C frame the sealed body, and corruption
// is found by the CRC before any decryption. The snapshot file is
//
//	"NRGSNPX1" | 12-byte nonce | AEAD(the clear snapshot file)
//
// Nonces are a random 12-byte base drawn when the log opens, its last 8
// bytes xored with a counter: unique per key without a random read per
// record. The cipher is the one `key` was sealed with: changing `cipher`
// applies to new groups; changing `key` (with prev_key) re-seals `key`.
//
// Clear records (kinds 1 and 2) stay readable in a log that got a key
// later; they go as snapshots compact the log. A sealed log without the
// key, or with a wrong one, refuses to open.
type raftSealer struct {
	aead  cipher.AEAD
	base  [fsNonceSize]byte
	count uint64
	plain []byte // scratch for the clear body being sealed
}

// raftCrypt is the encryption configuration a group's log opens with.
type raftCrypt struct {
	cipher  StoreCipher
	key     []byte // the server key; nil: clear
	prevKey []byte // the server key before a change, to re-seal `key`
}

const (
	raftKeyFile       = "key"
	raftRecSealed     = 3
	raftSealedSnapMag = "NRGSNPX1"
)

var (
	errRaftNoKey    = errors.New("raft log is encrypted and no key is configured")
	errRaftSealOpen = errors.New("sealed record does not open")
)

// raftCryptFromOptions is the jetstream block's encryption for Raft logs.
func raftCryptFromOptions(o *Options) (raftCrypt, error) {
	if o.JetStreamKey == "" {
		return raftCrypt{}, nil
	}
	c, err := ParseStoreCipher(o.JetStreamCipher)
	if err != nil {
		return raftCrypt{}, err
	}
	rc := raftCrypt{cipher: c, key: []byte(o.JetStreamKey)}
	if o.JetStreamPrevKey != "" {
		rc.prevKey = []byte(o.JetStreamPrevKey)
	}
	return rc, nil
}

// raftKEKLabel names the group's key-encryption key (see fsKEK).
func raftKEKLabel(group string) string { return "raft." + group }

// openRaftSealer loads or creates the group's key in dir; nil (clear) when
// neither a key file nor a server key exists.
func openRaftSealer(sys storeFS, dir, group string, rc raftCrypt) (*raftSealer, error) {
	if err := fsMkdirAll(sys, dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, raftKeyFile)
	blob, err := sys.ReadFile(path)
	switch {
	case err == nil:
		return reopenRaftSealer(sys, path, group, blob, rc)
	case !os.IsNotExist(err):
		return nil, err
	case len(rc.key) == 0 || rc.cipher == NoCipher:
		return nil, nil
	}
	gk, err := fsNewStreamKey()
	if err != nil {
		return nil, err
	}
	if err := writeRaftKey(sys, path, group, rc.cipher, rc.key, gk); err != nil {
		return nil, err
	}
	return newRaftSealer(rc.cipher, gk)
}

// reopenRaftSealer opens an existing key file; one sealed with prev_key is
// re-sealed with the current server key.
func reopenRaftSealer(sys storeFS, path, group string, blob []byte, rc raftCrypt) (*raftSealer, error) {
	if len(blob) > 0 && StoreCipher(blob[0]) == NoCipher {
		return nil, fmt.Errorf("%w: %s", errRaftLogCorrupt, path)
	}
	if len(rc.key) == 0 {
		return nil, fmt.Errorf("raft group %q: %w", group, errRaftNoKey)
	}
	fc := FileStoreConfig{Key: rc.key, PrevKey: rc.prevKey}
	ring, c, withPrev, err := fsOpenStreamKey(blob, &fc, raftKEKLabel(group))
	if err != nil {
		return nil, fmt.Errorf("raft group %q: error decrypting its key (wrong encryption key?): %v", group, err)
	}
	if withPrev {
		if err := writeRaftKey(sys, path, group, c, rc.key, ring[0].key); err != nil {
			return nil, err
		}
	}
	return newRaftSealer(c, ring[0].key)
}

// writeRaftKey writes the key file (format in raftSealer's doc).
func writeRaftKey(sys storeFS, path, group string, c StoreCipher, serverKey, gk []byte) error {
	blob, err := fsSeal(c, fsKEK(serverKey, raftKEKLabel(group)), gk, []byte(fsKeyFile))
	if err != nil {
		return err
	}
	return fsWriteFileSync(sys, path, blob)
}

func newRaftSealer(c StoreCipher, gk []byte) (*raftSealer, error) {
	a, err := fsNewAEAD(c, fsDerive(gk, "raft-log"))
	if err != nil {
		return nil, err
	}
	s := &raftSealer{aead: a}
	if _, err := rand.Read(s.base[:]); err != nil {
		return nil, err
	}
	return s, nil
}

// nextNonce appends the next nonce to b.
func (s *raftSealer) nextNonce(b []byte) []byte {
	s.count++
	start := len(b)
	b = append(b, s.base[:]...)
	tail := b[start+4 : start+fsNonceSize]
	binary.LittleEndian.PutUint64(tail, binary.LittleEndian.Uint64(tail)^s.count)
	return b
}

// seal appends nonce and sealed plain to b.
func (s *raftSealer) seal(b, plain []byte) []byte {
	start := len(b)
	b = s.nextNonce(b)
	return s.aead.Seal(b, b[start:start+fsNonceSize], plain, nil)
}

// open opens what seal wrote (nonce first).
func (s *raftSealer) open(sealed []byte) ([]byte, error) {
	if len(sealed) < fsNonceSize+s.aead.Overhead() {
		return nil, errors.New("short sealed record")
	}
	return s.aead.Open(nil, sealed[:fsNonceSize], sealed[fsNonceSize:], nil)
}

// appendSealedRecord frames body (built by fill) as a sealed record.
func (s *raftSealer) appendSealedRecord(b []byte, fill func([]byte) []byte) []byte {
	s.plain = fill(s.plain[:0])
	return appendRecord(b, func(b []byte) []byte {
		return s.seal(append(b, raftRecSealed), s.plain)
	})
}
