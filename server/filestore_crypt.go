package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/minio/highwayhash"
	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
)

// StoreCipher is the cipher used to encrypt a file store at rest.
type StoreCipher uint8

const (
	// NoCipher stores in the clear.
	NoCipher StoreCipher = iota
	// ChaCha encrypts with ChaCha20-Poly1305 ("chachapoly", the default).
	ChaCha
	// AES encrypts with AES-256-GCM ("aes").
	AES
)

func (c StoreCipher) String() string {
	switch c {
	case NoCipher:
		return "none"
	case ChaCha:
		return "chachapoly"
	case AES:
		return "aes"
	}
	return "unknown"
}

// ParseStoreCipher parses the jetstream block's cipher option.
func ParseStoreCipher(s string) (StoreCipher, error) {
	switch strings.ToLower(s) {
	case "chacha", "chachapoly", "chacha20", "chacha20poly1305", "":
		return ChaCha, nil
	case "aes", "aes-gcm", "aesgcm":
		return AES, nil
	case "none":
		return NoCipher, nil
	}
	return NoCipher, fmt.Errorf("unknown cipher %q", s)
}

const fsNonceSize = 12

var errFsNoKey = errors.New("stream is encrypted and no key is configured")

func fsNewAEAD(c StoreCipher, key []byte) (cipher.AEAD, error) {
	var a cipher.AEAD
	var err error
	switch c {
	case ChaCha:
		a, err = chacha20poly1305.New(key)
	case AES:
		var blk cipher.Block
		if blk, err = aes.NewCipher(key); err == nil {
			a, err = cipher.NewGCM(blk)
		}
	default:
		return nil, fmt.Errorf("unknown cipher %d", c)
	}
	if err != nil {
		return nil, err
	}
	return &fsAEAD{AEAD: a, c: c, key: key}, nil
}

// fsAEAD is a block's AEAD plus what recovery needs to read a frame whose
// tag no longer verifies: both ciphers encrypt in counter mode, so a flipped
// ciphertext bit flips the same plaintext bit only, and the frame's records
// can still be checked one by one by their own hashes. That keeps a flipped
// bit to the record it hits instead of the whole frame.
type fsAEAD struct {
	cipher.AEAD
	c   StoreCipher
	key []byte
}

// openUnverified decrypts sealed (ciphertext and tag) without checking the
// tag. Only for recovery: the result must be verified record by record.
func (a *fsAEAD) openUnverified(nonce, sealed []byte) []byte {
	if len(sealed) < a.Overhead() {
		return nil
	}
	ct := sealed[:len(sealed)-a.Overhead()]
	out := make([]byte, len(ct))
	switch a.c {
	case ChaCha:
		// RFC 8439: block 0 keys Poly1305, the message starts at block 1.
		s, err := chacha20.NewUnauthenticatedCipher(a.key, nonce)
		if err != nil {
			return nil
		}
		s.SetCounter(1)
		s.XORKeyStream(out, ct)
	case AES:
		// GCM with a 96-bit nonce: counter block nonce||1 masks the tag,
		// the message starts at nonce||2.
		blk, err := aes.NewCipher(a.key)
		if err != nil || len(nonce) != 12 {
			return nil
		}
		iv := make([]byte, aes.BlockSize)
		copy(iv, nonce)
		iv[15] = 2
		cipher.NewCTR(blk, iv).XORKeyStream(out, ct)
	default:
		return nil
	}
	return out
}

// fsDerive derives a 32-byte key from a secret and a purpose label. The
// derivation does not depend on the cipher, so the same server key opens a
// stream whatever cipher sealed it.
func fsDerive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("natsforge-store:"))
	m.Write([]byte(label))
	return m.Sum(nil)
}

