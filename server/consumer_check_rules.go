package server

import (
	"strconv"
	"strings"
	"time"
)

// The rules a consumer configuration must follow once its defaults are
// in, one function per group, called in the reference's order.

const (
	consumerMinHeartbeat   = 100 * time.Millisecond
	consumerMinMaxExpires  = time.Millisecond
	consumerMaxGroupName   = 16
	consumerMetadataLimit  = "128KB" // the reference's words for jsMaxMetadataLen
	consumerNameCharsWords = `consumer name can not contain '.', '*', '>', '\', '/'`
)

// checkConsumerConfig validates c, whose defaults are applied, for a
// stream with config scfg.
func checkConsumerConfig(c *ConsumerConfig, scfg *StreamConfig, lim *consumerLimits, pedantic bool) *ApiError {
	if consumerNameBad(c.Name) {
		return jsError(jsStreamInvalidConfig, consumerNameCharsWords)
	}
	if c.Replicas < 0 {
		return jsError(jsReplicasNegative)
	}
	if e := checkConsumerAcks(c, pedantic); e != nil {
		return e
	}
	if len(c.Description) > jsMaxDescriptionLen {
		return jsError(jsConsumerDescriptionTooLong, jsMaxDescriptionLen)
	}
	for _, check := range consumerRuleGroups {
		if e := check(c, scfg, lim); e != nil {
			return e
		}
	}
	return nil
}

// consumerRuleGroups run after the ack and description rules, in order.
var consumerRuleGroups = []func(c *ConsumerConfig, scfg *StreamConfig, lim *consumerLimits) *ApiError{
	checkPushConsumer,
	checkPullConsumer,
	checkConsumerMaxima,
	checkDirectConsumer,
	func(c *ConsumerConfig, _ *StreamConfig, _ *consumerLimits) *ApiError { return checkConsumerFilters(c) },
	func(c *ConsumerConfig, _ *StreamConfig, _ *consumerLimits) *ApiError { return checkConsumerStart(c) },
	func(c *ConsumerConfig, _ *StreamConfig, _ *consumerLimits) *ApiError {
		return checkSampleFreq(c.SampleFrequency)
	},
	func(c *ConsumerConfig, _ *StreamConfig, _ *consumerLimits) *ApiError {
		if c.FlowControl && c.Heartbeat == 0 {
			return jsError(jsConsumerFCNeedsHeartbeats)
		}
		if metadataLen(c.Metadata) > jsMaxMetadataLen {
			return jsError(jsConsumerMetadataLength, consumerMetadataLimit)
		}
		return nil
	},
	func(c *ConsumerConfig, _ *StreamConfig, _ *consumerLimits) *ApiError { return checkPriorityGroups(c) },
}

// consumerNameBad reports a name holding whitespace, '.', '*' or '>'
// (path separators are refused earlier with their own error).
func consumerNameBad(name string) bool {
	return strings.ContainsAny(name, " \t\r\n\f.*>")
}

// checkConsumerAcks: backoff and ack_wait, then the flow_control ack
// policy, then backoff against max_deliver.
func checkConsumerAcks(c *ConsumerConfig, pedantic bool) *ApiError {
	for _, b := range c.BackOff {
		if b < 0 {
			return jsError(jsConsumerBackOffNegative)
		}
	}
	if c.AckWait < 0 {
		return jsError(jsConsumerAckWaitNegative)
	}
	if c.AckPolicy == AckFlowControl {
		if e := checkAckFlowControl(c, pedantic); e != nil {
			return e
		}
	}
	if c.MaxDeliver > 0 && len(c.BackOff) > c.MaxDeliver {
		return jsError(jsConsumerMaxDeliverBackoff)
	}
	return nil
}

// checkAckFlowControl applies the flow_control ack policy's rules.
func checkAckFlowControl(c *ConsumerConfig, pedantic bool) *ApiError {
	if c.DeliverSubject == "" {
		return jsError(jsConsumerAckFCRequiresPush)
	}
	if e := applyAckFlowControl(c, pedantic); e != nil {
		return e
	}
	switch {
	case c.MaxAckPending <= 0:
		return jsError(jsConsumerAckFCRequiresMaxAckPending)
	case c.AckWait != 0 || len(c.BackOff) > 0:
		return jsError(jsConsumerAckFCRequiresNoAckWait)
	case c.MaxDeliver > 0:
		return jsError(jsConsumerAckFCRequiresNoMaxDeliver)
	}
	return nil
}

