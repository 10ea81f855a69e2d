package test

import (
	"crypto/x509/pkix"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsforge/nats-server/server"
)

// connzUsers returns authorized_user by connection name from /connz?auth=1
// (and state=closed with closed).
func connzUsers(t *testing.T, base string, closed bool) map[string]string {
	t.Helper()
	url := base + "/connz?auth=1"
	if strings.Contains(base, "?") {
		url = base + "&auth=1"
	}
	if closed {
		url += "&state=closed"
	}
	_, body, _ := get(t, url)
	var cz struct {
		Conns []struct {
			Name string `json:"name"`
			User string `json:"authorized_user"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(body), &cz); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cz.Conns {
		out[c.Name] = c.User
	}
	return out
}

func TestConnzAuthorizedUserOfEveryMethod(t *testing.T) {
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	s, base := runMonitored(t, func(o *server.Options) {
		o.Users = []*server.User{{Username: "alice", Password: "pw"}, {Username: "anon", Password: "pw2"}}
		o.Nkeys = []*server.NkeyUser{{Nkey: upub}}
		o.NoAuthUser = "anon"
	})
	alice := connect(t, s, nats.UserInfo("alice", "pw"), nats.Name("alice"))
	noAuth := connect(t, s, nats.Name("noauth"))
	nk := connect(t, s, nats.Nkey(upub, ukp.Sign), nats.Name("nkey"))
	want := map[string]string{"alice": "alice", "noauth": "anon", "nkey": upub}
	if got := connzUsers(t, base, false); len(got) != 3 || got["alice"] != want["alice"] || got["noauth"] != want["noauth"] || got["nkey"] != want["nkey"] {
		t.Fatalf("open connections: %v, want %v", got, want)
	}
	if got := connzUsers(t, base+"/connz?user=anon&x=", false); len(got) != 1 || got["noauth"] != "anon" {
		t.Fatalf("user filter: %v", got)
	}
	for _, nc := range []*nats.Conn{alice, noAuth, nk} {
		nc.Close()
	}
	waitFor(t, 2*time.Second, "the closed connections", func() bool { return len(connzUsers(t, base, true)) == 3 })
	if got := connzUsers(t, base, true); got["noauth"] != "anon" || got["nkey"] != upub {
		t.Fatalf("closed connections: %v", got)
	}
}

func TestConnzAuthorizedUserTokenAndCertificate(t *testing.T) {
	s, base := runMonitored(t, func(o *server.Options) { o.Authorization = "s3cr3t" })
	connect(t, s, nats.Token("s3cr3t"), nats.Name("tok"))
	if got := connzUsers(t, base, false)["tok"]; got != "[REDACTED]" {
		t.Fatalf("token user %q", got)
	}

	e := newTLSEnv(t)
	ts, tbase := runMonitored(t, func(o *server.Options) {
		tls := e.opts()
		o.TLS = tls.TLS
		o.TLS.Map = true
		o.Users = []*server.User{{Username: "alice@example.com"}}
	})
	alice := e.ca.clientCert(t, "alice", pkix.Name{CommonName: "alice"}, []string{"alice@example.com"}, nil)
	connect(t, ts, nats.Secure(e.clientTLS(alice)), nats.Name("cert"))
	if got := connzUsers(t, tbase, false)["cert"]; got != "alice@example.com" {
		t.Fatalf("certificate-mapped user %q", got)
	}
}
