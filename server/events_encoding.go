package server

import (
	"bytes"
	"compress/gzip"
	"strings"

	"github.com/klauspost/compress/s2"
)

// Monitoring answers over the system account can be large (CONNZ of a busy
// server), so a requester may ask for them compressed with an
// Accept-Encoding header, as the nats CLI does. The answer then carries
// Content-Encoding: snappy (the framed format), gzip, or identity for an
// encoding we do not offer, as the reference answers.

// acceptedEncoding reads the Accept-Encoding header of a request.
func acceptedEncoding(hdr []byte) string {
	v, ok := headerValue(hdr, "Accept-Encoding")
	if !ok {
		return ""
	}
	v = strings.ToLower(v)
	switch {
	case strings.Contains(v, "snappy"), strings.Contains(v, "s2"):
		return "snappy"
	case strings.Contains(v, "gzip"):
		return "gzip"
	}
	return "identity"
}

// encodeReply compresses an answer; with no encoding it is returned as is,
// without a header.
func encodeReply(encoding string, b []byte) (hdr, body []byte) {
	if encoding == "" {
		return nil, b
	}
	var buf bytes.Buffer
	var err error
	switch encoding {
	case "snappy":
		w := s2.NewWriter(&buf, s2.WriterSnappyCompat())
		if _, err = w.Write(b); err == nil {
			err = w.Close()
		}
	case "gzip":
		w := gzip.NewWriter(&buf)
		if _, err = w.Write(b); err == nil {
			err = w.Close()
		}
	default:
		buf.Write(b)
	}
	if err != nil {
		return nil, b
	}
	return []byte("NATS/1.0\r\nContent-Encoding: " + encoding + "\r\n\r\n"), buf.Bytes()
}
