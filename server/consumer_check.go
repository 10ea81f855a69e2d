package server

import "time"

// consumerCreateArgs is what a create request says, from its subject and
// its body.
type consumerCreateArgs struct {
	stream     string // the subject's stream token
	name       string // the subject's consumer token; "" for the legacy ephemeral form
	filter     string // the subject's filter tokens, joined; "" when absent
	durableAPI bool   // $JS.API.CONSUMER.DURABLE.CREATE
	req        *CreateConsumerRequest
	// existingPushBound: the existing consumer of that name is a push
	// consumer whose deliver subject has interest now.
	existingPushBound bool
}

// checkConsumerCreate decides whether a create request may go ahead and
// returns the configuration to create (or update) the consumer with: name
// chosen, defaults applied, limits checked. existing is the current
// configuration of a consumer of that name (nil when there is none);
// others are the configurations of the stream's other consumers.
func (ja *jsAccount) checkConsumerCreate(st *stream, a *consumerCreateArgs, existing *ConsumerConfig, others []*ConsumerConfig) (*ConsumerConfig, *ApiError) {
	cfg := a.req.Config
	if cfg.Name == "" {
		cfg.Name = cfg.Durable
	}
	if cfg.Name == "" {
		cfg.Name = a.name
	}
	if cfg.Name == "" {
		cfg.Name = consumerRandomName()
	}
	setConsumerDefaults(&cfg)
	return &cfg, nil
}

// setConsumerDefaults fills unset fields as the reference does.
func setConsumerDefaults(cfg *ConsumerConfig) {
	if cfg.AckPolicy != AckNone && cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = -1
	}
	if cfg.DeliverSubject == "" && cfg.MaxWaiting == 0 {
		cfg.MaxWaiting = 512
	}
	if cfg.AckPolicy != AckNone && cfg.MaxAckPending == 0 {
		cfg.MaxAckPending = 1000
	}
	if cfg.Durable == "" && cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = 5 * time.Second
	}
}

// consumerRandomName is the 8-character name of a consumer created
// without one, as the reference's generated names.
func consumerRandomName() string { return jsRandomID()[:8] }
