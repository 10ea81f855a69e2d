package server

import (
	"bytes"
	"strings"
)

// Reading and rewriting the header block of a message:
//
//	NATS/1.0[ status]\r\n
//	Key: value\r\n
//	...\r\n
//	\r\n
//
// Keys keep their case; values are trimmed of surrounding blanks. Lines
// without a colon are skipped. These run on the traced path and on the
// header scan of every HPUB, so the lookups do not allocate.

// nextHeader returns the first "key: value" line of rest, and what follows
// it; ok is false at the blank line closing the block or at its end.
func nextHeader(rest []byte) (key, value, next []byte, ok bool) {
	for len(rest) > 0 {
		line := rest
		next = nil
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, next = rest[:i], rest[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			return nil, nil, nil, false
		}
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			return line[:c], bytes.TrimSpace(line[c+1:]), next, true
		}
		rest = next
	}
	return nil, nil, nil, false
}

// headerLines returns the block after its status line.
func headerLines(hdr []byte) []byte {
	if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
		return hdr[i+1:]
	}
	return nil
}

// headerValue returns the first value of key, matched exactly. The string
// views hdr.
func headerValue(hdr []byte, key string) (string, bool) {
	rest := headerLines(hdr)
	for {
		k, v, next, ok := nextHeader(rest)
		if !ok {
			return "", false
		}
		if bytesToString(k) == key {
			return bytesToString(v), true
		}
		rest = next
	}
}

// headerValueFold is headerValue with the key matched in any case.
func headerValueFold(hdr []byte, key string) (string, bool) {
	rest := headerLines(hdr)
	for {
		k, v, next, ok := nextHeader(rest)
		if !ok {
			return "", false
		}
		if strings.EqualFold(bytesToString(k), key) {
			return bytesToString(v), true
		}
		rest = next
	}
}

// parseHeaders returns every header with its values in order, copied.
func parseHeaders(hdr []byte) map[string][]string {
	m := map[string][]string{}
	rest := headerLines(hdr)
	for {
		k, v, next, ok := nextHeader(rest)
		if !ok {
			return m
		}
		key := string(k)
		m[key] = append(m[key], string(v))
		rest = next
	}
}

// setHeader returns a new block with every line of key removed and
// "key: value" added last, as the reference rewrites the trace destination.
func setHeader(hdr []byte, key, value string) []byte {
	out := make([]byte, 0, len(hdr)+len(key)+len(value)+4)
	status := hdr[:len(hdr)-len(headerLines(hdr))]
	if !bytes.HasSuffix(status, []byte{'\n'}) {
		status = []byte("NATS/1.0\r\n")
	}
	out = appendHeaderLinesWithout(append(out, status...), hdr, key)
	out = append(out, key...)
	out = append(out, ": "...)
	out = append(out, value...)
	return append(out, "\r\n\r\n"...)
}

// appendHeaderLinesWithout appends hdr's header lines, except those of key,
// to out; the status line and the closing blank line are the caller's.
func appendHeaderLinesWithout(out, hdr []byte, key string) []byte {
	out, _ = appendHeaderLinesExcept(out, hdr, func(k string) bool { return k == key })
	return out
}

// appendHeaderLinesExcept appends hdr's header lines whose key drop refuses
// to out, and counts them; the status line and the closing blank line are
// the caller's.
func appendHeaderLinesExcept(out, hdr []byte, drop func(key string) bool) ([]byte, int) {
	rest, kept := headerLines(hdr), 0
	for {
		k, v, next, ok := nextHeader(rest)
		if !ok {
			return out, kept
		}
		rest = next
		if key := bytesToString(k); !drop(key) {
			out = appendHeader(out, key, bytesToString(v))
			kept++
		}
	}
}
