package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/natsforge/nats-server/conf"
)

// AccountOpts is one account of the accounts { } block.
type AccountOpts struct {
	Name     string
	Exports  []*ExportOpts
	Imports  []*ImportOpts
	Mappings []*MappingOpts
	// TraceDest receives the traces of messages carrying a sampled W3C
	// traceparent header (msg_trace); TraceSampling is the percentage traced.
	TraceDest     string
	TraceSampling int
}

// ExportOpts is a stream or service an account offers to others.
type ExportOpts struct {
	Stream            string
	Service           string
	Accounts          []string // empty: public
	ResponseType      string   // singleton (default), stream or chunked
	ResponseThreshold time.Duration
	AllowTrace        bool // traced requests stay traced inside the exporter
	pos               string
}

// ImportOpts brings another account's stream or service into this one.
type ImportOpts struct {
	Account string
	Stream  string
	Service string
	To      string // local subject
	Prefix  string // stream imports: local prefix
	// AllowTrace lets traced messages of a stream import stay traced here.
	AllowTrace bool
	pos        string
}

// MappingOpts is one subject mapping with its weighted destinations.
type MappingOpts struct {
	Source string
	Dests  []MappingDest
	pos    string
}

// MappingDest is a destination with its share of messages, in percent.
type MappingDest struct {
	Subject string
	Weight  int
}

// DEFAULT_RESPONSE_THRESHOLD is how long a stream or chunked service
// response route stays open, as with the reference.
const DEFAULT_RESPONSE_THRESHOLD = 2 * time.Minute

func parseAccounts(c *cfg, k string, v *conf.Value) {
	switch x := v.V.(type) {
	case []*conf.Value:
		// accounts: [A, B] declares empty accounts.
		for _, e := range x {
			if name, ok := c.str(k, e); ok {
				c.o.Accounts = append(c.o.Accounts, &AccountOpts{Name: name})
			}
		}
		return
	case map[string]*conf.Value:
		for _, name := range sortedKeys(x) {
			c.parseAccount(name, x[name])
		}
		return
	}
	c.errorf(v, "field %q: expected a map of accounts, got %s", k, typeName(v.V))
}

func (c *cfg) parseAccount(name string, v *conf.Value) {
	a := &AccountOpts{Name: name}
	c.o.Accounts = append(c.o.Accounts, a)
	m, ok := c.mapOf(name, v)
	if !ok {
		return
	}
	var users []*User
	var nkeyUsers []*NkeyUser
	var defaultPerms *Permissions
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "users":
			before, beforeNk := len(c.o.Users), len(c.o.Nkeys)
			c.parseUsers(key, e)
			users, nkeyUsers = append(users, c.o.Users[before:]...), append(nkeyUsers, c.o.Nkeys[beforeNk:]...)
			for _, u := range c.o.Users[before:] {
				u.Account = name
			}
			for _, u := range c.o.Nkeys[beforeNk:] {
				u.Account = name
			}
		case "default_permissions":
			defaultPerms = c.parsePermissions(key, e)
		case "jetstream":
			if c.accountJetStream(name, key, e) {
				c.o.JetStreamAccounts = append(c.o.JetStreamAccounts, name)
			}
		case "limits":
			c.accountLimits(name, key, e)
		case "nkey":
			if nk, ok := c.str(key, e); ok && !nkeys.IsValidPublicAccountKey(nk) {
				c.errorf(e, "Not a valid public nkey for an account: %q", nk)
			} else if ok {
				// The account's identity in operator mode, which is refused.
				c.o.unsupported = append(c.o.unsupported, keyPos(e)+": account nkey")
			}
		case "exports":
			c.parseExports(a, key, e)
		case "imports":
			c.parseImports(a, key, e)
		case "mappings", "maps":
			a.Mappings = c.parseMappings(key, e)
		case "msg_trace", "trace_dest":
			c.parseMsgTrace(a, key, e)
		default:
			c.unknownField(e, key)
		}
	}
	// The account's default permissions are for its users that have none of
	// their own; the others keep falling back to the global ones.
	if defaultPerms != nil {
		for _, u := range users {
			if u.Permissions == nil {
				u.Permissions = defaultPerms
			}
		}
		for _, u := range nkeyUsers {
			if u.Permissions == nil {
				u.Permissions = defaultPerms
			}
		}
	}
}

// accountJetStream reads an account's jetstream setting: enabled, disabled
// or a map of limits.
func (c *cfg) accountJetStream(account, k string, v *conf.Value) bool {
	switch x := v.V.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(x) {
		case "enabled", "enable":
			return true
		case "disabled", "disable":
			return false
		}
		c.errorf(v, "field %q: expected enabled or disabled, got %q", k, x)
		return false
	case map[string]*conf.Value:
		return c.parseAccountJetStreamLimits(account, x) // jetstream_opts.go
	}
	c.errorf(v, "field %q: expected a boolean, a string or a map, got %s", k, typeName(v.V))
	return false
}

