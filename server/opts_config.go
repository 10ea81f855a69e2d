package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natsforge/nats-server/conf"
)

// ConfigError is a mistake in a configuration file, with its position.
type ConfigError struct {
	Pos string // file:line:col
	Msg string
}

func (e *ConfigError) Error() string { return e.Pos + ": " + e.Msg }

// ConfigErrors collects every mistake found in a file, so that users fix
// them all in one go; the reference reports them the same way.
type ConfigErrors struct {
	Errors   []error
	Warnings []error
}

func (e *ConfigErrors) Error() string {
	var b strings.Builder
	for i, err := range append(append([]error(nil), e.Errors...), e.Warnings...) {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// cfg carries the state of one file's processing.
type cfg struct {
	o        *Options
	errs     []error
	warnings []error
}

func (c *cfg) errorf(v *conf.Value, format string, a ...any) {
	c.errs = append(c.errs, &ConfigError{Pos: keyPos(v), Msg: fmt.Sprintf(format, a...)})
}

func (c *cfg) warnf(v *conf.Value, format string, a ...any) {
	c.warnings = append(c.warnings, &ConfigError{Pos: keyPos(v), Msg: fmt.Sprintf(format, a...)})
}

// keyPos is where an entry was written: the key's position when the parser
// recorded it, else the value's.
func keyPos(v *conf.Value) string {
	if v.KeyLine > 0 {
		return (&conf.Value{File: v.File, Line: v.KeyLine, Col: v.KeyCol}).Pos()
	}
	return v.Pos()
}

// optHandler applies one configuration entry to the options.
type optHandler func(c *cfg, key string, v *conf.Value)

// topLevelOptions is the table of every top-level option: adding an option
// is one entry here and, if it needs one, a check in validateOptions.
var topLevelOptions map[string]optHandler

func init() {
	topLevelOptions = map[string]optHandler{
		"listen":                func(c *cfg, k string, v *conf.Value) { c.hostPort(k, v, &c.o.Host, &c.o.Port) },
		"host":                  strOpt(func(o *Options) *string { return &o.Host }),
		"net":                   strOpt(func(o *Options) *string { return &o.Host }),
		"addr":                  strOpt(func(o *Options) *string { return &o.Host }),
		"server_name":           strOpt(func(o *Options) *string { return &o.ServerName }),
		"client_advertise":      clientAdvertise,
		"debug":                 boolOpt(func(o *Options) *bool { return &o.Debug }),
		"trace":                 boolOpt(func(o *Options) *bool { return &o.Trace }),
		"trace_verbose":         traceVerbose,
		"logtime":               boolOpt(func(o *Options) *bool { return &o.Logtime }),
		"logtime_utc":           boolOpt(func(o *Options) *bool { return &o.LogtimeUTC }),
		"log_file":              strOpt(func(o *Options) *string { return &o.LogFile }),
		"logfile":               strOpt(func(o *Options) *string { return &o.LogFile }),
		"syslog":                boolOpt(func(o *Options) *bool { return &o.Syslog }),
		"remote_syslog":         strOpt(func(o *Options) *string { return &o.RemoteSyslog }),
		"pidfile":               strOpt(func(o *Options) *string { return &o.PidFile }),
		"pid_file":              strOpt(func(o *Options) *string { return &o.PidFile }),
		"ports_file_dir":        strOpt(func(o *Options) *string { return &o.PortsFileDir }),
		"http":                  func(c *cfg, k string, v *conf.Value) { c.hostPort(k, v, &c.o.HTTPHost, &c.o.HTTPPort) },
		"https":                 func(c *cfg, k string, v *conf.Value) { c.hostPort(k, v, &c.o.HTTPHost, &c.o.HTTPSPort) },
		"http_base_path":        strOpt(func(o *Options) *string { return &o.HTTPBasePath }),
		"disable_sublist_cache": boolOpt(func(o *Options) *bool { return &o.NoSublistCache }),
		"no_sublist_cache":      boolOpt(func(o *Options) *bool { return &o.NoSublistCache }),
		"no_header_support":     boolOpt(func(o *Options) *bool { return &o.NoHeaderSupport }),
		"server_tags":           strListOpt(func(o *Options) *[]string { return &o.ServerTags }),
		"no_auth_user":          strOpt(func(o *Options) *string { return &o.NoAuthUser }),
		"authorization":         parseAuthorization,
		"tls":                   parseTLSBlock,
		"allow_non_tls":         boolOpt(func(o *Options) *bool { return &o.AllowNonTLS }),
		"jetstream":             parseJetStream,
		"system_account":        strOpt(func(o *Options) *string { return &o.SystemAccount }),
		"system":                strOpt(func(o *Options) *string { return &o.SystemAccount }),
		"no_system_account":     boolOpt(func(o *Options) *bool { return &o.NoSystemAccount }),
		"cluster":               parseCluster,
		"gateway":               parseGateway, // opts_gateway.go
		"leafnodes":             parseLeafnodes,
		"leaf":                  parseLeafnodes,
		"websocket":             parseWebsocket,
		"ws":                    parseWebsocket,
		"mqtt":                  parseMQTT,
		"accounts":              parseAccounts,
		"mappings":              parseTopMappings,
		"maps":                  parseTopMappings,
		"operator":              parseOperator, // opts_jwt.go
		"operators":             parseOperator,
		"trusted":               parseTrustedKeys,
		"trusted_keys":          parseTrustedKeys,
		"resolver":              parseResolver,
		"account_resolver":      parseResolver,
		"resolver_preload":      parseResolverPreload,
	}
	for _, n := range numOpts {
		topLevelOptions[n.name] = n.handler()
	}
	for alias, name := range numOptAliases {
		topLevelOptions[alias] = topLevelOptions[name]
	}
}

// ProcessConfigFile reads a configuration file into Options. All errors are
// returned together as *ConfigErrors; warnings (deprecated forms the
// reference accepts) are kept in the options and returned by -t.
func ProcessConfigFile(path string) (*Options, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := conf.ParseFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c := &cfg{o: &Options{ConfigFile: path, Logtime: true, configDigest: hex.EncodeToString(sum[:])}}
	c.applyMap(m, topLevelOptions)
	if len(c.errs) > 0 {
		return nil, &ConfigErrors{Errors: c.errs, Warnings: c.warnings}
	}
	c.o.configWarnings = c.warnings
	return c.o, nil
}

// ConfigDigest is the sha256 of the configuration file, in hex.
func (o *Options) ConfigDigest() string { return o.configDigest }

// ConfigWarnings returns what a config file contained that works but is
// deprecated; -t treats these as errors, as the reference does.
func (o *Options) ConfigWarnings() []error { return o.configWarnings }

// applyMap dispatches each entry to its handler, in file order so that
// errors come out in the order they were written.
func (c *cfg) applyMap(m map[string]*conf.Value, table map[string]optHandler) {
	for _, k := range sortedKeys(m) {
		v := m[k]
		h, ok := table[strings.ToLower(k)]
		if !ok {
			c.unknownField(v, k)
			continue
		}
		h(c, k, v)
	}
}

// sortedKeys orders keys by their position in the files.
func sortedKeys(m map[string]*conf.Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m[keys[i]], m[keys[j]]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return keys
}

// Typed accessors: each reports a wrong type clearly instead of the
// reference's Go interface-conversion text.

func (c *cfg) str(k string, v *conf.Value) (string, bool) {
	switch x := v.V.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	c.errorf(v, "field %q: expected a string, got %s", k, typeName(v.V))
	return "", false
}

func (c *cfg) int64(k string, v *conf.Value) (int64, bool) {
	switch x := v.V.(type) {
	case int64:
		return x, true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	}
	c.errorf(v, "field %q: expected an integer, got %s", k, typeName(v.V))
	return 0, false
}

func (c *cfg) bool(k string, v *conf.Value) (bool, bool) {
	if b, ok := v.V.(bool); ok {
		return b, true
	}
	c.errorf(v, "field %q: expected a boolean, got %s", k, typeName(v.V))
	return false, false
}

// duration takes a duration string; a plain number is read as seconds with
// the reference's deprecation warning.
func (c *cfg) duration(k string, v *conf.Value) (time.Duration, bool) {
	switch x := v.V.(type) {
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			c.errorf(v, "error parsing %s: %v", k, err)
			return 0, false
		}
		return d, true
	case int64:
		c.warnf(v, "invalid use of field %q: %s should be converted to a duration", k, k)
		return time.Duration(x) * time.Second, true
	case float64:
		c.warnf(v, "invalid use of field %q: %s should be converted to a duration", k, k)
		return time.Duration(x * float64(time.Second)), true
	}
	c.errorf(v, "field %q: expected a duration such as \"2s\", got %s", k, typeName(v.V))
	return 0, false
}

func (c *cfg) mapOf(k string, v *conf.Value) (map[string]*conf.Value, bool) {
	if m, ok := v.V.(map[string]*conf.Value); ok {
		return m, true
	}
	c.errorf(v, "field %q: expected a map, got %s", k, typeName(v.V))
	return nil, false
}

// strList accepts a single string or an array of strings.
func (c *cfg) strList(k string, v *conf.Value) ([]string, bool) {
	switch x := v.V.(type) {
	case string:
		return []string{x}, true
	case []*conf.Value:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.V.(string)
			if !ok {
				c.errorf(e, "field %q: expected a string, got %s", k, typeName(e.V))
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	c.errorf(v, "field %q: expected a string or an array of strings, got %s", k, typeName(v.V))
	return nil, false
}

func typeName(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case time.Time:
		return "a date"
	case map[string]*conf.Value:
		return "a map"
	case []*conf.Value:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// hostPort accepts "host:port", a bare port number, or a bare host.
func (c *cfg) hostPort(k string, v *conf.Value, host *string, port *int) {
	h, n, withHost, ok := c.splitHostPort(v)
	if !ok || !c.inBound(v, k+" port", int64(n), false, portNumber) {
		return
	}
	if withHost {
		*host = h
	}
	*port = n
}

// splitHostPort reads "host:port" (withHost, the host possibly empty), a
// bare port number, or a port as a string.
func (c *cfg) splitHostPort(v *conf.Value) (host string, port int, withHost, ok bool) {
	switch x := v.V.(type) {
	case int64:
		return "", int(x), false, true
	case string:
		h, p, err := net.SplitHostPort(x)
		if err != nil {
			if n, perr := strconv.Atoi(x); perr == nil {
				return "", n, false, true
			}
			c.errorf(v, "could not parse address string %q", x)
			return "", 0, false, false
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			c.errorf(v, "could not parse port %q", p)
			return "", 0, false, false
		}
		return h, n, true, true
	}
	c.errorf(v, "expected host:port, got %s", typeName(v.V))
	return "", 0, false, false
}

func strOpt(f func(*Options) *string) optHandler {
	return func(c *cfg, k string, v *conf.Value) {
		if s, ok := c.str(k, v); ok {
			*f(c.o) = s
		}
	}
}

func strListOpt(f func(*Options) *[]string) optHandler {
	return func(c *cfg, k string, v *conf.Value) {
		if l, ok := c.strList(k, v); ok {
			*f(c.o) = l
		}
	}
}

func boolOpt(f func(*Options) *bool) optHandler {
	return func(c *cfg, k string, v *conf.Value) {
		if b, ok := c.bool(k, v); ok {
			*f(c.o) = b
		}
	}
}

func clientAdvertise(c *cfg, k string, v *conf.Value) {
	adv, ok := c.str(k, v)
	if !ok {
		return
	}
	if _, _, err := parseClientAdvertise(adv); err != nil {
		c.errorf(v, "%v", err)
		return
	}
	c.o.ClientAdvertise = adv
}

func traceVerbose(c *cfg, k string, v *conf.Value) {
	if b, ok := c.bool(k, v); ok {
		c.o.TraceVerbose = b
		if b {
			c.o.Trace = true
		}
	}
}

func anyUnsupported(name string) optHandler {
	return func(c *cfg, k string, v *conf.Value) {
		c.o.unsupported = append(c.o.unsupported, keyPos(v)+": "+name)
	}
}

// sectionOpt validates a block of a feature not served yet: its keys must
// be ones the reference knows, so typos are caught today.
func sectionOpt(name string, keys []string) optHandler {
	known := make(map[string]bool, len(keys))
	for _, k := range keys {
		known[k] = true
	}
	return func(c *cfg, k string, v *conf.Value) {
		m, ok := c.mapOf(k, v)
		if !ok {
			return
		}
		for _, sk := range sortedKeys(m) {
			if !known[strings.ToLower(sk)] {
				c.unknownField(m[sk], sk)
			}
		}
		c.o.unsupported = append(c.o.unsupported, keyPos(v)+": "+name)
	}
}

var ()

// unknownField reports a key no option knows, unless it only defines a
// variable used elsewhere, which the reference allows anywhere.
func (c *cfg) unknownField(v *conf.Value, k string) {
	if v.UsedAsVariable {
		return
	}
	c.errorf(v, "unknown field %q", k)
}

// confEntry is one map of an array of maps, with its position.
type confEntry struct {
	v *conf.Value
	m map[string]*conf.Value
}

// arrayOfMaps checks that v is an array of maps, as users, exports and
// imports are, reporting every element that is not.
func (c *cfg) arrayOfMaps(k string, v *conf.Value) []confEntry {
	arr, ok := v.V.([]*conf.Value)
	if !ok {
		c.errorf(v, "field %q: expected an array, got %s", k, typeName(v.V))
		return nil
	}
	out := make([]confEntry, 0, len(arr))
	for _, e := range arr {
		if m, ok := c.mapOf(k, e); ok {
			out = append(out, confEntry{e, m})
		}
	}
	return out
}
