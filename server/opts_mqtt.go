package server

import (
	"strings"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// MQTTOpts is the mqtt { } block: a listener for MQTT 3.1.1 and MQTT 5
// clients (mqtt_*.go). The listener exists only when Port is set (-1 for a
// random port). MQTT keeps its sessions, retained messages and QoS 1/2
// messages in JetStream streams of each account, so it needs JetStream.
type MQTTOpts struct {
	Host string
	Port int
	// NoAuthUser is the user an MQTT client without credentials logs in as,
	// instead of the top-level no_auth_user.
	NoAuthUser string
	// The mqtt authorization block: a single user or a token (given as the
	// MQTT password); otherwise MQTT clients authenticate as any client.
	Username    string
	Password    string
	Token       string
	AuthTimeout float64 // seconds; 0 means the top-level timeout
	TLS         *TLSConfigOpts
	// AckWait is how long a QoS 1/2 message delivered to a subscriber waits
	// for its PUBACK/PUBREC before it is sent again (DUP set).
	AckWait time.Duration
	// MaxAckPending bounds the QoS 1/2 messages in flight per subscription.
	MaxAckPending uint16
	// JsDomain names the JetStream domain the MQTT streams live in: another
	// than this server's own is reached through $JS.<domain>.API (a leaf
	// node whose MQTT state lives in its hub's JetStream).
	JsDomain string
	// StreamReplicas of the MQTT streams; 0 means the JetStream cluster's
	// size up to 3 (1 standalone), as the reference does. A standalone
	// server refuses more than 1 when the streams are created (err 10074).
	StreamReplicas int
	// ConsumerReplicas is ignored, as by the reference (its config key only
	// warns): MQTT consumers have their stream's replicas.
	ConsumerReplicas int
	// ConsumerMemoryStorage keeps the subscriptions' consumer state in
	// memory (the messages stay in the file streams).
	ConsumerMemoryStorage bool
	// ConsumerInactiveThreshold removes the consumers of a session that has
	// been gone that long (0: never).
	ConsumerInactiveThreshold time.Duration
	// JSAPITimeout bounds each JetStream request MQTT makes (session load
	// and store, stream creation).
	JSAPITimeout time.Duration
}

// MQTT defaults, as the reference's.
const (
	mqttDefaultAckWait       = 30 * time.Second
	mqttDefaultMaxAckPending = 1024
	mqttDefaultJSAPITimeout  = 5 * time.Second
)

// parseMQTT reads mqtt { ... }.
func parseMQTT(c *cfg, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	mo := &c.o.MQTT
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "listen":
			c.hostPort(key, e, &mo.Host, &mo.Port)
		case "host", "net":
			mo.Host, _ = c.str(key, e)
		case "port":
			if n, ok := c.int64(key, e); ok && c.inBound(e, "mqtt port", n, false, portNumber) {
				mo.Port = int(n)
			}
		case "tls":
			if t := c.parseTLS(key, e); t != nil {
				t.filesDigest = digestTLSFiles(t)
				mo.TLS = t
			}
		case "no_auth_user":
			mo.NoAuthUser, _ = c.str(key, e)
		case "authorization", "authentication":
			c.parseMQTTAuthorization(key, e)
		case "ack_wait", "ackwait":
			if d, ok := c.duration(key, e); ok {
				mo.AckWait = d
			}
		case "max_ack_pending", "max_pending", "max_inflight":
			if n, ok := c.int64(key, e); ok {
				if n < 0 || n > 0xFFFF {
					c.errorf(e, "invalid value %d, should in [0..65535] range", n)
					continue
				}
				mo.MaxAckPending = uint16(n)
			}
		case "js_domain":
			mo.JsDomain, _ = c.str(key, e)
		case "stream_replicas":
			if n, ok := c.int64(key, e); ok {
				mo.StreamReplicas = int(n)
			}
		case "consumer_replicas":
			// As the reference: a warning, and the consumers take their
			// stream's replicas.
			c.warnf(e, "invalid use of field %q: consumer replicas setting ignored in this server version", key)
		case "consumer_memory_storage":
			mo.ConsumerMemoryStorage, _ = c.bool(key, e)
		case "consumer_inactive_threshold", "consumer_auto_cleanup":
			if d, ok := c.duration(key, e); ok && c.inBound(e, "mqtt consumer_inactive_threshold", int64(d), true, notNegative) {
				mo.ConsumerInactiveThreshold = d
			}
		case "js_api_timeout", "api_timeout":
			if d, ok := c.duration(key, e); ok && c.inBound(e, "mqtt js_api_timeout", int64(d), true, notNegative) {
				mo.JSAPITimeout = d
			}
		default:
			c.unknownField(e, key)
		}
	}
}

// parseMQTTAuthorization reads the mqtt block's authorization: one user or
// a token, and a timeout. Users lists are the top level's business.
func (c *cfg) parseMQTTAuthorization(k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	mo := &c.o.MQTT
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "user", "username":
			mo.Username, _ = c.str(key, e)
		case "pass", "password":
			mo.Password, _ = c.str(key, e)
		case "token":
			mo.Token, _ = c.str(key, e)
		case "timeout":
			mo.AuthTimeout = c.authTimeout(key, e)
		default:
			c.unknownField(e, key)
		}
	}
}

// validateMQTT checks the block when it enables a listener, with the
// reference's words where it has them.
func validateMQTT(o *Options) error {
	mo := &o.MQTT
	if mo.Port == 0 {
		return nil
	}
	if !o.JetStream && mqttStandalone(o) {
		return fmtErr("mqtt requires JetStream to be enabled if running in standalone mode")
	}
	if mo.AckWait < 0 {
		return fmtErr("ack wait must be a positive value")
	}
	if mo.Username != "" && mo.Token != "" {
		return fmtErr("mqtt authorization: user and token are exclusive")
	}
	if mo.NoAuthUser != "" && mo.Username == "" && mo.Token == "" {
		found := false
		for _, u := range o.Users {
			found = found || u.Username == mo.NoAuthUser
		}
		if !found {
			return fmtErr("mqtt no_auth_user %q not present as user", mo.NoAuthUser)
		}
	}
	return nil
}

// mqttStandalone reports whether the server has no other server to reach
// a JetStream through (no cluster, gateway or leaf nodes): without its own
// JetStream, MQTT could keep no state. With them, as the reference, MQTT
// uses the JetStream it reaches (js_domain names a leaf node's hub's).
func mqttStandalone(o *Options) bool {
	return o.Cluster.Port == 0 && o.Gateway.Port == 0 && o.LeafNode.Port == 0 && len(o.LeafNode.Remotes) == 0
}

// mqttAckWait, mqttMaxAckPending and mqttAPITimeout apply the defaults.
func (mo *MQTTOpts) ackWait() time.Duration {
	if mo.AckWait > 0 {
		return mo.AckWait
	}
	return mqttDefaultAckWait
}

func (mo *MQTTOpts) maxAckPending() int {
	if mo.MaxAckPending > 0 {
		return int(mo.MaxAckPending)
	}
	return mqttDefaultMaxAckPending
}

func (mo *MQTTOpts) apiTimeout() time.Duration {
	if mo.JSAPITimeout > 0 {
		return mo.JSAPITimeout
	}
	return mqttDefaultJSAPITimeout
}
