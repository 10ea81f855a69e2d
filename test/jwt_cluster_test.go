package test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// storeDir is server i's resolver directory.
func (e *jwtEnv) storeDir(i int) string { return filepath.Join(e.dir, fmt.Sprintf("jwt%d", i)) }

// fullResolver is server i's full resolver block, with extra options.
func (e *jwtEnv) fullResolver(i int, extra string) string {
	return fmt.Sprintf("{type: full, dir: %q, allow_delete: true%s}", e.storeDir(i), extra)
}

// clusterConf is server i of an operator-mode cluster, routed to seed (nil
// for the first), with the system account's JWT preloaded as nsc writes it.
func (e *jwtEnv) clusterConf(i int, resolver string, seed *server.Server) string {
	routes := ""
	if seed != nil {
		routes = fmt.Sprintf(", routes: [%q]", routeURL(e.t, seed, "").String())
	}
	return fmt.Sprintf("server_name: s%d\nlisten: 127.0.0.1:-1\noperator: %s\nsystem_account: %s\nresolver: %s\n"+
		"resolver_preload: {%s: %s}\ncluster { name: jc, listen: \"127.0.0.1:-1\"%s }\n",
		i, e.opJWT, e.sys.pub, resolver, e.sys.pub, e.sys.token, routes)
}

// runAs starts a server from a config file of its own name.
func (e *jwtEnv) runAs(name, conf string) *server.Server {
	e.t.Helper()
	p := filepath.Join(e.dir, name+".conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		e.t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	o.NoLog, o.NoSigs = os.Getenv("JWT_TEST_LOG") == "", true
	o.Debug = !o.NoLog
	return RunServer(e.t, o)
}

// fullCluster starts n servers with full resolvers (extra resolver
// options for each) and waits for the mesh.
func (e *jwtEnv) fullCluster(n int, extra string) []*server.Server {
	e.t.Helper()
	srv := make([]*server.Server, n)
	for i := range srv {
		var seed *server.Server
		if i > 0 {
			seed = srv[0]
		}
		srv[i] = e.runAs(fmt.Sprintf("s%d", i), e.clusterConf(i, e.fullResolver(i, extra), seed))
	}
	waitMesh(e.t, srv)
	return srv
}

// clusterAnswers sends a request until n distinct servers answered it (a
// server's interest may still be on its way when the mesh is up) and
// returns the answers by server name.
func clusterAnswers(t *testing.T, nc *nats.Conn, subject, body string, n int) map[string]string {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	got := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s answered by %d servers, want %d: %v", subject, len(got), n, got)
		}
		nc.PublishRequest(subject, inbox, []byte(body))
		for {
			m, err := sub.NextMsg(200 * time.Millisecond)
			if err != nil {
				break
			}
			var a struct {
				Server struct {
					Name string `json:"name"`
				} `json:"server"`
			}
			if json.Unmarshal(m.Data, &a) == nil && a.Server.Name != "" {
				got[a.Server.Name] = string(m.Data)
			}
		}
	}
	return got
}

// hasJWT reports whether server i's store holds pub (suffix ".jwt" or
// ".jwt.deleted").
func (e *jwtEnv) hasFile(i int, pub, suffix string) bool {
	_, err := os.Stat(filepath.Join(e.storeDir(i), pub+suffix))
	return err == nil
}

