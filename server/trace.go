package server

import (
	"bytes"
	"strconv"
)

// Protocol tracing (-V). Everything here runs only when tracing is on, so it
// may allocate; the hot path pays one branch on c.trace.

// redactedFields are the CONNECT fields whose values never reach a trace.
// The reference redacts pass, auth_token, sig and nkey; jwt is redacted too
// because a user JWT is a credential operators do not expect in log files.
var redactedFields = [...]string{"pass", "auth_token", "sig", "nkey", "jwt"}

const redacted = "[REDACTED]"

// traceLine is the text of a traced control line: CONNECT with its secrets
// replaced by [REDACTED], anything else as received.
func traceLine(line []byte) string {
	if len(line) < 7 || !bytes.EqualFold(line[:7], []byte("CONNECT")) {
		return string(line)
	}
	return string(redactSecrets(line))
}

// redactSecrets replaces the string value of every redactedFields key,
// wherever it appears. Like the reference it does not parse JSON: the value
// runs to the next double quote, so a secret holding an escaped quote leaves
// its tail visible. It never fails: a malformed line is returned with what
// could be recognised replaced.
func redactSecrets(line []byte) []byte {
	out := line
	for _, f := range redactedFields {
		out = redactField(out, f)
	}
	return out
}

// redactField rewrites `"field" : "value"` as `"field" : "[REDACTED]"`,
// whitespace around the colon allowed, for every occurrence.
func redactField(line []byte, field string) []byte {
	key := []byte(`"` + field + `"`)
	var b []byte
	rest, copied := line, 0
	for {
		i := bytes.Index(rest, key)
		if i < 0 {
			break
		}
		base := len(line) - len(rest)
		j := skipSpaces(rest, i+len(key))
		if j >= len(rest) || rest[j] != ':' {
			rest = rest[i+len(key):]
			continue
		}
		j = skipSpaces(rest, j+1)
		if j >= len(rest) || rest[j] != '"' {
			rest = rest[j:]
			continue
		}
		end := bytes.IndexByte(rest[j+1:], '"')
		if end < 0 {
			break
		}
		start := base + j + 1
		b = append(b, line[copied:start]...)
		b = append(b, redacted...)
		copied = start + end
		rest = line[copied:]
	}
	if b == nil {
		return line
	}
	return append(b, line[copied:]...)
}

func skipSpaces(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// tracePayload formats a message body as the reference's trace does:
// `MSG_PAYLOAD: ["<Go-quoted body>"]`, the body cut to max bytes and marked
// with "..." when max_traced_msg_len is set and exceeded.
func tracePayload(msg []byte, max int) string {
	cut := msg
	if max > 0 && len(cut) > max {
		cut = cut[:max]
	}
	q := strconv.Quote(string(cut))
	if len(cut) < len(msg) {
		q = q[:len(q)-1] + `..."`
	}
	return "MSG_PAYLOAD: [" + q + "]"
}

// traceOutMsg traces a delivered MSG or HMSG line and its body, as the
// reference does for the receiving connection: `->> [HMSG a 1 r 12 17]`
// then `->> MSG_PAYLOAD: [...]` (header and payload together; nothing for
// an empty body). hdr is nil for a plain MSG.
func (c *client) traceOutMsg(subject, sid string, reply, hdr, payload []byte) {
	line := make([]byte, 0, 64)
	if hdr != nil {
		line = append(line, "HMSG "...)
	} else {
		line = append(line, "MSG "...)
	}
	line = append(append(append(line, subject...), ' '), sid...)
	if len(reply) > 0 {
		line = append(append(line, ' '), reply...)
	}
	if hdr != nil {
		line = strconv.AppendInt(append(line, ' '), int64(len(hdr)), 10)
	}
	line = strconv.AppendInt(append(line, ' '), int64(len(hdr)+len(payload)), 10)
	c.traceOut(string(line))
	if len(hdr)+len(payload) == 0 {
		return
	}
	body := payload
	if len(hdr) > 0 {
		body = append(append(make([]byte, 0, len(hdr)+len(payload)), hdr...), payload...)
	}
	c.srv.Tracef("%s - ->> %s", c.logPrefix(), tracePayload(body, c.srv.getOpts().MaxTracedMsgLen))
}
