package test

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/hex"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// connzTLS is the TLS part of a /connz entry, as JSON.
type connzTLS struct {
	Cid      uint64 `json:"cid"`
	Name     string `json:"name"`
	Version  string `json:"tls_version"`
	Cipher   string `json:"tls_cipher_suite"`
	First    bool   `json:"tls_first"`
	Reason   string `json:"reason"`
	PeerCert []struct {
		Subject string `json:"subject"`
		SPKI    string `json:"spki_sha256"`
		Cert    string `json:"cert_sha256"`
	} `json:"tls_peer_certs"`
}

// connzByName fetches /connz with the given state and indexes it by name.
func connzByName(t *testing.T, s *server.Server, state string) map[string]connzTLS {
	t.Helper()
	var cz struct {
		Conns []connzTLS `json:"connections"`
	}
	getJSON(t, monitorURL(s)+"/connz?state="+state, &cz)
	out := make(map[string]connzTLS)
	for _, c := range cz.Conns {
		out[c.Name] = c
	}
	return out
}

// TestConnzShowsTLSOfEveryMode: a client that upgraded after the clear-text
// INFO, one that did the handshake first, and one that upgraded on an
// allow_non_tls port all show their negotiated version and suite, open and
// closed; the peer certificate is shown while open, as with the reference.
func TestConnzShowsTLSOfEveryMode(t *testing.T) {
	env := newTLSEnv(t)
	alice := env.ca.clientCert(t, "alice", pkix.Name{CommonName: "alice", Organization: []string{"Acme"}}, nil, nil)
	modes := []struct {
		name  string
		setup func(o *server.Options)
		opts  []nats.Option
		first bool
		clear bool // connects without TLS
	}{
		{"after info", func(o *server.Options) {}, nil, false, false},
		{"handshake first", func(o *server.Options) { o.TLS.HandshakeFirst = true },
			[]nats.Option{nats.TLSHandshakeFirst()}, true, false},
		{"allow_non_tls upgrade", func(o *server.Options) { o.AllowNonTLS = true }, nil, false, false},
		{"allow_non_tls clear", func(o *server.Options) { o.AllowNonTLS = true }, nil, false, true},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			o := env.opts()
			o.HTTPHost, o.HTTPPort = "127.0.0.1", server.RANDOM_PORT
			o.TLS.Verify = true
			m.setup(o)
			s := RunServer(t, o)
			opts := append([]nats.Option{nats.Name("c")}, m.opts...)
			if !m.clear {
				opts = append(opts, nats.Secure(env.clientTLS(alice)))
			}
			nc := connect(t, s, opts...)
			nc.Flush()
			open := connzByName(t, s, "open")["c"]
			if m.clear {
				if open.Version != "" || open.Cipher != "" || len(open.PeerCert) != 0 {
					t.Fatalf("clear-text client shows TLS: %+v", open)
				}
				return
			}
			if open.Version != "1.3" || open.Cipher != "TLS_AES_128_GCM_SHA256" || open.First != m.first {
				t.Fatalf("open: %+v", open)
			}
			spki := sha256.Sum256(alice.leaf.RawSubjectPublicKeyInfo)
			sum := sha256.Sum256(alice.leaf.Raw)
			if len(open.PeerCert) != 1 || open.PeerCert[0].Subject != "CN=alice,O=Acme" ||
				open.PeerCert[0].SPKI != hex.EncodeToString(spki[:]) || open.PeerCert[0].Cert != hex.EncodeToString(sum[:]) {
				t.Fatalf("peer certs: %+v", open.PeerCert)
			}
			nc.Close()
			var closed connzTLS
			waitFor(t, 2*time.Second, "the closed connection", func() bool {
				closed = connzByName(t, s, "closed")["c"]
				return closed.Cid == open.Cid
			})
			if closed.Version != "1.3" || closed.Cipher != open.Cipher || closed.First != m.first || len(closed.PeerCert) != 0 {
				t.Fatalf("closed: %+v", closed)
			}
		})
	}
}