func TestJWTClusterPushUpdateDelete(t *testing.T) {
	e := newJWTEnv(t)
	srv := e.fullCluster(3, "")
	a := e.account("A", nil)
	sys1 := e.sysConn(srv[1])

	// A push to one server reaches all three, and each answers.
	for name, ans := range clusterAnswers(t, sys1, "$SYS.REQ.CLAIMS.UPDATE", a.token, 3) {
		if !strings.Contains(ans, `"message":"jwt updated"`) {
			t.Fatalf("%s: %s", name, ans)
		}
	}
	for i := range srv {
		if !e.hasFile(i, a.pub, ".jwt") {
			t.Fatalf("server %d did not store the pushed JWT", i)
		}
	}

	// A subscriber on s0 made before s2 had any user of the account gets
	// what a user of s2 publishes.
	opt, _, _ := e.user(a, nil, nil)
	subConn := connectAsync(t, srv[0], opt)
	sub, _ := subConn.nc.SubscribeSync("foo")
	subConn.nc.Flush()
	opt2, _, _ := e.user(a, nil, nil)
	pubConn := connectAsync(t, srv[2], opt2)
	waitFor(t, 5*time.Second, "a message across the cluster", func() bool {
		pubConn.nc.Publish("foo", []byte("x"))
		pubConn.nc.Flush()
		_, err := sub.NextMsg(50 * time.Millisecond)
		return err == nil
	})

	// An update pushed to s0 applies to the users of s2.
	e.sign(a, func(ac *jwt.AccountClaims) { ac.DefaultPermissions.Pub.Deny.Add("forbidden") })
	sys0 := e.sysConn(srv[0])
	// Each server answers once it applied the claims.
	for name, ans := range clusterAnswers(t, sys0, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.UPDATE", a.token, 3) {
		if !strings.Contains(ans, `"message":"jwt updated"`) {
			t.Fatalf("%s: %s", name, ans)
		}
	}
	pubConn.nc.Publish("forbidden", nil)
	pubConn.expectErr(t, `Permissions Violation for Publish to "forbidden"`, 2*time.Second)

	// A delete sent to s1 deletes everywhere and disconnects every user.
	del := jwt.NewGenericClaims(e.opPub)
	del.Data["accounts"] = []string{a.pub}
	token, _ := del.Encode(e.op)
	if got := sysRequest(t, sys1, "$SYS.REQ.CLAIMS.DELETE", token); !strings.Contains(got, "deleted 1 accounts") {
		t.Fatalf("delete: %s", got)
	}
	subConn.expectClosed(t, 3*time.Second)
	pubConn.expectClosed(t, 3*time.Second)
	waitFor(t, 2*time.Second, "the delete on every server", func() bool {
		for i := range srv {
			if e.hasFile(i, a.pub, ".jwt") || !e.hasFile(i, a.pub, ".jwt.deleted") {
				return false
			}
		}
		return true
	})
}

func TestJWTClusterLookupOnConnect(t *testing.T) {
	e := newJWTEnv(t)
	a := e.account("A", nil)
	// s0 has A before the others exist; nothing syncs during the test.
	s0 := e.runAs("s0", e.clusterConf(0, e.fullResolver(0, ""), nil))
	if got := sysRequest(t, e.sysConn(s0), "$SYS.REQ.CLAIMS.UPDATE", a.token); !strings.Contains(got, "jwt updated") {
		t.Fatalf("push: %s", got)
	}
	s1 := e.runAs("s1", e.clusterConf(1, e.fullResolver(1, ""), s0))
	s2 := e.runAs("s2", e.clusterConf(2, e.fullResolver(2, ""), s0))
	srv := []*server.Server{s0, s1, s2}
	waitMesh(t, srv)
	// Once every server answers lookups (their interest may still travel),
	// a client's lookup gets the JWT from s0 and empty answers elsewhere.
	sys2 := e.sysConn(s2)
	answers := map[int]int{}
	waitFor(t, 5*time.Second, "every server's lookup answer", func() bool {
		inbox := nats.NewInbox()
		sub, _ := sys2.SubscribeSync(inbox)
		defer sub.Unsubscribe()
		sys2.PublishRequest("$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.LOOKUP", inbox, nil)
		answers = map[int]int{}
		for {
			m, err := sub.NextMsg(200 * time.Millisecond)
			if err != nil {
				break
			}
			answers[len(m.Data)]++
		}
		return answers[0]+answers[len(a.token)] == 3
	})
	if answers[len(a.token)] != 1 || answers[0] != 2 {
		t.Fatalf("lookup answers by size: %v", answers)
	}

	// A user of A connecting to s2 gets the account from s0.
	opt, _, _ := e.user(a, nil, nil)
	start := time.Now()
	connect(t, s2, opt)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("connect took %v", d)
	}
	if !e.hasFile(2, a.pub, ".jwt") {
		t.Fatal("the JWT fetched from the cluster was not stored")
	}

	// An account nobody has is refused as soon as every server said so,
	// well before the 1.9 s timeout.
	unknown, _, _ := e.user(e.account("X", nil), nil, nil)
	start = time.Now()
	mustFail(t, s1, "Authorization Violation", unknown)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing an unknown account took %v", d)
	}
}

