package server

import (
	"errors"
	"io"
	"time"
)

// Storage errors. Their texts follow the reference where it has one.
var (
	ErrStoreClosed           = errors.New("store is closed")
	ErrStoreMsgNotFound      = errors.New("no message found")
	ErrStoreEOF              = errors.New("stream store EOF")
	ErrMaxMsgs               = errors.New("maximum messages exceeded")
	ErrMaxBytes              = errors.New("maximum bytes exceeded")
	ErrMaxMsgsPerSubject     = errors.New("maximum messages per subject exceeded")
	ErrStoreMsgTooLarge      = errors.New("message size exceeds maximum allowed")
	ErrStoreBadSequence      = errors.New("invalid sequence")
	ErrStoreSequenceMismatch = errors.New("expected sequence does not match store")
	ErrStoreCorrupt          = errors.New("message corrupt")
	ErrStoreBadSnapshot      = errors.New("invalid stream snapshot")
	ErrStoreInvalidSubject   = errors.New("invalid subject")
	ErrStoreBadConsumerState = errors.New("corrupt consumer state")
)

// StoreMsg is one stored message. Loads fill a caller-supplied StoreMsg so
// that a reader looping over a stream can reuse one value and one buffer.
type StoreMsg struct {
	Subject string
	Hdr     []byte
	Msg     []byte
	Seq     uint64
	TS      int64 // Unix nanoseconds.
	TTL     int64 // Per-message TTL in nanoseconds; 0 for none, -1 for never (exempt from max_age).
	buf     []byte
}

// copyFrom fills sm from the given fields, reusing sm's buffer.
func (sm *StoreMsg) copyFrom(subj string, hdr, msg []byte, seq uint64, ts, ttl int64) {
	need := len(hdr) + len(msg)
	if cap(sm.buf) < need {
		sm.buf = make([]byte, need)
	}
	sm.buf = sm.buf[:need]
	copy(sm.buf, hdr)
	copy(sm.buf[len(hdr):], msg)
	if len(hdr) > 0 {
		sm.Hdr = sm.buf[:len(hdr):len(hdr)]
	} else {
		sm.Hdr = nil
	}
	sm.Msg = sm.buf[len(hdr):]
	sm.Subject, sm.Seq, sm.TS, sm.TTL = subj, seq, ts, ttl
}

// StreamState is the state of a stream store. Everything except Deleted is
// kept incrementally; Deleted is listed only by State, not by FastState.
type StreamState struct {
	Msgs        uint64    `json:"messages"`
	Bytes       uint64    `json:"bytes"`
	FirstSeq    uint64    `json:"first_seq"`
	FirstTime   time.Time `json:"first_ts"`
	LastSeq     uint64    `json:"last_seq"`
	LastTime    time.Time `json:"last_ts"`
	NumSubjects int       `json:"num_subjects,omitempty"`
	// Subjects is filled only by STREAM.INFO with a subjects filter.
	Subjects   map[string]uint64 `json:"subjects,omitempty"`
	NumDeleted int               `json:"num_deleted,omitempty"`
	Deleted    []uint64          `json:"deleted,omitempty"`
	Lost       *LostStreamData   `json:"lost,omitempty"`
	Consumers  int               `json:"consumer_count"`
}

// LostStreamData lists messages found corrupt and dropped by the store.
type LostStreamData struct {
	Msgs  []uint64 `json:"msgs"`
	Bytes uint64   `json:"bytes"`
}

// SimpleState is the per-subject state: message count and sequence range.
type SimpleState struct {
	Msgs  uint64 `json:"messages"`
	First uint64 `json:"first_seq"`
	Last  uint64 `json:"last_seq"`
}