// checkPushConsumer: the deliver subject, then what push cannot have.
func checkPushConsumer(c *ConsumerConfig, scfg *StreamConfig, _ *consumerLimits) *ApiError {
	ds := c.DeliverSubject
	if ds == "" {
		return nil
	}
	switch {
	case subjectHasWildcard(ds):
		return jsError(jsConsumerDeliverToWildcards)
	case !IsValidPublishSubject(ds):
		return jsError(jsConsumerInvalidDeliverSubject)
	case deliverSubjectCycles(ds, scfg):
		return jsError(jsConsumerDeliverCycle)
	case c.MaxWaiting != 0:
		return jsError(jsConsumerPushMaxWaiting)
	case c.MaxAckPending > 0 && c.AckPolicy == AckNone:
		return jsError(jsConsumerMaxPendingAckPolicy)
	case c.Heartbeat > 0 && c.Heartbeat < consumerMinHeartbeat:
		return jsError(jsConsumerSmallHeartbeat)
	}
	return nil
}

// deliverSubjectCycles reports a deliver subject the stream would store.
func deliverSubjectCycles(ds string, scfg *StreamConfig) bool {
	for _, s := range scfg.Subjects {
		if subjectsCollide(ds, s) {
			return true
		}
	}
	return false
}

// checkPullConsumer: what a pull consumer cannot have.
func checkPullConsumer(c *ConsumerConfig, scfg *StreamConfig, lim *consumerLimits) *ApiError {
	if c.DeliverSubject != "" {
		return nil
	}
	switch {
	case scfg.Retention == WorkQueuePolicy && c.AckPolicy == AckNone:
		return jsError(jsConsumerPullRequiresAck)
	case c.RateLimit > 0:
		return jsError(jsConsumerPullWithRateLimit)
	case c.Heartbeat > 0:
		return jsError(jsConsumerHBRequiresPush)
	case c.FlowControl:
		return jsError(jsConsumerFCRequiresPush)
	case c.MaxRequestExpires != 0 && c.MaxRequestExpires < consumerMinMaxExpires:
		return jsError(jsConsumerMaxRequestExpiresTooSmall)
	case lim.maxRequestBatch > 0 && c.MaxRequestBatch > lim.maxRequestBatch:
		return jsError(jsConsumerMaxRequestBatchExceeded, lim.maxRequestBatch)
	}
	return nil
}

// checkConsumerMaxima: max_ack_pending within the server's and account's
// cap, then the stream's; inactive_threshold within the stream's.
func checkConsumerMaxima(c *ConsumerConfig, _ *StreamConfig, lim *consumerLimits) *ApiError {
	if lim.maxAckPending > 0 && c.MaxAckPending > lim.maxAckPending {
		return jsError(jsConsumerMaxPendingAckExcess, lim.maxAckPending)
	}
	if m := lim.stream.MaxAckPending; m > 0 && c.MaxAckPending > m {
		return jsError(jsConsumerMaxPendingAckExcess, m)
	}
	if t := lim.stream.InactiveThreshold; t > 0 && c.InactiveThreshold > t {
		return jsError(jsConsumerInactiveThresholdExcess, t.String())
	}
	return nil
}

// checkDirectConsumer: direct consumers are push and ephemeral.
func checkDirectConsumer(c *ConsumerConfig, _ *StreamConfig, _ *consumerLimits) *ApiError {
	switch {
	case !c.Direct:
	case c.DeliverSubject == "":
		return jsError(jsConsumerDirectRequiresPush)
	case c.Durable != "":
		return jsError(jsConsumerDirectRequiresEphemeral)
	}
	return nil
}

// checkConsumerFilters: one form of filter, valid subjects, none inside
// another (a filter that only shares subjects with another is allowed).
func checkConsumerFilters(c *ConsumerConfig) *ApiError {
	if c.FilterSubject != "" && len(c.FilterSubjects) > 0 {
		return jsError(jsConsumerDuplicateFilterSubjects)
	}
	if c.FilterSubject != "" && !IsValidSubject(c.FilterSubject) {
		return jsError(jsStreamInvalidConfig, "invalid subject")
	}
	for _, f := range c.FilterSubjects {
		if f == "" {
			return jsError(jsConsumerEmptyFilter)
		}
	}
	for i, f := range c.FilterSubjects {
		if !IsValidSubject(f) {
			return jsError(jsStreamInvalidConfig, "invalid subject")
		}
		for _, g := range c.FilterSubjects[i+1:] {
			if subjectIsSubsetOf(f, g) || subjectIsSubsetOf(g, f) {
				return jsError(jsConsumerOverlappingSubjectFilters)
			}
		}
	}
	return nil
}

