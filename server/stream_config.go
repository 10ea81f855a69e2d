package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// StreamConfig is a stream's configuration as carried by the JetStream API
// and persisted by the file store. Only the fields the storage engine needs
// are interpreted here; the JetStream API layer extends it.
type StreamConfig struct {
	Name                   string                  `json:"name"`
	Description            string                  `json:"description,omitempty"`
	Subjects               []string                `json:"subjects,omitempty"`
	Retention              RetentionPolicy         `json:"retention"`
	MaxConsumers           int                     `json:"max_consumers"`
	MaxMsgs                int64                   `json:"max_msgs"`
	MaxBytes               int64                   `json:"max_bytes"`
	MaxAge                 time.Duration           `json:"max_age"`
	MaxMsgsPer             int64                   `json:"max_msgs_per_subject"`
	MaxMsgSize             int32                   `json:"max_msg_size,omitempty"`
	Discard                DiscardPolicy           `json:"discard"`
	Storage                StorageType             `json:"storage"`
	Replicas               int                     `json:"num_replicas"`
	NoAck                  bool                    `json:"no_ack,omitempty"`
	Duplicates             time.Duration           `json:"duplicate_window,omitempty"`
	Placement              *Placement              `json:"placement,omitempty"`
	Mirror                 *StreamSource           `json:"mirror,omitempty"`
	Sources                []*StreamSource         `json:"sources,omitempty"`
	Compression            StoreCompression        `json:"compression"`
	FirstSeq               uint64                  `json:"first_seq,omitempty"`
	SubjectTransform       *SubjectTransformConfig `json:"subject_transform,omitempty"`
	RePublish              *RePublish              `json:"republish,omitempty"`
	AllowDirect            bool                    `json:"allow_direct"`
	MirrorDirect           bool                    `json:"mirror_direct"`
	DiscardNewPer          bool                    `json:"discard_new_per_subject,omitempty"`
	Sealed                 bool                    `json:"sealed"`
	DenyDelete             bool                    `json:"deny_delete"`
	DenyPurge              bool                    `json:"deny_purge"`
	AllowRollup            bool                    `json:"allow_rollup_hdrs"`
	ConsumerLimits         StreamConsumerLimits    `json:"consumer_limits"`
	AllowMsgTTL            bool                    `json:"allow_msg_ttl"`
	SubjectDeleteMarkerTTL time.Duration           `json:"subject_delete_marker_ttl,omitempty"`
	AllowMsgCounter        bool                    `json:"allow_msg_counter,omitempty"`
	AllowAtomic            bool                    `json:"allow_atomic,omitempty"`
	AllowMsgSchedules      bool                    `json:"allow_msg_schedules,omitempty"`
	PersistMode            PersistMode             `json:"persist_mode,omitempty"`
	AllowBatched           bool                    `json:"allow_batched,omitempty"`
	Metadata               map[string]string       `json:"metadata,omitempty"`
	// Created is when the stream was created, kept in the stream's meta
	// file (under the reference's key) and never part of API requests or
	// responses: the API layer reports it as StreamInfo.created.
	Created *time.Time `json:"Created,omitempty"`
}

// Placement asks for a stream's cluster and server tags. A server without
// a cluster accepts and keeps it, as the reference does.
type Placement struct {
	Cluster   string   `json:"cluster,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Preferred string   `json:"preferred,omitempty"`
}

// StreamConsumerLimits are the defaults and maximums a stream imposes on
// its consumers.
type StreamConsumerLimits struct {
	InactiveThreshold time.Duration `json:"inactive_threshold,omitempty"`
	MaxAckPending     int           `json:"max_ack_pending,omitempty"`
}

// StorageType selects where a stream keeps its messages.
type StorageType int

const (
	// FileStorage keeps messages in the file store (JSON "file").
	FileStorage StorageType = 22
	// MemoryStorage keeps messages in memory only (JSON "memory").
	MemoryStorage StorageType = 33
)

func (st StorageType) String() string {
	switch st {
	case MemoryStorage:
		return "Memory"
	case FileStorage:
		return "File"
	}
	return "Unknown Storage Type"
}

// MarshalJSON implements json.Marshaler.
func (st StorageType) MarshalJSON() ([]byte, error) {
	switch st {
	case MemoryStorage:
		return json.Marshal("memory")
	case FileStorage:
		return json.Marshal("file")
	}
	return nil, fmt.Errorf("can not marshal %v", st)
}

// UnmarshalJSON implements json.Unmarshaler.
func (st *StorageType) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"memory"`:
		*st = MemoryStorage
	case `"file"`:
		*st = FileStorage
	default:
		return fmt.Errorf("can not unmarshal %q", data)
	}
	return nil
}