// StreamStore is implemented by the memory and the file store. All methods
// are safe for concurrent use.
type StreamStore interface {
	// StoreMsg appends a message and returns its sequence and timestamp.
	// ttl is a per-message time to live in nanoseconds (0: none; negative:
	// never, which also exempts the message from max_age).
	StoreMsg(subject string, hdr, msg []byte, ttl int64) (uint64, int64, error)
	// StoreRawMsg stores a message at a given sequence and time, used by
	// restore and replication; seq must be above the last sequence.
	StoreRawMsg(subject string, hdr, msg []byte, seq uint64, ts, ttl int64) error
	// SkipMsg consumes the next sequence without storing a message.
	SkipMsg() uint64
	// SkipMsgs consumes num sequences starting at seq, the next sequence.
	SkipMsgs(seq, num uint64) error
	// LoadMsg loads the message with sequence seq into sm (or a new one).
	LoadMsg(seq uint64, sm *StoreMsg) (*StoreMsg, error)
	// LoadLastMsg loads the last message whose subject matches subject
	// (a literal or a wildcard filter; "" or ">" for any).
	LoadLastMsg(subject string, sm *StoreMsg) (*StoreMsg, error)
	// LoadNextMsg loads the first message at or after start whose subject
	// matches filter, returning it and the sequence to continue from.
	LoadNextMsg(filter string, start uint64, sm *StoreMsg) (*StoreMsg, uint64, error)
	// RemoveMsg removes one message.
	RemoveMsg(seq uint64) (bool, error)
	// EraseMsg removes one message and overwrites its bytes where stored.
	EraseMsg(seq uint64) (bool, error)
	// Purge removes every message; sequences continue from the last one.
	Purge() (uint64, error)
	// PurgeEx removes messages matching subject (all if empty) below
	// sequence seq (if non-zero), keeping the newest keep (if non-zero).
	PurgeEx(subject string, seq, keep uint64) (uint64, error)
	// Compact removes every message below seq; seq becomes the first.
	Compact(seq uint64) (uint64, error)
	// Truncate removes every message above seq; seq becomes the last.
	Truncate(seq uint64) error
	// State returns the full state including the deleted sequences.
	State() StreamState
	// FastState fills st without listing deleted sequences.
	FastState(st *StreamState)
	// SubjectsState returns per-subject state for subjects matching filter.
	SubjectsState(filter string) map[string]SimpleState
	// SubjectsTotals returns per-subject counts for subjects matching filter.
	SubjectsTotals(filter string) map[string]uint64
	// UpdateConfig applies new limits, enforcing them at once.
	UpdateConfig(cfg *StreamConfig) error
	// Snapshot writes the stream (config, messages, consumers) to w; see
	// RestoreSnapshot for the format.
	Snapshot(w io.Writer) error
	// ConsumerStore opens (or creates) the durable state of a consumer.
	ConsumerStore(name string) (ConsumerStore, error)
	// Type is the storage type.
	Type() StorageType
	// Stop flushes and closes the store.
	Stop() error
	// Delete stops the store and removes everything it stored.
	Delete() error
}

// SequencePair is a consumer sequence with its stream sequence.
type SequencePair struct {
	Consumer uint64 `json:"consumer_seq"`
	Stream   uint64 `json:"stream_seq"`
}

// Pending is a delivered, not yet acknowledged message.
type Pending struct {
	Sequence  uint64 // Consumer sequence of the delivery.
	Timestamp int64  // Unix nanoseconds of the delivery.
}

// ConsumerState is what a consumer must remember across restarts.
type ConsumerState struct {
	Delivered SequencePair `json:"delivered"`
	AckFloor  SequencePair `json:"ack_floor"`
	// Pending is keyed by stream sequence.
	Pending map[uint64]*Pending `json:"pending,omitempty"`
	// Redelivered counts redeliveries, keyed by stream sequence.
	Redelivered map[uint64]uint64 `json:"redelivered,omitempty"`
}

// ConsumerStore keeps the state of one consumer in its stream's store.
type ConsumerStore interface {
	// Update replaces the stored state; it is durable when it returns
	// (file store), subject to the store's sync policy.
	Update(state *ConsumerState) error
	// State returns the stored state.
	State() (*ConsumerState, error)
	// Stop closes the consumer store, keeping its state.
	Stop() error
	// Delete removes the consumer's state.
	Delete() error
}
