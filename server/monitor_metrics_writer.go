package server

import (
	"strconv"
	"time"
)

// promWriter appends the Prometheus text exposition format (version 0.0.4)
// to a reused buffer:
//
//	# HELP <name> <help>
//	# TYPE <name> gauge|counter|untyped
//	<name>{<label>="<value>",...} <value>
//
// A family's HELP and TYPE lines come once, before all its samples. Labels
// are written in the order given, which callers keep sorted by name, as
// prometheus-nats-exporter prints them; the server_id label is slotted in
// by name so that callers never repeat it. Values are printed as Go's
// shortest %g, which is what the exporter prints (1.048576e+06, 65536).
type promWriter struct {
	b        []byte
	ns       string // namespace of the current family ("gnatsd", "jetstream", or the prefix)
	name     string // name of the current family, after the namespace
	serverID string // the server_id label's value
}

// Prometheus metric types as the TYPE line spells them.
const (
	promGauge   = "gauge"
	promCounter = "counter"
	promUntyped = "untyped"
)

// family starts the family ns_name.
func (w *promWriter) family(ns, name, help, typ string) {
	w.ns, w.name = ns, name
	w.b = append(w.b, "# HELP "...)
	w.appendName()
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.appendName()
	w.b = append(w.b, ' ')
	w.b = append(w.b, typ...)
	w.b = append(w.b, '\n')
}

func (w *promWriter) appendName() {
	w.b = append(w.b, w.ns...)
	w.b = append(w.b, '_')
	w.b = append(w.b, w.name...)
}

// sample writes one sample of the current family. labels are name, value
// pairs sorted by name, without server_id.
func (w *promWriter) sample(v float64, labels ...string) {
	w.appendName()
	w.b = append(w.b, '{')
	first, placed := true, false
	for i := 0; i+1 < len(labels); i += 2 {
		if !placed && labels[i] > "server_id" {
			w.label(&first, "server_id", w.serverID)
			placed = true
		}
		w.label(&first, labels[i], labels[i+1])
	}
	if !placed {
		w.label(&first, "server_id", w.serverID)
	}
	w.b = append(w.b, "} "...)
	w.b = strconv.AppendFloat(w.b, v, 'g', -1, 64)
	w.b = append(w.b, '\n')
}

func (w *promWriter) label(first *bool, name, value string) {
	if !*first {
		w.b = append(w.b, ',')
	}
	*first = false
	w.b = append(w.b, name...)
	w.b = append(w.b, '=', '"')
	w.b = appendEscaped(w.b, value, true)
	w.b = append(w.b, '"')
}

// gauge writes a whole family of one sample labelled server_id only.
func (w *promWriter) gauge(ns, name, help string, v float64) {
	w.family(ns, name, help, promGauge)
	w.sample(v)
}

// labelGauge writes the exporter's form of a string field: a gauge of 1
// carrying the string in its value label.
func (w *promWriter) labelGauge(ns, name, help, value string) {
	w.family(ns, name, help, promGauge)
	w.sample(1, "value", value)
}

// appendEscaped escapes a HELP text (backslash, newline) or a label value
// (also the double quote), as the text format requires.
func appendEscaped(b []byte, s string, quote bool) []byte {
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		clean = s[i] != '\\' && s[i] != '\n' && s[i] != '"'
	}
	if clean {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '"' && quote:
			b = append(b, '\\', '"')
		default:
			b = append(b, c)
		}
	}
	return b
}

// epochMillis is a time as the exporter reports it: milliseconds since 1970.
func epochMillis(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli())
}

// wholeSecondsMillis is a duration the way the exporter reads it back from
// the server's "1m2s" strings: whole seconds, in milliseconds.
func wholeSecondsMillis(d time.Duration) float64 {
	return float64(int64(d/time.Second) * 1000)
}

// boolLabel is a boolean label value.
func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// b2f is a boolean as a sample value.
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// connSample writes one connection's sample of the current family with the
// exporter's -connz_detailed labels, numbers appended in place so that a
// scrape allocates nothing per connection. account is empty for the global
// account, whose name is in name_tag, as the exporter reports it.
func (w *promWriter) connSample(v float64, cs *connSample) {
	acc := cs.acc
	if acc == DEFAULT_GLOBAL_ACCOUNT {
		acc = ""
	}
	w.appendName()
	w.b = append(w.b, `{account="`...)
	w.b = appendEscaped(w.b, acc, true)
	w.b = append(w.b, `",account_id="`...)
	w.b = appendEscaped(w.b, acc, true)
	w.b = append(w.b, `",cid="`...)
	w.b = strconv.AppendUint(w.b, cs.cid, 10)
	w.b = append(w.b, `",ip="`...)
	w.b = appendEscaped(w.b, cs.host, true)
	w.b = append(w.b, `",kind="Client",lang="`...)
	w.b = appendEscaped(w.b, cs.lang, true)
	w.b = append(w.b, `",name="`...)
	w.b = appendEscaped(w.b, cs.name, true)
	w.b = append(w.b, `",name_tag="`...)
	w.b = appendEscaped(w.b, cs.acc, true)
	w.b = append(w.b, `",port="`...)
	w.b = strconv.AppendInt(w.b, int64(cs.port), 10)
	w.b = append(w.b, `",server_id="`...)
	w.b = appendEscaped(w.b, w.serverID, true)
	w.b = append(w.b, `",tls_cipher_suite="`...)
	w.b = appendEscaped(w.b, cs.tlsCipher, true)
	w.b = append(w.b, `",tls_version="`...)
	w.b = appendEscaped(w.b, cs.tlsVersion, true)
	w.b = append(w.b, `",type="`...)
	w.b = appendEscaped(w.b, cs.ctype, true)
	w.b = append(w.b, `",version="`...)
	w.b = appendEscaped(w.b, cs.version, true)
	w.b = append(w.b, "\"} "...)
	w.b = strconv.AppendFloat(w.b, v, 'g', -1, 64)
	w.b = append(w.b, '\n')
}