// consumerPolicyWords names each deliver policy in the 10094 texts.
var consumerPolicyWords = map[DeliverPolicy]string{
	DeliverAll: "deliver all", DeliverLast: "deliver last", DeliverNew: "deliver new",
	DeliverByStartSequence: "deliver by start sequence", DeliverByStartTime: "deliver by start time",
	DeliverLastPerSubject: "deliver last per subject",
}

// checkConsumerStart: the start options each deliver policy needs and
// forbids (the reference's texts, "start start" included).
func checkConsumerStart(c *ConsumerConfig) *ApiError {
	hasSeq, hasTime := c.OptStartSeq > 0, c.OptStartTime != nil
	var what string
	switch c.DeliverPolicy {
	case DeliverByStartSequence:
		what = pick(!hasSeq, "optional start sequence is not set", hasTime, "optional start time is also set")
	case DeliverByStartTime:
		what = pick(!hasTime, "optional start time is not set", hasSeq, "optional start start sequence is also set")
	default:
		what = pick(hasSeq, "optional start sequence is also set", hasTime, "optional start time is also set")
	}
	if what == "" && c.DeliverPolicy == DeliverLastPerSubject && c.FilterSubject == "" && len(c.FilterSubjects) == 0 {
		what = "optional filter subject is not set"
	}
	if what == "" {
		return nil
	}
	return jsError(jsConsumerInvalidPolicy, "consumer delivery policy is "+consumerPolicyWords[c.DeliverPolicy]+", but "+what)
}

// pick returns the first text whose condition holds, or "".
func pick(c1 bool, t1 string, c2 bool, t2 string) string {
	switch {
	case c1:
		return t1
	case c2:
		return t2
	}
	return ""
}

// checkSampleFreq parses "N" or "N%" as the reference does (a negative N
// gets its odd "<nil>" text).
func checkSampleFreq(freq string) *ApiError {
	if freq == "" {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(freq, "%"))
	if err != nil {
		return jsError(jsConsumerInvalidSampling, err)
	}
	if n < 0 {
		return jsError(jsConsumerInvalidSampling, "<nil>")
	}
	return nil
}

// checkPriorityGroups: priority policies are for pull consumers with
// named groups; groups and a timeout need a policy.
func checkPriorityGroups(c *ConsumerConfig) *ApiError {
	if c.PriorityPolicy != PriorityNone {
		if c.DeliverSubject != "" {
			return jsError(jsConsumerPushWithPriorityGroup)
		}
		if len(c.PriorityGroups) == 0 {
			return jsError(jsConsumerPriorityPolicyWithoutGroup)
		}
		for _, g := range c.PriorityGroups {
			if g == "" {
				return jsError(jsConsumerEmptyGroupName)
			}
			if !validGroupName(g) {
				return jsError(jsConsumerInvalidGroupName)
			}
		}
		return nil
	}
	if len(c.PriorityGroups) > 0 {
		return jsError(jsConsumerPriorityGroupWithPolicyNone)
	}
	if c.PriorityTimeout != 0 {
		return jsError(jsConsumerPinnedTTLWithoutPolicy)
	}
	return nil
}

// validGroupName is ^[a-zA-Z0-9/_=-]{1,16}$ without a regexp.
func validGroupName(g string) bool {
	if len(g) == 0 || len(g) > consumerMaxGroupName {
		return false
	}
	for i := 0; i < len(g); i++ {
		switch ch := g[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == '/', ch == '_', ch == '=', ch == '-':
		default:
			return false
		}
	}
	return true
}

// checkWorkQueueConsumer: on a workqueue stream every message goes to one
// consumer, so consumers ack explicitly, start at the beginning and do not
// share subjects. Direct and sourcing consumers are exempt.
func checkWorkQueueConsumer(c *ConsumerConfig, scfg *StreamConfig, others []*ConsumerConfig) *ApiError {
	if scfg.Retention != WorkQueuePolicy || c.Direct || c.Sourcing {
		return nil
	}
	switch {
	case c.AckPolicy != AckExplicit && c.AckPolicy != AckFlowControl:
		return jsError(jsConsumerWQRequiresExplicitAck)
	case c.DeliverPolicy != DeliverAll:
		return jsError(jsConsumerWQNotDeliverAll)
	}
	filters := consumerFilters(c)
	if len(filters) == 0 {
		if len(others) > 0 {
			return jsError(jsConsumerWQMultipleUnfiltered)
		}
		return nil
	}
	for _, o := range others {
		if o.Direct {
			continue
		}
		if filtersCollide(filters, consumerFilters(o)) {
			return jsError(jsConsumerWQNotUnique)
		}
	}
	return nil
}

// filtersCollide reports two filter sets sharing a subject; no filters
// means every subject.
func filtersCollide(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if subjectsCollide(x, y) {
				return true
			}
		}
	}
	return false
}
