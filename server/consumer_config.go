package server

import (
	"encoding/json"
	"fmt"
	"time"
)

// ConsumerConfig is a consumer's configuration as carried by the JetStream
// API (the 35 fields of the contract, in the reference's JSON names and
// order) and persisted with the consumer.
type ConsumerConfig struct {
	Durable         string          `json:"durable_name,omitempty"`
	Name            string          `json:"name,omitempty"`
	Description     string          `json:"description,omitempty"`
	DeliverPolicy   DeliverPolicy   `json:"deliver_policy"`
	OptStartSeq     uint64          `json:"opt_start_seq,omitempty"`
	OptStartTime    *time.Time      `json:"opt_start_time,omitempty"`
	AckPolicy       AckPolicy       `json:"ack_policy"`
	AckWait         time.Duration   `json:"ack_wait,omitempty"`
	MaxDeliver      int             `json:"max_deliver,omitempty"`
	BackOff         []time.Duration `json:"backoff,omitempty"`
	FilterSubject   string          `json:"filter_subject,omitempty"`
	FilterSubjects  []string        `json:"filter_subjects,omitempty"`
	ReplayPolicy    ReplayPolicy    `json:"replay_policy"`
	RateLimit       uint64          `json:"rate_limit_bps,omitempty"`
	SampleFrequency string          `json:"sample_freq,omitempty"`
	MaxWaiting      int             `json:"max_waiting,omitempty"`
	MaxAckPending   int             `json:"max_ack_pending,omitempty"`
	FlowControl     bool            `json:"flow_control,omitempty"`
	HeadersOnly     bool            `json:"headers_only,omitempty"`

	// Pull consumers only.
	MaxRequestBatch    int           `json:"max_batch,omitempty"`
	MaxRequestExpires  time.Duration `json:"max_expires,omitempty"`
	MaxRequestMaxBytes int           `json:"max_bytes,omitempty"`

	// Push consumers only.
	DeliverSubject string        `json:"deliver_subject,omitempty"`
	DeliverGroup   string        `json:"deliver_group,omitempty"`
	Heartbeat      time.Duration `json:"idle_heartbeat,omitempty"`

	InactiveThreshold time.Duration     `json:"inactive_threshold,omitempty"`
	Replicas          int               `json:"num_replicas"`
	MemoryStorage     bool              `json:"mem_storage,omitempty"`
	Direct            bool              `json:"direct,omitempty"`
	Sourcing          bool              `json:"sourcing,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	PauseUntil        *time.Time        `json:"pause_until,omitempty"`

	PriorityGroups  []string       `json:"priority_groups,omitempty"`
	PriorityPolicy  PriorityPolicy `json:"priority_policy,omitempty"`
	PriorityTimeout time.Duration  `json:"priority_timeout,omitempty"`
}

// CreateConsumerRequest is the body of every CONSUMER.CREATE form and of
// DURABLE.CREATE.
type CreateConsumerRequest struct {
	Stream   string         `json:"stream_name"`
	Config   ConsumerConfig `json:"config"`
	Action   ConsumerAction `json:"action"`
	Pedantic bool           `json:"pedantic,omitempty"`
}

// ConsumerInfo is what CONSUMER.INFO, CREATE and LIST report.
type ConsumerInfo struct {
	Stream         string               `json:"stream_name"`
	Name           string               `json:"name"`
	Created        time.Time            `json:"created"`
	Config         *ConsumerConfig      `json:"config,omitempty"`
	Delivered      SequenceInfo         `json:"delivered"`
	AckFloor       SequenceInfo         `json:"ack_floor"`
	NumAckPending  int                  `json:"num_ack_pending"`
	NumRedelivered int                  `json:"num_redelivered"`
	NumWaiting     int                  `json:"num_waiting"`
	NumPending     uint64               `json:"num_pending"`
	Cluster        *ClusterInfo         `json:"cluster,omitempty"`
	PushBound      bool                 `json:"push_bound,omitempty"`
	Paused         bool                 `json:"paused,omitempty"`
	PauseRemaining time.Duration        `json:"pause_remaining,omitempty"`
	TimeStamp      time.Time            `json:"ts"`
	PriorityGroups []PriorityGroupState `json:"priority_groups,omitempty"`
}

// SequenceInfo is a consumer and stream sequence pair with the time of
// the last activity (omitted when there was none).
type SequenceInfo struct {
	Consumer uint64     `json:"consumer_seq"`
	Stream   uint64     `json:"stream_seq"`
	Last     *time.Time `json:"last_active,omitempty"`
}

// PriorityGroupState is one priority group in ConsumerInfo.
type PriorityGroupState struct {
	Group          string    `json:"group"`
	PinnedClientID string    `json:"pinned_client_id,omitempty"`
	PinnedTS       time.Time `json:"pinned_ts"`
}

// jsonEnum maps an enum's values to their JSON strings, in one table per
// type so that marshalling and unmarshalling cannot disagree.
type jsonEnum[T ~int] struct {
	names map[T]string
}

func (e jsonEnum[T]) marshal(v T) ([]byte, error) {
	if s, ok := e.names[v]; ok {
		return json.Marshal(s)
	}
	return nil, fmt.Errorf("can not marshal %v", v)
}

func (e jsonEnum[T]) unmarshal(data []byte, v *T) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	for k, name := range e.names {
		if name == s {
			*v = k
			return nil
		}
	}
	return fmt.Errorf("can not unmarshal %q", data)
}

// DeliverPolicy says where a consumer starts in its stream.
type DeliverPolicy int

// The deliver policies; "undefined" reads as all, as the reference does.
const (
	DeliverAll DeliverPolicy = iota
	DeliverLast
	DeliverNew
	DeliverByStartSequence
	DeliverByStartTime
	DeliverLastPerSubject
)

var deliverPolicyJSON = jsonEnum[DeliverPolicy]{map[DeliverPolicy]string{
	DeliverAll: "all", DeliverLast: "last", DeliverNew: "new",
	DeliverByStartSequence: "by_start_sequence", DeliverByStartTime: "by_start_time",
	DeliverLastPerSubject: "last_per_subject",
}}

// MarshalJSON implements json.Marshaler.
func (p DeliverPolicy) MarshalJSON() ([]byte, error) { return deliverPolicyJSON.marshal(p) }

// UnmarshalJSON implements json.Unmarshaler.
func (p *DeliverPolicy) UnmarshalJSON(data []byte) error {
	if string(data) == `"undefined"` {
		*p = DeliverAll
		return nil
	}
	return deliverPolicyJSON.unmarshal(data, p)
}

// AckPolicy says which deliveries must be acknowledged. Its zero value
// is none: an omitted ack_policy means none, as the reference reads it.
type AckPolicy int

// The ack policies.
const (
	AckNone AckPolicy = iota
	AckAll
	AckExplicit
	AckFlowControl
)

var ackPolicyJSON = jsonEnum[AckPolicy]{map[AckPolicy]string{
	AckNone: "none", AckAll: "all", AckExplicit: "explicit", AckFlowControl: "flow_control",
}}

// MarshalJSON implements json.Marshaler.
func (p AckPolicy) MarshalJSON() ([]byte, error) { return ackPolicyJSON.marshal(p) }

// UnmarshalJSON implements json.Unmarshaler.
func (p *AckPolicy) UnmarshalJSON(data []byte) error { return ackPolicyJSON.unmarshal(data, p) }

// ReplayPolicy says whether messages go out as fast as possible or at
// the pace they were stored.
type ReplayPolicy int

// The replay policies.
const (
	ReplayInstant ReplayPolicy = iota
	ReplayOriginal
)

var replayPolicyJSON = jsonEnum[ReplayPolicy]{map[ReplayPolicy]string{
	ReplayInstant: "instant", ReplayOriginal: "original",
}}

// MarshalJSON implements json.Marshaler.
func (p ReplayPolicy) MarshalJSON() ([]byte, error) { return replayPolicyJSON.marshal(p) }

// UnmarshalJSON implements json.Unmarshaler.
func (p *ReplayPolicy) UnmarshalJSON(data []byte) error { return replayPolicyJSON.unmarshal(data, p) }

// PriorityPolicy says how pull requests of priority groups share messages.
type PriorityPolicy int

// The priority policies.
const (
	PriorityNone PriorityPolicy = iota
	PriorityOverflow
	PriorityPinnedClient
	PriorityPrioritized
)

var priorityPolicyJSON = jsonEnum[PriorityPolicy]{map[PriorityPolicy]string{
	PriorityNone: "none", PriorityOverflow: "overflow", PriorityPinnedClient: "pinned_client",
	PriorityPrioritized: "prioritized",
}}

// MarshalJSON implements json.Marshaler.
func (p PriorityPolicy) MarshalJSON() ([]byte, error) { return priorityPolicyJSON.marshal(p) }

// UnmarshalJSON implements json.Unmarshaler.
func (p *PriorityPolicy) UnmarshalJSON(data []byte) error {
	if priorityPolicyJSON.unmarshal(data, p) == nil {
		return nil
	}
	var s string
	_ = json.Unmarshal(data, &s)
	return fmt.Errorf("unknown priority policy: %q", s)
}

// ConsumerAction is a create request's action: create or update (""),
// create only, or update only.
type ConsumerAction int

// The create request's actions.
const (
	ActionCreateOrUpdate ConsumerAction = iota
	ActionUpdate
	ActionCreate
)

var consumerActionJSON = jsonEnum[ConsumerAction]{map[ConsumerAction]string{
	ActionCreateOrUpdate: "", ActionUpdate: "update", ActionCreate: "create",
}}

// MarshalJSON implements json.Marshaler.
func (a ConsumerAction) MarshalJSON() ([]byte, error) { return consumerActionJSON.marshal(a) }

// UnmarshalJSON implements json.Unmarshaler.
func (a *ConsumerAction) UnmarshalJSON(data []byte) error {
	if consumerActionJSON.unmarshal(data, a) == nil {
		return nil
	}
	var s string
	_ = json.Unmarshal(data, &s)
	return fmt.Errorf("unknown consumer action: %q", s)
}
