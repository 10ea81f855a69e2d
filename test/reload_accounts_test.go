package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// A reload adds an account with its users, an export and an import of an
// existing account's export, and changes an existing account's mappings:
// all apply to new and connected clients at once.
func TestReloadAccountsAdded(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	before := fmt.Sprintf(`listen: 127.0.0.1:%d
accounts {
  A { users [{user: a, password: a}], exports [{service: "svc.>"}], mappings { "old.x": "mapped.one" } }
}
`, port)
	cfg := writeConf(t, dir, "a.conf", before)
	s := runConfigServer(t, cfg)
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("b", "b")); err == nil {
		t.Fatal("user b is not configured yet")
	}
	ac := connect(t, s, nats.UserInfo("a", "a"))
	if _, err := ac.Subscribe("svc.time", func(m *nats.Msg) { m.Respond([]byte("from A")) }); err != nil {
		t.Fatal(err)
	}
	mapped, _ := ac.SubscribeSync("mapped.>")
	flushed(t, ac)

	writeConf(t, dir, "a.conf", fmt.Sprintf(`listen: 127.0.0.1:%d
accounts {
  B { users [{user: b, password: b}], imports [{service: {account: A, subject: "svc.>"}}] }
  A { users [{user: a, password: a}], exports [{service: "svc.>"}], mappings { "old.x": "mapped.two" } }
}
`, port))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	bc := connect(t, s, nats.UserInfo("b", "b"))
	m, err := bc.Request("svc.time", nil, 5*time.Second)
	if err != nil || string(m.Data) != "from A" {
		t.Fatalf("B's import of A's service after reload: %v %v", m, err)
	}
	if err := ac.Publish("old.x", nil); err != nil {
		t.Fatal(err)
	}
	if m, err := mapped.NextMsg(5 * time.Second); err != nil || m.Subject != "mapped.two" {
		t.Fatalf("A's changed mapping: %v %v", m, err)
	}
}

// What a reload cannot change yet is refused with "not supported yet",
// naming the account, and the server keeps its accounts.
func TestReloadAccountsRefusals(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	body := func(accounts string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\naccounts {\n%s\n}\n", port, accounts)
	}
	base := `A { users [{user: a, password: a}], exports [{stream: "ev.>"}] }
  B { users [{user: b, password: b}] }`
	cfg := writeConf(t, dir, "r.conf", body(base))
	s := runConfigServer(t, cfg)
	for _, tc := range []struct{ accounts, want string }{
		{`A { users [{user: a, password: a}], exports [{stream: "other.>"}] }
  B { users [{user: b, password: b}] }`, `exports, imports or msg_trace of account "A" changed`},
		{`A { users [{user: a, password: a}], exports [{stream: "ev.>"}] }
  B { users [{user: b, password: b}], imports [{stream: {account: A, subject: "ev.>"}}] }`, `account "B" changed`},
		{`A { users [{user: a, password: a}], exports [{stream: "ev.>"}] }`, `account "B" removed`},
	} {
		writeConf(t, dir, "r.conf", body(tc.accounts))
		err := s.Reload()
		if err == nil || !strings.Contains(err.Error(), "not supported yet") || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("reload with %s: %v, want %q", tc.accounts, err, tc.want)
		}
	}
	// Moving an account in the file changes nothing.
	writeConf(t, dir, "r.conf", body(`B { users [{user: b, password: b}] }

  A { users [{user: a, password: a}], exports [{stream: "ev.>"}] }`))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	connect(t, s, nats.UserInfo("b", "b"))
}