// accountLimits checks an account's limits block, in the reference's words
// for unknown keys; enforcing the limits is not built yet, so a block is
// refused rather than ignored.
func (c *cfg) accountLimits(account, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	for _, key := range sortedKeys(m) {
		switch strings.ToLower(key) {
		case "max_connections", "max_conn", "max_subscriptions", "max_subs", "max_payload", "max_pay",
			"max_leafnodes", "max_leafs":
		default:
			c.errorf(m[key], "Unknown field %q parsing account limits", key)
		}
	}
	c.o.unsupported = append(c.o.unsupported, keyPos(v)+": limits in account "+account)
}

func (c *cfg) parseExports(a *AccountOpts, k string, v *conf.Value) {
	for _, ce := range c.arrayOfMaps(k, v) {
		e, m := ce.v, ce.m
		ex := &ExportOpts{pos: keyPos(e)}
		for _, key := range sortedKeys(m) {
			f := m[key]
			switch strings.ToLower(key) {
			case "stream":
				ex.Stream, _ = c.str(key, f)
			case "service":
				ex.Service, _ = c.str(key, f)
			case "accounts":
				ex.Accounts, _ = c.strList(key, f)
			case "response", "response_type":
				s, _ := c.str(key, f)
				switch strings.ToLower(s) {
				case "singleton", "single", "stream", "chunked":
					ex.ResponseType = strings.ToLower(s)
				default:
					c.errorf(f, "unknown response type: %q", s)
				}
			case "threshold", "response_threshold", "response_max_time", "response_time":
				if d, ok := c.duration(key, f); ok && c.inBound(f, key, int64(d), true, notNegative) {
					ex.ResponseThreshold = d
				}
			case "account_token_position":
				// A restriction: ignoring it would open the export to all.
				c.o.unsupported = append(c.o.unsupported, keyPos(f)+": account_token_position")
			case "allow_trace":
				ex.AllowTrace, _ = c.bool(key, f)
			case "advertise", "name", "description", "info_url":
				// Descriptions for tools.
			default:
				c.unknownField(f, key)
			}
		}
		subj := ex.Stream + ex.Service
		switch {
		case ex.Stream != "" && ex.Service != "":
			c.errorf(e, "export can not be both a stream and a service")
		case subj == "":
			c.errorf(e, "export needs a stream or a service subject")
		case !IsValidSubject(subj):
			c.errorf(e, "invalid export subject %q", subj)
		default:
			a.Exports = append(a.Exports, ex)
		}
	}
}

func (c *cfg) parseImports(a *AccountOpts, k string, v *conf.Value) {
	for _, ce := range c.arrayOfMaps(k, v) {
		e, m := ce.v, ce.m
		im := &ImportOpts{pos: keyPos(e)}
		for _, key := range sortedKeys(m) {
			f := m[key]
			switch strings.ToLower(key) {
			case "stream", "service":
				src, ok := c.mapOf(key, f)
				if !ok {
					continue
				}
				var acc, subj string
				for _, sk := range sortedKeys(src) {
					switch strings.ToLower(sk) {
					case "account":
						acc, _ = c.str(sk, src[sk])
					case "subject":
						subj, _ = c.str(sk, src[sk])
					default:
						c.unknownField(src[sk], sk)
					}
				}
				im.Account = acc
				if strings.EqualFold(key, "stream") {
					im.Stream = subj
				} else {
					im.Service = subj
				}
			case "to", "local_subject":
				im.To, _ = c.str(key, f)
			case "prefix":
				im.Prefix, _ = c.str(key, f)
			case "allow_trace":
				im.AllowTrace, _ = c.bool(key, f)
			case "share":
			default:
				c.unknownField(f, key)
			}
		}
		subj := im.Stream + im.Service
		switch {
		case im.Account == "":
			c.errorf(e, "import needs an account")
		case subj == "" || !IsValidSubject(subj):
			c.errorf(e, "import needs a valid subject, got %q", subj)
		case im.Stream != "" && im.Service != "":
			c.errorf(e, "import can not be both a stream and a service")
		default:
			a.Imports = append(a.Imports, im)
		}
	}
}

