package server

import (
	"strconv"
	"time"
)

// Consumer defaults, as the reference fills them. With pedantic set, each
// silent adjustment is refused instead (err 10157), in the same order.

const (
	consumerDefaultAckWait       = 30 * time.Second
	consumerDefaultMaxWaiting    = 512
	consumerDefaultMaxAckPending = 1000
	consumerDefaultInactive      = 5 * time.Second
	consumerDefaultPinnedTimeout = 2 * time.Minute
	consumerAckFCHeartbeat       = time.Second
)

// consumerLimits are the caps and inherited defaults a new configuration
// meets: the server's limits block, the account's and the stream's.
type consumerLimits struct {
	maxAckPending   int // the lower of the server's and the account's; 0: none
	maxRequestBatch int // the server's limits.max_request_batch; 0: none
	stream          StreamConsumerLimits
}

// consumerLimits gathers the limits that apply to consumers of a stream
// with config scfg in this account.
func (ja *jsAccount) consumerLimits(scfg *StreamConfig) consumerLimits {
	l := consumerLimits{stream: scfg.ConsumerLimits}
	if sl := ja.js.limits.Load(); sl != nil {
		l.maxAckPending, l.maxRequestBatch = sl.MaxAckPending, sl.MaxRequestBatch
	}
	if al := ja.limits.Load(); al != nil && al.MaxAckPending > 0 &&
		(l.maxAckPending <= 0 || al.MaxAckPending < l.maxAckPending) {
		l.maxAckPending = al.MaxAckPending
	}
	return l
}

// setConsumerReqLevel stores the API level the config needs as
// _nats.req.level, dropping the server's own keys a client sent back.
// The reference computes it before negative values are reset, and on an
// update with the consumer's pause_until rather than the request's.
func setConsumerReqLevel(c *ConsumerConfig, existing *ConsumerConfig) {
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	delete(c.Metadata, "_nats.ver")
	delete(c.Metadata, "_nats.level")
	leveled := *c
	if existing != nil {
		leveled.PauseUntil = existing.PauseUntil
	}
	c.Metadata["_nats.req.level"] = strconv.Itoa(consumerRequiredLevel(&leveled))
}

// metadataForReply copies an asset's metadata for an answer; withVersion
// adds the server's version and API level, as create, update and info
// answers show them (lists do not).
func metadataForReply(md map[string]string, withVersion bool) map[string]string {
	out := make(map[string]string, len(md)+2)
	for k, v := range md {
		out[k] = v
	}
	if withVersion {
		out["_nats.ver"], out["_nats.level"] = VERSION, strconv.Itoa(JSApiLevel)
	}
	return out
}

// consumerRequiredLevel: 4 for the flow_control ack policy, 1 for pause
// and priority groups, else 0.
func consumerRequiredLevel(c *ConsumerConfig) int {
	switch {
	case c.AckPolicy == AckFlowControl:
		return 4
	case c.PauseUntil != nil && !c.PauseUntil.IsZero(),
		c.PriorityPolicy != PriorityNone, c.PriorityTimeout != 0, len(c.PriorityGroups) > 0:
		return 1
	}
	return 0
}

// consumerNegativeRules reset values below their range, in the
// reference's order; pedantic refuses them with msg.
var consumerNegativeRules = []struct {
	bad   func(c *ConsumerConfig) bool
	reset func(c *ConsumerConfig)
	msg   string
}{
	{func(c *ConsumerConfig) bool { return c.MaxDeliver < -1 }, func(c *ConsumerConfig) { c.MaxDeliver = -1 },
		"max_deliver must be set to -1"},
	{func(c *ConsumerConfig) bool { return c.MaxWaiting < 0 }, func(c *ConsumerConfig) { c.MaxWaiting = 0 },
		"max_waiting must not be negative"},
	{func(c *ConsumerConfig) bool { return c.MaxAckPending < -1 }, func(c *ConsumerConfig) { c.MaxAckPending = -1 },
		"max_ack_pending must be set to -1"},
	{func(c *ConsumerConfig) bool { return c.MaxRequestBatch < 0 }, func(c *ConsumerConfig) { c.MaxRequestBatch = 0 },
		"max_batch must not be negative"},
	{func(c *ConsumerConfig) bool { return c.MaxRequestExpires < 0 }, func(c *ConsumerConfig) { c.MaxRequestExpires = 0 },
		"max_expires must not be negative"},
	{func(c *ConsumerConfig) bool { return c.MaxRequestMaxBytes < 0 }, func(c *ConsumerConfig) { c.MaxRequestMaxBytes = 0 },
		"max_bytes must not be negative"},
	{func(c *ConsumerConfig) bool { return c.Heartbeat < 0 }, func(c *ConsumerConfig) { c.Heartbeat = 0 },
		"idle_heartbeat must not be negative"},
	{func(c *ConsumerConfig) bool { return c.InactiveThreshold < 0 }, func(c *ConsumerConfig) { c.InactiveThreshold = 0 },
		"inactive_threshold must not be negative"},
	{func(c *ConsumerConfig) bool { return c.PriorityTimeout < 0 }, func(c *ConsumerConfig) { c.PriorityTimeout = 0 },
		"priority_timeout must not be negative"},
}

