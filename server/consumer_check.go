package server

import (
	"maps"
	"reflect"
	"strings"
	"time"
)

// The create check runs in the reference's order, observed on v2.15.2 by
// sending requests that break two rules at once and seeing which error
// wins:
//
//  1. the request against its subject (consumer_check.go): stream name,
//     durable and filter forms, path separators, replicas above 1;
//  2. defaults, each with its pedantic error (consumer_check_defaults.go);
//  3. the configuration's own rules (consumer_check_rules.go), then the
//     workqueue rules against the stream's other consumers;
//  4. against what exists: the action, what an update may change, the
//     consumer limits (this file).
//
// Every error comes from the catalogue; tests in consumer_check_test.go
// replay the reference's answers for each rule and for pairs of rules.

// consumerCreateArgs is what a create request says, from its subject and
// its body.
type consumerCreateArgs struct {
	stream     string // the subject's stream token
	name       string // the subject's consumer token; "" for the legacy ephemeral form (see checkConsumerCreate)
	filter     string // the subject's filter tokens, joined; "" when absent
	durableAPI bool   // $JS.API.CONSUMER.DURABLE.CREATE
	req        *CreateConsumerRequest

	// accountConsumers is how many consumers the account has on all its
	// streams, for the account's max_consumers; filled by the caller.
	accountConsumers int
}

// checkConsumerCreate decides whether a create request may go ahead and
// returns the configuration to create (or update) the consumer with: name
// chosen, defaults applied, limits checked. existing is the current
// configuration of a consumer of that name (nil when there is none);
// others are the configurations of the stream's other consumers (without
// the one named). The legacy ephemeral form without a name gets a random
// one in a.name, while its config keeps none, as the reference shows it.
func (ja *jsAccount) checkConsumerCreate(st *stream, a *consumerCreateArgs, existing *ConsumerConfig, others []*ConsumerConfig) (*ConsumerConfig, *ApiError) {
	scfg := st.cfg()
	cfg, e := consumerFromRequest(a, scfg.Replicas)
	if e != nil {
		return nil, e
	}
	setConsumerReqLevel(cfg, existing)
	lim := ja.consumerLimits(&scfg)
	// An update keeps the consumer's kind: the defaults of an ephemeral
	// apply to it even if the request names a durable, as the reference.
	ephemeral := cfg.Durable == ""
	if existing != nil {
		ephemeral = existing.Durable == ""
	}
	if e := applyConsumerDefaults(cfg, &lim, a.req.Pedantic, ephemeral); e != nil {
		return nil, e
	}
	if e := checkConsumerConfig(cfg, &scfg, &lim, a.req.Pedantic); e != nil {
		return nil, e
	}
	if e := checkWorkQueueConsumer(cfg, &scfg, others); e != nil {
		return nil, e
	}
	if len(cfg.Durable) > jsMaxNameLen {
		return nil, jsError(jsConsumerNameTooLong, jsMaxNameLen)
	}
	if e := ja.checkAgainstExisting(cfg, a, existing, others, &scfg); e != nil {
		return nil, e
	}
	if len(cfg.Name) > jsMaxNameLen && !cfg.MemoryStorage && scfg.Storage == FileStorage {
		// The reference's store refuses a directory name that long.
		return nil, jsError(jsConsumerCreate, "error creating store for consumer")
	}
	if cfg.Name == "" {
		// The reference keeps no name in such a consumer's config.
		a.name = consumerRandomName()
	}
	return cfg, nil
}

// consumerFromRequest checks the request against its subject and returns
// a copy of its config named as the subject says.
// A consumer of a replicated stream has its state replicated with the
// stream's (stream_replicate.go): it may ask for up to the stream's
// replicas.
func consumerFromRequest(a *consumerCreateArgs, streamReplicas int) (*ConsumerConfig, *ApiError) {
	req := a.req
	if req.Stream != a.stream {
		return nil, jsError(jsStreamMismatch)
	}
	cfg := req.Config
	cfg.Metadata = maps.Clone(cfg.Metadata) // defaults write to it
	if e := checkConsumerSubjectForm(a, &cfg); e != nil {
		return nil, e
	}
	if strings.ContainsAny(cfg.Name, `\/`) {
		return nil, jsError(jsConsumerNamePathSep)
	}
	switch {
	case cfg.Replicas > 1 && streamReplicas <= 1:
		return nil, jsError(jsStreamReplicasNotSupp)
	case cfg.Replicas > streamReplicas && streamReplicas > 1:
		return nil, jsError(jsConsumerReplicasExceedsStream)
	}
	return &cfg, nil
}

