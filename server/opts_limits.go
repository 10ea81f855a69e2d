package server

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// bound is the range a numeric option accepts. Zero is always accepted
// where the option treats it as "use the default".
type bound struct {
	min, max      int64
	zeroIsDefault bool
	why           string // appended to the error when a value is refused
}

func (b bound) accepts(v int64) bool {
	return (v == 0 && b.zeroIsDefault) || (v >= b.min && v <= b.max)
}

var (
	notNegative = bound{0, math.MaxInt64, true, "must not be negative"}
	portNumber  = bound{-1, 65535, true, "must be a port from 0 to 65535, or -1 for a random one"}
	int32Size   = bound{1, math.MaxInt32, true, "must be from 1 to 2147483647 (2GB-1)"}
	// A subscription limit of 0 or -1 means none, as with the reference.
	subsLimit = bound{-1, math.MaxInt64, true, "must be -1 or 0 (no limit), or more"}
	// JetStream's store limits take -1 for "no limit", as with the reference.
	storeLimit = bound{-1, math.MaxInt64, true, "must be -1 (no limit) or more"}
	// Under a millisecond every client would be closed as stale at once, or
	// every write would time out; the reference accepts such values.
	shortestTimer = bound{int64(time.Millisecond), math.MaxInt64, true, "must be at least 1ms (0 means the default)"}
)

// numOpt is a numeric top-level option: where it lives in Options and what
// it accepts. The same table checks config files (with the position of the
// value) and options built in code or from flags (validateOptions), so the
// two cannot disagree.
type numOpt struct {
	name  string
	field func(*Options) any // *int, *int32, *int64 or *time.Duration
	b     bound
}

var numOpts = []numOpt{
	{"port", func(o *Options) any { return &o.Port }, portNumber},
	{"http_port", func(o *Options) any { return &o.HTTPPort }, portNumber},
	{"https_port", func(o *Options) any { return &o.HTTPSPort }, portNumber},
	{"prof_port", func(o *Options) any { return &o.ProfPort }, portNumber},
	{"max_connections", func(o *Options) any { return &o.MaxConn }, notNegative},
	{"max_subscriptions", func(o *Options) any { return &o.MaxSubs }, subsLimit},
	{"max_payload", func(o *Options) any { return &o.MaxPayload }, int32Size},
	{"max_control_line", func(o *Options) any { return &o.MaxControlLine }, int32Size},
	{"max_pending", func(o *Options) any { return &o.MaxPending }, notNegative},
	{"ping_interval", func(o *Options) any { return &o.PingInterval }, shortestTimer},
	{"ping_max", func(o *Options) any { return &o.MaxPingsOut }, notNegative},
	{"write_deadline", func(o *Options) any { return &o.WriteDeadline }, shortestTimer},
	{"lame_duck_duration", func(o *Options) any { return &o.LameDuckDuration }, notNegative},
	{"lame_duck_grace_period", func(o *Options) any { return &o.LameDuckGracePeriod }, notNegative},
	{"max_closed_clients", func(o *Options) any { return &o.MaxClosedClients }, notNegative},
	{"max_traced_msg_len", func(o *Options) any { return &o.MaxTracedMsgLen }, notNegative},
	{"log_size_limit", func(o *Options) any { return &o.LogSizeLimit }, notNegative},
	{"logfile_max_num", func(o *Options) any { return &o.LogMaxFiles }, notNegative},
	{"connect_error_reports", func(o *Options) any { return &o.ConnectErrorReports }, notNegative},
	{"reconnect_error_reports", func(o *Options) any { return &o.ReconnectErrorReports }, notNegative},
}

// numOptAliases are the other spellings the reference accepts.
var numOptAliases = map[string]string{
	"max_conn":           "max_connections",
	"max_subs":           "max_subscriptions",
	"monitor_port":       "http_port",
	"logfile_size_limit": "log_size_limit",
	"log_max_num":        "logfile_max_num",
}

func (n numOpt) isDuration() bool {
	_, ok := n.field(&Options{}).(*time.Duration)
	return ok
}

func (n numOpt) get(o *Options) int64 {
	switch p := n.field(o).(type) {
	case *int:
		return int64(*p)
	case *int32:
		return int64(*p)
	case *int64:
		return *p
	case *time.Duration:
		return int64(*p)
	}
	return 0
}

// set stores v, which the bound has already limited to the field's range.
func (n numOpt) set(o *Options, v int64) {
	switch p := n.field(o).(type) {
	case *int:
		*p = int(v)
	case *int32:
		*p = int32(v)
	case *int64:
		*p = v
	case *time.Duration:
		*p = time.Duration(v)
	}
}

// refusal words a value outside the bound, as the reference words its
// lame_duck_duration check: "invalid <name> of <value>, <why>".
func (n numOpt) refusal(name string, v int64) string {
	return refusal(name, v, n.isDuration(), n.b)
}

func refusal(name string, v int64, isDuration bool, b bound) string {
	shown := strconv.FormatInt(v, 10)
	if isDuration {
		shown = time.Duration(v).String()
	}
	return fmt.Sprintf("invalid %s of %s, %s", name, shown, b.why)
}

// inBound reports a value of a block's option (what is written at v) that
// falls outside b.
func (c *cfg) inBound(v *conf.Value, name string, x int64, isDuration bool, b bound) bool {
	if b.accepts(x) {
		return true
	}
	c.errorf(v, "%s", refusal(name, x, isDuration, b))
	return false
}

// handler reads the option from a config file and checks its range.
func (n numOpt) handler() optHandler {
	return func(c *cfg, k string, v *conf.Value) {
		var x int64
		if n.isDuration() {
			d, ok := c.duration(k, v)
			if !ok {
				return
			}
			x = int64(d)
		} else {
			i, ok := c.int64(k, v)
			if !ok {
				return
			}
			x = i
		}
		if !n.b.accepts(x) {
			c.errorf(v, "%s", n.refusal(k, x))
			return
		}
		n.set(c.o, x)
	}
}

// validateRanges checks every numeric option, for options that did not come
// from a config file (embedding, flags); the first one out of range is the
// error.
func validateRanges(o *Options) error {
	for _, n := range numOpts {
		if x := n.get(o); !n.b.accepts(x) {
			return fmt.Errorf("%s", n.refusal(n.name, x))
		}
	}
	if o.AuthTimeout < 0 {
		return fmt.Errorf("invalid authorization timeout of %v, must not be negative", o.AuthTimeout)
	}
	if o.TLS != nil && o.TLS.Timeout < 0 {
		return fmt.Errorf("invalid tls timeout of %v, must not be negative", o.TLS.Timeout)
	}
	if o.LameDuckGracePeriod >= o.LameDuckDuration && o.LameDuckDuration > 0 {
		return fmt.Errorf("lame duck grace period (%v) should be strictly lower than lame duck duration (%v)",
			o.LameDuckGracePeriod, o.LameDuckDuration)
	}
	return nil
}
