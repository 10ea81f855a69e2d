package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsforge/nats-server/server"
)

func newUserNkey(t *testing.T) (seed, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kp.Seed()
	p, _ := kp.PublicKey()
	return string(s), p
}

// A remote's nkey seed signs the hub's nonce: a hub whose leafnodes
// authorization names the public key accepts it, and binds it to the
// block's account; another seed is refused. Without a leafnodes
// authorization, the hub's top-level nkey users apply.
func TestLeafRemoteNkey(t *testing.T) {
	seed, pub := newUserNkey(t)
	otherSeed, otherPub := newUserNkey(t)
	hub := leafHub(t, func(o *server.Options) {
		o.LeafNode.Nkey, o.LeafNode.Account = pub, "A"
		o.Accounts = []*server.AccountOpts{{Name: "A"}}
	})
	leaf := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) { o.LeafNode.Remotes[0].Nkey = seed })
	waitLeafs(t, 1, hub, leaf)
	if z := hub.Leafz(server.LeafzOptions{}); z.Leafs[0].Account != "A" {
		t.Fatalf("bound to %q, want A", z.Leafs[0].Account)
	}
	wrong := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) { o.LeafNode.Remotes[0].Nkey = otherSeed })
	time.Sleep(300 * time.Millisecond) // several refused attempts at 50 ms; nothing to await for a refusal
	if wrong.NumLeafNodes() != 0 || hub.NumLeafNodes() != 1 {
		t.Fatalf("wrong seed: leaf %d, hub %d", wrong.NumLeafNodes(), hub.NumLeafNodes())
	}

	users := leafHub(t, func(o *server.Options) {
		o.Accounts = []*server.AccountOpts{{Name: "B"}}
		o.Nkeys = []*server.NkeyUser{{Nkey: otherPub, Account: "B"}}
	})
	leaf2 := leafOf(t, users.LeafAddr().Port, "", "", func(o *server.Options) { o.LeafNode.Remotes[0].Nkey = otherSeed })
	waitLeafs(t, 1, users, leaf2)
	if z := users.Leafz(server.LeafzOptions{}); z.Leafs[0].Account != "B" {
		t.Fatalf("nkey user bound to %q, want B", z.Leafs[0].Account)
	}
	checkLeafPath(t, connect(t, leaf2), connect(t, users, nkeyUserOption(t, otherSeed)), "nk.b")
}

// The nkey keys as the reference checks them, in its words.
func TestLeafNkeyConfig(t *testing.T) {
	seed, pub := newUserNkey(t)
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, err string }{
		"bad seed":     {`leafnodes { remotes [ { url: "nats://h:1", nkey: "bogus" } ] }`, `Remote leafnode nkey is not a valid seed: "bogus"`},
		"public key":   {fmt.Sprintf(`leafnodes { remotes [ { url: "nats://h:1", nkey: %q } ] }`, pub), "Remote leafnode nkey is not a valid seed"},
		"with creds":   {fmt.Sprintf(`leafnodes { remotes [ { url: "nats://h:1", nkey: %q, credentials: "x.creds" } ] }`, seed), "Remote leafnode can not have both creds and nkey defined"},
		"bad auth key": {`leafnodes { listen: "127.0.0.1:-1", authorization { nkey: "bogus" } }`, "Not a valid public nkey for leafnode authorization"},
		"users nkey":   {fmt.Sprintf(`leafnodes { listen: "127.0.0.1:-1", authorization { users [ { nkey: %q } ] } }`, pub), `unknown field "nkey"`},
		"auth perms":   {`leafnodes { listen: "127.0.0.1:-1", authorization { permissions { publish: "a" } } }`, `unknown field "permissions"`},
	} {
		_, err := server.ProcessConfigFile(writeConf(t, dir, "c.conf", tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want %q", name, err, tc.err)
		}
	}
	o, err := server.ProcessConfigFile(writeConf(t, dir, "ok.conf", fmt.Sprintf(
		"leafnodes { listen: \"127.0.0.1:-1\", authorization { nkey: %q }, remotes [ { url: \"nats://h:1\", nkey: %q } ] }", pub, seed)))
	if err != nil || o.LeafNode.Nkey != pub || o.LeafNode.Remotes[0].Nkey != seed {
		t.Fatalf("%v %+v", err, o)
	}
}

// Interop: our leaf with an nkey on a reference hub whose leafnodes
// authorization names it, and the reference's leaf on ours.
func TestLeafNkeyInteropWithReference(t *testing.T) {
	ref := refBin(t)
	seed, pub := newUserNkey(t)
	dir := t.TempDir()
	for _, pair := range [][2]string{{ref, serverBin}, {serverBin, ref}} {
		hubPort, hubLeafPort, leafPort := freePort(t), freePort(t), freePort(t)
		hp := startBinAt(t, pair[0], "-c", writeConf(t, dir, "hub.conf", fmt.Sprintf(
			"host: 127.0.0.1\nport: %d\nleafnodes { listen: \"127.0.0.1:%d\", authorization { nkey: %q } }\n", hubPort, hubLeafPort, pub)))
		hp.waitOutput("Server is ready")
		lp := startBinAt(t, pair[1], "-c", writeConf(t, dir, "leaf.conf", fmt.Sprintf(
			"host: 127.0.0.1\nport: %d\nleafnodes { reconnect: \"100ms\", remotes [ { url: \"nats://127.0.0.1:%d\", nkey: %q } ] }\n", leafPort, hubLeafPort, seed)))
		lp.waitOutput("Leafnode connection created")
		checkLeafPath(t, dialNATS(t, hubPort), dialNATS(t, leafPort), "nk.mixed")
		hp.cmd.Process.Kill()
		lp.cmd.Process.Kill()
		<-hp.done
		<-lp.done
	}
}

// nkeyUserOption logs a nats.go client in with the seed's nkey.
func nkeyUserOption(t *testing.T, seed string) nats.Option {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return nats.Nkey(pub, kp.Sign)
}