// applyConsumerDefaults fills what the request left unset.
func applyConsumerDefaults(c *ConsumerConfig, lim *consumerLimits, pedantic, ephemeral bool) *ApiError {
	for _, r := range consumerNegativeRules {
		if !r.bad(c) {
			continue
		}
		if pedantic {
			return jsError(jsPedantic, r.msg)
		}
		r.reset(c)
	}
	// ack_wait gets its default before the first backoff value replaces it.
	if c.AckWait == 0 && (c.AckPolicy == AckExplicit || c.AckPolicy == AckAll) {
		c.AckWait = consumerDefaultAckWait
	}
	if len(c.BackOff) > 0 {
		if pedantic && c.AckWait != c.BackOff[0] {
			return jsError(jsPedantic, "first backoff value has to equal batch AckWait")
		}
		c.AckWait = c.BackOff[0]
	}
	if e := inheritConsumerLimits(c, lim, pedantic); e != nil {
		return e
	}
	setPlainConsumerDefaults(c, lim, ephemeral)
	return nil
}

// inheritConsumerLimits takes the stream's consumer_limits and the
// server's max_request_batch as defaults (pedantic wants them explicit).
func inheritConsumerLimits(c *ConsumerConfig, lim *consumerLimits, pedantic bool) *ApiError {
	if c.MaxAckPending == 0 && lim.stream.MaxAckPending > 0 {
		if pedantic {
			return jsError(jsPedantic, "max_ack_pending must be set if it's configured in stream limits")
		}
		c.MaxAckPending = lim.stream.MaxAckPending
	}
	if c.InactiveThreshold == 0 && lim.stream.InactiveThreshold > 0 {
		if pedantic {
			return jsError(jsPedantic, "inactive_threshold must be set if it's configured in stream limits")
		}
		c.InactiveThreshold = lim.stream.InactiveThreshold
	}
	if c.DeliverSubject == "" && c.MaxRequestBatch == 0 && lim.maxRequestBatch > 0 {
		if pedantic {
			return jsError(jsPedantic, "max_request_batch must be set if it's JetStream limits are set")
		}
		c.MaxRequestBatch = lim.maxRequestBatch
	}
	return nil
}

// setPlainConsumerDefaults fills the defaults no pedantic rule covers.
func setPlainConsumerDefaults(c *ConsumerConfig, lim *consumerLimits, ephemeral bool) {
	if c.MaxDeliver == 0 {
		c.MaxDeliver = -1
	}
	if c.DeliverSubject == "" && c.MaxWaiting == 0 {
		c.MaxWaiting = consumerDefaultMaxWaiting
	}
	if c.MaxAckPending == 0 && c.AckPolicy != AckNone {
		c.MaxAckPending = consumerDefaultMaxAckPending
		if lim.maxAckPending > 0 && lim.maxAckPending < c.MaxAckPending {
			c.MaxAckPending = lim.maxAckPending
		}
	}
	if ephemeral && c.InactiveThreshold == 0 {
		c.InactiveThreshold = consumerDefaultInactive
	}
	if c.PriorityPolicy == PriorityPinnedClient && c.PriorityTimeout == 0 {
		c.PriorityTimeout = consumerDefaultPinnedTimeout
	}
}

// applyAckFlowControl forces what the flow_control ack policy needs: flow
// control and a 1 s heartbeat (pedantic refuses other values).
func applyAckFlowControl(c *ConsumerConfig, pedantic bool) *ApiError {
	if !c.FlowControl {
		if pedantic {
			return jsError(jsConsumerAckFCRequiresFC)
		}
		c.FlowControl = true
	}
	if c.Heartbeat != consumerAckFCHeartbeat {
		if pedantic {
			return jsError(jsStreamInvalidConfig, "flow control ack policy heartbeat needs to be 1s")
		}
		c.Heartbeat = consumerAckFCHeartbeat
	}
	return nil
}