// checkConsumerSubjectForm applies the rules of each create subject form and
// names the consumer: the subject's token wins over the body's name.
func checkConsumerSubjectForm(a *consumerCreateArgs, cfg *ConsumerConfig) *ApiError {
	switch {
	case a.durableAPI:
		if cfg.Durable == "" {
			return jsError(jsConsumerDurableNotSet)
		}
		if cfg.Durable != a.name {
			return jsError(jsConsumerDurableMismatch)
		}
	case a.name == "":
		if cfg.Durable != "" {
			return jsError(jsConsumerEphemeralWithDurable)
		}
		return nil
	case cfg.Durable != "" && cfg.Durable != a.name:
		return jsError(jsConsumerDurableMismatch)
	}
	cfg.Name = a.name
	if a.filter == "" {
		return nil
	}
	if len(cfg.FilterSubjects) > 0 {
		return jsError(jsConsumerMultipleFiltersSubj)
	}
	if cfg.FilterSubject != a.filter {
		return jsError(jsConsumerFilterSubjMismatch)
	}
	return nil
}

// checkAgainstExisting applies the request's action, the update rules and,
// for a new consumer, the consumer limits.
func (ja *jsAccount) checkAgainstExisting(cfg *ConsumerConfig, a *consumerCreateArgs, existing *ConsumerConfig, others []*ConsumerConfig, scfg *StreamConfig) *ApiError {
	if existing == nil {
		if a.req.Action == ActionUpdate {
			return jsError(jsConsumerDoesNotExist)
		}
		return ja.checkConsumerCount(a, others, scfg)
	}
	// Compared as the reference does (an empty list is not none), with the
	// request's own pause_until; an update then keeps the consumer's (only
	// CONSUMER.PAUSE changes it).
	if a.req.Action == ActionCreate && !reflect.DeepEqual(cfg, existing) {
		return jsError(jsConsumerAlreadyExists)
	}
	cfg.PauseUntil = existing.PauseUntil
	if e := checkConsumerUpdate(existing, cfg); e != nil {
		return e
	}
	if existing.DeliverSubject != "" && existing.DeliverSubject != cfg.DeliverSubject &&
		accountHasInterest(ja.acc, existing.DeliverSubject) {
		return jsError(jsConsumerNameExist)
	}
	return nil
}

// checkConsumerCount refuses a consumer over the stream's or the
// account's max_consumers.
func (ja *jsAccount) checkConsumerCount(a *consumerCreateArgs, others []*ConsumerConfig, scfg *StreamConfig) *ApiError {
	if scfg.MaxConsumers > 0 && len(others) >= scfg.MaxConsumers {
		return jsError(jsMaximumConsumersLimit)
	}
	if l := ja.limits.Load(); l != nil && l.MaxConsumers > 0 && a.accountConsumers >= l.MaxConsumers {
		return jsError(jsMaximumConsumersLimit)
	}
	return nil
}

// consumerCount is how many consumers the account has on all its streams.
func (ja *jsAccount) consumerCount() int {
	n := 0
	for _, st := range ja.streamList() {
		n += st.numConsumers()
	}
	return n
}

// consumerUpdateRules are the fields an update may not change, in the
// order the reference checks them, with its words (err 10012).
var consumerUpdateRules = []struct {
	changed func(old, c *ConsumerConfig) bool
	msg     string
}{
	{func(o, c *ConsumerConfig) bool { return o.DeliverPolicy != c.DeliverPolicy }, "deliver policy can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.MemoryStorage != c.MemoryStorage }, "storage type can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.Direct != c.Direct }, "direct can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.Sourcing != c.Sourcing }, "sourcing can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.OptStartSeq != c.OptStartSeq }, "start sequence can not be updated"},
	{func(o, c *ConsumerConfig) bool { return !sameTime(o.OptStartTime, c.OptStartTime) }, "start time can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.AckPolicy != c.AckPolicy }, "ack policy can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.ReplayPolicy != c.ReplayPolicy }, "replay policy can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.Heartbeat != c.Heartbeat }, "heart beats can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.FlowControl != c.FlowControl }, "flow control can not be updated"},
	{func(o, c *ConsumerConfig) bool { return o.DeliverSubject == "" && c.DeliverSubject != "" }, "can not update pull consumer to push based"},
	{func(o, c *ConsumerConfig) bool { return o.DeliverSubject != "" && c.DeliverSubject == "" }, "can not update push consumer to pull based"},
	{func(o, c *ConsumerConfig) bool { return o.MaxWaiting != c.MaxWaiting }, "max waiting can not be updated"},
}

// checkConsumerUpdate refuses changes to what an update may not change.
func checkConsumerUpdate(old, c *ConsumerConfig) *ApiError {
	for _, r := range consumerUpdateRules {
		if r.changed(old, c) {
			return jsError(jsConsumerCreate, r.msg)
		}
	}
	return nil
}

// sameTime compares optional times by instant.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// consumerRandomName is the 8-character name of a consumer created
// without one, as the reference's generated names.
func consumerRandomName() string { return jsRandomID()[:8] }
