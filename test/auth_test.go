package test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/natsforge/nats-server/server"
)

func TestTokenAuth(t *testing.T) {
	o := DefaultTestOptions()
	o.Authorization = "s3cret"
	s := RunServer(t, o)
	if _, err := nats.Connect(s.ClientURL(), nats.Token("wrong")); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("wrong token: %v", err)
	}
	connect(t, s, nats.Token("s3cret"))
}

func TestBcryptUserAuth(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	o := DefaultTestOptions()
	o.Users = []*server.User{{Username: "alice", Password: string(hash)}, {Username: "bob", Password: "plain"}}
	s := RunServer(t, o)
	connect(t, s, nats.UserInfo("alice", "pw"))
	connect(t, s, nats.UserInfo("bob", "plain"))
	for _, c := range [][2]string{{"alice", "bad"}, {"bob", "pw"}, {"eve", "pw"}, {"", ""}} {
		if _, err := nats.Connect(s.ClientURL(), nats.UserInfo(c[0], c[1])); err == nil {
			t.Fatalf("%v should be refused", c)
		}
	}
}

func TestNkeyAuth(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	other, _ := nkeys.CreateUser()
	o := DefaultTestOptions()
	o.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	if !strings.Contains(rc.info, `"nonce":"`) {
		t.Fatalf("INFO should carry a nonce: %s", rc.info)
	}
	sign := func(k nkeys.KeyPair) nats.Option {
		return nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return k.Sign(nonce) })
	}
	connect(t, s, sign(kp))
	if _, err := nats.Connect(s.ClientURL(), sign(other)); err == nil {
		t.Fatal("a signature by another key must be refused")
	}
}

func TestNoAuthUser(t *testing.T) {
	o := DefaultTestOptions()
	o.Users = []*server.User{{Username: "anon", Password: "x", Permissions: &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{"public.>"}}}}}
	o.NoAuthUser = "anon"
	s := RunServer(t, o)
	var errs = make(chan error, 4)
	nc := connect(t, s, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	nc.Publish("private", []byte("x"))
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), `Permissions Violation for Publish to "private"`) {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no-auth user should carry anon's permissions")
	}
}

func TestPublishPermissions(t *testing.T) {
	o := DefaultTestOptions()
	o.Users = []*server.User{{Username: "a", Password: "b", Permissions: &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{"foo.>"}, Deny: []string{"foo.bar"}}}}}
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}\r\nSUB foo.* 1\r\nPUB foo.bar 1\r\nx\r\nPUB bar 1\r\nx\r\nPUB foo.baz 1\r\ny\r\nPING\r\n")
	rc.expect("-ERR 'Permissions Violation for Publish to \"foo.bar\"'")
	rc.expect("-ERR 'Permissions Violation for Publish to \"bar\"'")
	rc.expect("MSG foo.baz 1 1")
	rc.expect("y")
	rc.expect("PONG")
	// The same denied subject again comes from the cache, same answer.
	rc.send("PUB foo.bar 1\r\nx\r\nPING\r\n")
	rc.expect("-ERR 'Permissions Violation for Publish to \"foo.bar\"'")
	rc.expect("PONG")
}

func TestSubscribePermissions(t *testing.T) {
	o := DefaultTestOptions()
	o.Users = []*server.User{{Username: "a", Password: "b", Permissions: &server.Permissions{
		Subscribe: &server.SubjectPermission{Allow: []string{"sub.*", "q.x grp"}, Deny: []string{"sub.secret"}}}}}
	s := RunServer(t, o)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}\r\nSUB nope 1\r\nSUB sub.1 2\r\nSUB q.x 3\r\nSUB q.x grp 4\r\nSUB q.x other 5\r\nSUB sub.secret 6\r\nPING\r\n")
	rc.expect("-ERR 'Permissions Violation for Subscription to \"nope\"'")
	rc.expect("-ERR 'Permissions Violation for Subscription to \"q.x\"'")
	rc.expect("-ERR 'Permissions Violation for Subscription to \"q.x\" using queue \"other\"'")
	rc.expect("-ERR 'Permissions Violation for Subscription to \"sub.secret\"'")
	rc.expect("PONG")
	// A wildcard subscription does not receive denied subjects.
	rc.send("SUB sub.* 7\r\nPUB sub.secret 1\r\nx\r\nPUB sub.ok 1\r\ny\r\nPING\r\n")
	rc.expect("MSG sub.ok 7 1")
	rc.expect("y")
	rc.expect("PONG")
}

func TestAllowResponses(t *testing.T) {
	o := DefaultTestOptions()
	o.Users = []*server.User{
		{Username: "svc", Password: "p", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"nothing"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"req"}},
			Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}}},
		{Username: "cli", Password: "p"},
	}
	s := RunServer(t, o)
	svc := connect(t, s, nats.UserInfo("svc", "p"))
	errs := make(chan error, 4)
	svc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	svc.Subscribe("req", func(m *nats.Msg) {
		m.Respond([]byte("one"))
		m.Respond([]byte("two")) // over the limit of one response
	})
	svc.Flush()
	cli := connect(t, s, nats.UserInfo("cli", "p"))
	m, err := cli.Request("req", nil, 2*time.Second)
	if err != nil || string(m.Data) != "one" {
		t.Fatalf("response: %v %v", m, err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation for Publish") {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("second response should be refused")
	}
	// A publish to any other subject stays denied.
	svc.Publish("elsewhere", nil)
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), `"elsewhere"`) {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("publish outside responses should be refused")
	}
	if !errors.Is(svc.LastError(), nil) && svc.IsClosed() {
		t.Fatal("violations must not close the connection")
	}
}