func TestJWTLookupTimeout(t *testing.T) {
	e := newJWTEnv(t)
	// Alone, a server waits the whole timeout for answers, as the reference.
	s := e.runAs("s0", e.clusterConf(0, e.fullResolver(0, `, timeout: "400ms"`), nil))
	unknown, _, _ := e.user(e.account("X", nil), nil, nil)
	start := time.Now()
	mustFail(t, s, "Authorization Violation", unknown)
	if d := time.Since(start); d < 400*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("refusal after %v, want the 400ms timeout", d)
	}
}

// storeDigest is the reference's digest of a store: the XOR of the SHA-256
// of each JWT.
func storeDigest(tokens ...string) []byte {
	var h [sha256.Size]byte
	for _, tok := range tokens {
		sum := sha256.Sum256([]byte(tok))
		for i := range h {
			h[i] ^= sum[i]
		}
	}
	return h[:]
}

func TestJWTClusterSyncCatchesUp(t *testing.T) {
	e := newJWTEnv(t)
	const interval = `, interval: "150ms"`
	srv := e.fullCluster(2, interval)
	a, b := e.account("A", nil), e.account("B", nil)
	sys0 := e.sysConn(srv[0])
	clusterAnswers(t, sys0, "$SYS.REQ.CLAIMS.UPDATE", a.token, 2)
	clusterAnswers(t, sys0, "$SYS.REQ.CLAIMS.UPDATE", b.token, 2)

	// The pack requests carry the store digest, to the "responder" group.
	packs, _ := sys0.SubscribeSync("$SYS.REQ.CLAIMS.PACK")
	m, err := packs.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatalf("no pack request: %v", err)
	}
	if want := storeDigest(e.sys.token, a.token, b.token); string(m.Data) != string(want) || !strings.HasPrefix(m.Reply, "$SYS._INBOX.") {
		t.Fatalf("pack request %x reply %q, want digest %x", m.Data, m.Reply, want)
	}
	packs.Unsubscribe()

	// A server that joins late gets both accounts without being asked.
	s2 := e.runAs("s2", e.clusterConf(2, e.fullResolver(2, interval), srv[0]))
	waitFor(t, 10*time.Second, "the late server's sync", func() bool {
		return e.hasFile(2, a.pub, ".jwt") && e.hasFile(2, b.pub, ".jwt")
	})

	// While it is down, A is updated and B deleted; back up, it gets the
	// new A, and its stale B does not come back to the others.
	s2.Shutdown()
	waitFor(t, 5*time.Second, "the route to go", func() bool { return srv[0].NumRemotes() == 1 })
	e.sign(a, func(ac *jwt.AccountClaims) { ac.Limits.Subs = 7 })
	clusterAnswers(t, sys0, "$SYS.REQ.CLAIMS.UPDATE", a.token, 2)
	del := jwt.NewGenericClaims(e.opPub)
	del.Data["accounts"] = []string{b.pub}
	token, _ := del.Encode(e.op)
	clusterAnswers(t, sys0, "$SYS.REQ.CLAIMS.DELETE", token, 2)

	e.runAs("s2", e.clusterConf(2, e.fullResolver(2, interval), srv[0]))
	waitFor(t, 10*time.Second, "the updated JWT on the restarted server", func() bool {
		got, err := os.ReadFile(filepath.Join(e.storeDir(2), a.pub+".jwt"))
		return err == nil && string(got) == a.token
	})
	// Several sync rounds in both directions.
	time.Sleep(600 * time.Millisecond)
	for i := 0; i < 2; i++ {
		if e.hasFile(i, b.pub, ".jwt") {
			t.Fatalf("server %d got the deleted account back", i)
		}
	}
	var list struct{ Data []string }
	json.Unmarshal([]byte(sysRequest(t, sys0, "$SYS.REQ.CLAIMS.LIST", "")), &list)
	want := []string{e.sys.pub, a.pub}
	sort.Strings(want)
	if fmt.Sprint(list.Data) != fmt.Sprint(want) {
		t.Fatalf("list %v, want %v", list.Data, want)
	}
}