// fsSeal returns a sealed blob: one byte cipher, then for an encrypting
// cipher a 12-byte random nonce and the AEAD ciphertext with its tag, else
// the plaintext. ad binds the blob to its purpose.
func fsSeal(c StoreCipher, key, plain, ad []byte) ([]byte, error) {
	if c == NoCipher {
		return append([]byte{byte(NoCipher)}, plain...), nil
	}
	a, err := fsNewAEAD(c, key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+fsNonceSize, 1+fsNonceSize+len(plain)+a.Overhead())
	out[0] = byte(c)
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return a.Seal(out, out[1:1+fsNonceSize], plain, ad), nil
}

// fsOpen opens a blob written by fsSeal; key may be nil for a clear blob.
func fsOpen(blob, key, ad []byte) ([]byte, StoreCipher, error) {
	if len(blob) < 1 {
		return nil, NoCipher, errFsBadRecord
	}
	c := StoreCipher(blob[0])
	if c == NoCipher {
		return blob[1:], c, nil
	}
	if key == nil {
		return nil, c, errFsNoKey
	}
	a, err := fsNewAEAD(c, key)
	if err != nil {
		return nil, c, err
	}
	if len(blob) < 1+fsNonceSize+a.Overhead() {
		return nil, c, errFsBadRecord
	}
	plain, err := a.Open(nil, blob[1:1+fsNonceSize], blob[1+fsNonceSize:], ad)
	return plain, c, err
}

// fsNewStreamKey returns a random per-stream key.
func fsNewStreamKey() ([]byte, error) {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	return k, err
}

// fsKEK is the key that seals a stream's key: derived from the server key
// and the stream's name.
func fsKEK(serverKey []byte, stream string) []byte {
	return fsDerive(serverKey, "kek:"+stream)
}

// fsOpenStreamKey unseals a stream's meta.key blob with the server key, or,
// during a rotation, with the previous one (prev_key), and returns the
// stream's keys (see writeStreamKey). It reports which server key opened
// it, so that the caller can re-seal with the new key. This is the one
// place that knows the prev_key fallback.
func fsOpenStreamKey(blob []byte, fcfg *FileStoreConfig, stream string) (ring []fsGenKey, c StoreCipher, withPrev bool, err error) {
	if len(fcfg.Key) == 0 {
		return nil, NoCipher, false, errFsNoKey
	}
	ad := []byte(fsKeyFile)
	plain, c, err := fsOpen(blob, fsKEK(fcfg.Key, stream), ad)
	if err != nil && len(fcfg.PrevKey) > 0 {
		if pplain, pc, perr := fsOpen(blob, fsKEK(fcfg.PrevKey, stream), ad); perr == nil {
			plain, c, err, withPrev = pplain, pc, nil, true
		}
	}
	if err != nil {
		return nil, c, false, err
	}
	if ring, err = fsParseKeyring(plain); err != nil {
		return nil, c, false, err
	}
	return ring, c, withPrev, nil
}

// fsDecryptErr formats a failure to open the stream's key or metadata the
// way the reference logs it.
func fsDecryptErr(err error) error {
	return fmt.Errorf("Error decrypting our stream metafile: %v", err)
}

// fsSealChecked is fsSeal followed by an 8-byte HighwayHash of the blob, so
// that a clear blob is checksummed too.
func fsSealChecked(c StoreCipher, key, plain, ad, hkey []byte) ([]byte, error) {
	blob, err := fsSeal(c, key, plain, ad)
	if err != nil {
		return nil, err
	}
	return binary.LittleEndian.AppendUint64(blob, highwayhash.Sum64(blob, hkey)), nil
}

// fsOpenChecked verifies and opens what fsSealChecked wrote.
func fsOpenChecked(data, key, ad, hkey []byte) ([]byte, StoreCipher, error) {
	if len(data) < 9 {
		return nil, NoCipher, errFsBadRecord
	}
	blob := data[:len(data)-8]
	if binary.LittleEndian.Uint64(data[len(blob):]) != highwayhash.Sum64(blob, hkey) {
		return nil, NoCipher, errFsChecksum
	}
	return fsOpen(blob, key, ad)
}

var errFsChecksum = errors.New("checksum mismatch")