// parseMappings reads mappings { source: destination | [ {destination, weight} ] }.
func (c *cfg) parseMappings(k string, v *conf.Value) []*MappingOpts {
	m, ok := c.mapOf(k, v)
	if !ok {
		return nil
	}
	var out []*MappingOpts
	for _, src := range sortedKeys(m) {
		e := m[src]
		mo := &MappingOpts{Source: src, pos: keyPos(e)}
		switch x := e.V.(type) {
		case string:
			mo.Dests = []MappingDest{{Subject: x, Weight: 100}}
		case map[string]*conf.Value:
			if d, ok := c.parseMappingDest(x); ok {
				mo.Dests = append(mo.Dests, d)
			}
		case []*conf.Value:
			for _, de := range x {
				dm, ok := c.mapOf(src, de)
				if !ok {
					continue
				}
				if d, ok := c.parseMappingDest(dm); ok {
					mo.Dests = append(mo.Dests, d)
				}
			}
		default:
			c.errorf(e, "mapping for %q: expected a subject or destinations, got %s", src, typeName(e.V))
			continue
		}
		total := 0
		for _, d := range mo.Dests {
			total += d.Weight
			if _, err := newSubjectTransform(src, d.Subject); err != nil {
				c.errorf(e, "%v", err)
			}
		}
		if total > 100 {
			c.errorf(e, "mapping for %q: weights add up to %d%%, more than 100%%", src, total)
		}
		out = append(out, mo)
	}
	return out
}

func (c *cfg) parseMappingDest(m map[string]*conf.Value) (MappingDest, bool) {
	d := MappingDest{Weight: 100}
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "destination", "dest":
			d.Subject, _ = c.str(key, e)
		case "weight":
			switch x := e.V.(type) {
			case int64:
				d.Weight = int(x)
			case string:
				n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(x), "%"))
				if err != nil {
					c.errorf(e, "invalid weight %q", x)
					return d, false
				}
				d.Weight = n
			default:
				c.errorf(e, "invalid weight %s", typeName(e.V))
				return d, false
			}
			if d.Weight < 0 || d.Weight > 100 {
				c.errorf(e, "invalid weight %d: must be between 0 and 100", d.Weight)
				return d, false
			}
		case "cluster":
			// Cluster-scoped destinations need clustering; this server has
			// no cluster name, so such entries never apply.
			return d, false
		default:
			c.unknownField(e, key)
		}
	}
	if d.Subject == "" {
		c.errorf(m[sortedKeys(m)[0]], "mapping destination needs a subject")
		return d, false
	}
	return d, true
}

func parseTopMappings(c *cfg, k string, v *conf.Value) {
	c.o.Mappings = append(c.o.Mappings, c.parseMappings(k, v)...)
}

// describeImport is how errors name an import.
func (im *ImportOpts) describe() string {
	if im.Stream != "" {
		return fmt.Sprintf("stream import of %q from account %q", im.Stream, im.Account)
	}
	return fmt.Sprintf("service import of %q from account %q", im.Service, im.Account)
}

// parseMsgTrace reads an account's `msg_trace: {dest, sampling}`, or its
// short forms `msg_trace: subject` and `trace_dest: subject`; the texts of
// the errors are the reference's, its "Ttrace" typo included.
func (c *cfg) parseMsgTrace(a *AccountOpts, k string, v *conf.Value) {
	destVal := v
	var samplingVal *conf.Value
	if m, ok := v.V.(map[string]*conf.Value); ok {
		destVal = nil
		for _, key := range sortedKeys(m) {
			switch strings.ToLower(key) {
			case "dest":
				destVal = m[key]
			case "sampling":
				samplingVal = m[key]
			default:
				c.errorf(m[key], "Unknown field %q parsing account message trace map/struct %q", key, k)
			}
		}
	}
	if destVal != nil {
		dest, ok := destVal.V.(string)
		if !ok {
			c.errorf(destVal, "Field %q should be a string, got %T", "dest", destVal.V)
			return
		}
		if !IsValidLiteralSubject(dest) {
			c.errorf(destVal, "Trace destination %q is not valid", dest)
			return
		}
		a.TraceDest = dest
	}
	a.TraceSampling = 100
	if samplingVal == nil {
		return
	}
	if a.TraceDest == "" {
		c.warnf(samplingVal, "Trace destination sampling ignored since no destination was set")
		return
	}
	if n, ok := c.traceSampling(samplingVal); ok {
		a.TraceSampling = n
	}
}

// traceSampling reads a percentage given as 50 or "50%".
func (c *cfg) traceSampling(v *conf.Value) (int, bool) {
	var n int64
	switch x := v.V.(type) {
	case int64:
		n = x
	case string:
		var err error
		if n, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(x), "%"), 10, 64); err != nil {
			c.errorf(v, "Invalid trace destination sampling value %q", x)
			return 0, false
		}
	default:
		c.errorf(v, "Trace destination sampling field %q should be an integer or a percentage, got %T", "sampling", v.V)
		return 0, false
	}
	if n < 1 || n > 100 {
		c.errorf(v, "Ttrace destination sampling value %d is invalid, needs to be [1..100]", n)
		return 0, false
	}
	return int(n), true
}