func TestJWTCacheResolverInCluster(t *testing.T) {
	e := newJWTEnv(t)
	s0 := e.runAs("s0", e.clusterConf(0, e.fullResolver(0, ""), nil))
	cache := fmt.Sprintf(`{type: cache, dir: %q, ttl: "1h", limit: 3}`, e.storeDir(1))
	s1 := e.runAs("s1", e.clusterConf(1, cache, s0))
	waitMesh(t, []*server.Server{s0, s1})
	a := e.account("A", nil)
	sys0 := e.sysConn(s0)

	// The cache skips a push of an account it does not hold.
	answers := clusterAnswers(t, sys0, "$SYS.REQ.CLAIMS.UPDATE", a.token, 2)
	if !strings.Contains(answers["s1"], `"message":"jwt update cache skipped"`) || !strings.Contains(answers["s0"], `"message":"jwt updated"`) {
		t.Fatalf("answers: %v", answers)
	}
	if e.hasFile(1, a.pub, ".jwt") {
		t.Fatal("the cache stored an account nobody asked it for")
	}

	// A user of A on the cache's server: fetched from the full resolver.
	opt, _, _ := e.user(a, nil, nil)
	user := connectAsync(t, s1, opt)
	if !e.hasFile(1, a.pub, ".jwt") {
		t.Fatal("the fetched JWT is not cached")
	}
	// Now held, the cache takes updates, which apply live.
	e.sign(a, func(ac *jwt.AccountClaims) { ac.DefaultPermissions.Sub.Deny.Add("nope") })
	answers = clusterAnswers(t, sys0, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.UPDATE", a.token, 2)
	if !strings.Contains(answers["s1"], `"message":"jwt updated"`) {
		t.Fatalf("cache answer: %s", answers["s1"])
	}
	user.nc.SubscribeSync("nope")
	user.expectErr(t, `Permissions Violation for Subscription to "nope"`, 2*time.Second)

	// Past its limit the cache drops its oldest entry.
	for _, name := range []string{"B", "C"} {
		acc := e.account(name, nil)
		clusterAnswers(t, sys0, "$SYS.REQ.CLAIMS.UPDATE", acc.token, 2)
		opt, _, _ := e.user(acc, nil, nil)
		connect(t, s1, opt)
	}
	var list struct{ Data []string }
	json.Unmarshal([]byte(clusterAnswers(t, sys0, "$SYS.REQ.CLAIMS.LIST", "", 2)["s1"]), &list)
	if len(list.Data) != 3 {
		t.Fatalf("cache holds %v, limit 3", list.Data)
	}
}

func TestJWTResolverOptionRefusals(t *testing.T) {
	e := newJWTEnv(t)
	for opts, want := range map[string]string{
		`type: cache, interval: "1m"`:         "CACHE does not accept sync",
		`type: cache, allow_delete: true`:     "CACHE does not accept allow_delete",
		`type: cache, hard_delete: true`:      "CACHE does not accept hard_delete",
		`type: full, ttl: "1m"`:               "FULL does not accept ttl",
		`type: full, hard_delete: true`:       "hard_delete has no effect without delete",
		`type: full, limit: 3, timeout: "1s"`: "",
	} {
		conf := fmt.Sprintf("listen: 127.0.0.1:-1\noperator: %s\nresolver: {%s, dir: %q}\n", e.opJWT, opts, e.storeDir(0))
		err := e.startErr(conf)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Fatalf("%s: got %v, want %q", opts, err, want)
		}
	}
}