// DiscardPolicy says what a stream does when it reaches a limit.
type DiscardPolicy int

const (
	// DiscardOld removes the oldest messages to make room (JSON "old").
	DiscardOld DiscardPolicy = iota
	// DiscardNew refuses new messages (JSON "new").
	DiscardNew
)

func (dp DiscardPolicy) String() string {
	switch dp {
	case DiscardOld:
		return "DiscardOld"
	case DiscardNew:
		return "DiscardNew"
	}
	return "Unknown Discard Policy"
}

// MarshalJSON implements json.Marshaler.
func (dp DiscardPolicy) MarshalJSON() ([]byte, error) {
	switch dp {
	case DiscardOld:
		return json.Marshal("old")
	case DiscardNew:
		return json.Marshal("new")
	}
	return nil, fmt.Errorf("can not marshal %v", dp)
}

// UnmarshalJSON implements json.Unmarshaler; the reference accepts any case.
func (dp *DiscardPolicy) UnmarshalJSON(data []byte) error {
	switch strings.ToLower(string(data)) {
	case `"old"`:
		*dp = DiscardOld
	case `"new"`:
		*dp = DiscardNew
	default:
		return fmt.Errorf("can not unmarshal %q", data)
	}
	return nil
}

// RetentionPolicy says when messages may be removed from a stream.
type RetentionPolicy int

const (
	// LimitsPolicy keeps messages until a limit is reached (JSON "limits").
	LimitsPolicy RetentionPolicy = iota
	// InterestPolicy keeps messages while consumers have interest (JSON "interest").
	InterestPolicy
	// WorkQueuePolicy removes messages once acknowledged (JSON "workqueue").
	WorkQueuePolicy
)

func (rp RetentionPolicy) String() string {
	switch rp {
	case LimitsPolicy:
		return "Limits"
	case InterestPolicy:
		return "Interest"
	case WorkQueuePolicy:
		return "WorkQueue"
	}
	return "Unknown Retention Policy"
}

// MarshalJSON implements json.Marshaler.
func (rp RetentionPolicy) MarshalJSON() ([]byte, error) {
	switch rp {
	case LimitsPolicy:
		return json.Marshal("limits")
	case InterestPolicy:
		return json.Marshal("interest")
	case WorkQueuePolicy:
		return json.Marshal("workqueue")
	}
	return nil, fmt.Errorf("can not marshal %v", rp)
}

// UnmarshalJSON implements json.Unmarshaler.
func (rp *RetentionPolicy) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"limits"`:
		*rp = LimitsPolicy
	case `"interest"`:
		*rp = InterestPolicy
	case `"workqueue"`:
		*rp = WorkQueuePolicy
	default:
		return fmt.Errorf("can not unmarshal %q", data)
	}
	return nil
}

// StoreCompression selects the compression of a stream's sealed blocks.
type StoreCompression uint8

const (
	// NoCompression stores blocks as written (JSON "none").
	NoCompression StoreCompression = iota
	// S2Compression compresses sealed blocks with S2 (JSON "s2").
	S2Compression
)

func (sc StoreCompression) String() string {
	switch sc {
	case NoCompression:
		return "None"
	case S2Compression:
		return "S2"
	}
	return "Unknown StoreCompression"
}

// MarshalJSON implements json.Marshaler.
func (sc StoreCompression) MarshalJSON() ([]byte, error) {
	switch sc {
	case NoCompression:
		return json.Marshal("none")
	case S2Compression:
		return json.Marshal("s2")
	}
	return nil, fmt.Errorf("can not marshal %v", sc)
}

// errUnknownCompression is the reference's word for a compression it has
// no algorithm for.
var errUnknownCompression = errors.New("unknown compression algorithm")

// UnmarshalJSON implements json.Unmarshaler; an empty string means none.
func (sc *StoreCompression) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	switch s {
	case "none", "":
		*sc = NoCompression
	case "s2":
		*sc = S2Compression
	default:
		return errUnknownCompression
	}
	return nil
}
