package server

// Consumer advisories on $JS.EVENT.ADVISORY.CONSUMER.*.

const (
	jsConsumerCreatedPrefix = "$JS.EVENT.ADVISORY.CONSUMER.CREATED."
	jsConsumerDeletedPrefix = "$JS.EVENT.ADVISORY.CONSUMER.DELETED."
)

// JSConsumerActionAdvisory is the consumer_action advisory (created,
// deleted).
type JSConsumerActionAdvisory struct {
	TypedEvent
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	Action   string `json:"action"`
	Domain   string `json:"domain,omitempty"`
}

// adviseConsumer publishes a consumer's creation or deletion.
func (ja *jsAccount) adviseConsumer(stream, name, action string) {
	st := ja.lookupStream(stream)
	if st != nil && !st.advisesHere() {
		return // a replicated stream's leader advises (jetstream_cluster_advisory.go)
	}
	if c := ja.js.cluster; c != nil && st != nil && st.replicated && action == jsActionCreate {
		c.announceCreated(st, name)
	}
	prefix := jsConsumerCreatedPrefix
	if action == jsActionDelete {
		prefix = jsConsumerDeletedPrefix
	}
	ja.js.srv.publishAdvisory(ja.acc, prefix+stream+"."+name, &JSConsumerActionAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "consumer_action"),
		Stream:     stream, Consumer: name, Action: action, Domain: ja.js.domain(),
	})
}

const (
	jsConsumerMaxDeliveriesPrefix = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."
	jsConsumerNakPrefix           = "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED."
	jsConsumerTermPrefix          = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."
	jsConsumerAckMetricPrefix     = "$JS.EVENT.METRIC.CONSUMER.ACK."
)

// JSConsumerDeliveryExceededAdvisory is the max_deliver advisory.
type JSConsumerDeliveryExceededAdvisory struct {
	TypedEvent
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Domain     string `json:"domain,omitempty"`
}

// JSNakAdvisory is the nak advisory.
type JSNakAdvisory struct {
	TypedEvent
	Stream      string `json:"stream"`
	Consumer    string `json:"consumer"`
	ConsumerSeq uint64 `json:"consumer_seq"`
	StreamSeq   uint64 `json:"stream_seq"`
	Deliveries  uint64 `json:"deliveries"`
	Domain      string `json:"domain,omitempty"`
}

// JSTerminatedAdvisory is the terminated advisory.
type JSTerminatedAdvisory struct {
	TypedEvent
	Stream      string `json:"stream"`
	Consumer    string `json:"consumer"`
	ConsumerSeq uint64 `json:"consumer_seq"`
	StreamSeq   uint64 `json:"stream_seq"`
	Deliveries  uint64 `json:"deliveries"`
	Domain      string `json:"domain,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// JSConsumerAckMetric is the sampled ack metric.
type JSConsumerAckMetric struct {
	TypedEvent
	Stream      string `json:"stream"`
	Consumer    string `json:"consumer"`
	ConsumerSeq uint64 `json:"consumer_seq"`
	StreamSeq   uint64 `json:"stream_seq"`
	Delay       int64  `json:"ack_time"`
	Deliveries  uint64 `json:"deliveries"`
	Domain      string `json:"domain,omitempty"`
}

// Consumer events decided under the consumer's lock, published after.
const (
	cevMaxDeliver byte = iota
	cevNak
	cevTerm
	cevAckMetric
	cevReply // not an event: an ack-of-ack, kept in order with them
)

// consumerEvent is one advisory or metric to publish.
type consumerEvent struct {
	kind       byte
	cseq, sseq uint64
	dc         uint64
	ackTime    int64
	reason     string
	reply      string // an ack-of-ack to send right after (kept in order)
}

// publishEvent sends one consumer advisory or metric.
func (c *consumer) publishEvent(ev *consumerEvent) {
	ja := c.st.ja
	s, suffix := ja.js.srv, c.st.name+"."+c.name
	switch ev.kind {
	case cevMaxDeliver:
		s.publishAdvisory(ja.acc, jsConsumerMaxDeliveriesPrefix+suffix, &JSConsumerDeliveryExceededAdvisory{
			TypedEvent: newEvent(jsAdvisoryPrefix + "max_deliver"), Stream: c.st.name, Consumer: c.name,
			StreamSeq: ev.sseq, Deliveries: ev.dc, Domain: ja.js.domain()})
	case cevNak:
		s.publishAdvisory(ja.acc, jsConsumerNakPrefix+suffix, &JSNakAdvisory{
			TypedEvent: newEvent(jsAdvisoryPrefix + "nak"), Stream: c.st.name, Consumer: c.name,
			ConsumerSeq: ev.cseq, StreamSeq: ev.sseq, Deliveries: ev.dc, Domain: ja.js.domain()})
	case cevTerm:
		s.publishAdvisory(ja.acc, jsConsumerTermPrefix+suffix, &JSTerminatedAdvisory{
			TypedEvent: newEvent(jsAdvisoryPrefix + "terminated"), Stream: c.st.name, Consumer: c.name,
			ConsumerSeq: ev.cseq, StreamSeq: ev.sseq, Deliveries: ev.dc, Domain: ja.js.domain(), Reason: ev.reason})
	case cevAckMetric:
		s.publishAdvisory(ja.acc, jsConsumerAckMetricPrefix+suffix, &JSConsumerAckMetric{
			TypedEvent: newEvent("io.nats.jetstream.metric.v1.consumer_ack"), Stream: c.st.name, Consumer: c.name,
			ConsumerSeq: ev.cseq, StreamSeq: ev.sseq, Delay: ev.ackTime, Deliveries: ev.dc, Domain: ja.js.domain()})
	}
}
