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
	prefix := jsConsumerCreatedPrefix
	if action == jsActionDelete {
		prefix = jsConsumerDeletedPrefix
	}
	ja.js.srv.publishAdvisory(ja.acc, prefix+stream+"."+name, &JSConsumerActionAdvisory{
		TypedEvent: newEvent(jsAdvisoryPrefix + "consumer_action"),
		Stream:     stream, Consumer: name, Action: action, Domain: ja.js.domain(),
	})
}
