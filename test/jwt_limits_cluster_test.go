package test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsforge/nats-server/server"
)

const maxAccConnsErr = "maximum account active connections exceeded"

// memClusterConf is server i of an operator-mode cluster with a MEMORY
// resolver preloading the accounts, routed to seed (nil: no routes). The
// servers do not advertise each other to clients, so that a refused client
// does not try the other server.
func (e *jwtEnv) memClusterConf(i int, seed *server.Server, extra string, accs ...*jwtAccount) string {
	route := ""
	if seed != nil {
		route = routeURL(e.t, seed, "").String()
	}
	return e.memClusterConfAt(i, -1, -1, route, extra, accs...)
}

// memClusterConfAt is memClusterConf with the client and cluster ports (-1:
// any) and the route URL ("" for none) given, for a server run as a binary.
func (e *jwtEnv) memClusterConfAt(i, port, clusterPort int, route, extra string, accs ...*jwtAccount) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: s%d\nlisten: 127.0.0.1:%d\noperator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n",
		i, port, e.opJWT, e.sys.pub)
	for _, a := range append([]*jwtAccount{e.sys}, accs...) {
		fmt.Fprintf(&b, "  %s: %s\n", a.pub, a.token)
	}
	routes := ""
	if route != "" {
		routes = fmt.Sprintf(", routes: [%q]", route)
	}
	fmt.Fprintf(&b, "}\ncluster { name: lc, listen: \"127.0.0.1:%d\", no_advertise: true%s }\n%s", clusterPort, routes, extra)
	return b.String()
}

// connsEvents collects the account connection advisories a system user of
// s sees, from every server.
func connsEvents(t *testing.T, e *jwtEnv, s *server.Server) (*nats.Conn, chan server.AccountNumConns) {
	t.Helper()
	nc := e.sysConn(s)
	ch := make(chan server.AccountNumConns, 64)
	if _, err := nc.Subscribe("$SYS.ACCOUNT.*.SERVER.CONNS", func(m *nats.Msg) {
		var ev server.AccountNumConns
		if err := json.Unmarshal(m.Data, &ev); err == nil {
			ch <- ev
		}
	}); err != nil {
		t.Fatal(err)
	}
	flushed(t, nc)
	return nc, ch
}

// awaitCount waits for server name's advisory with the account's counts.
func awaitCount(t *testing.T, ch chan server.AccountNumConns, name, acc string, conns, leafs int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Server.Name == name && ev.Account == acc && ev.Conns == conns && ev.LeafNodes == leafs {
				return
			}
		case <-deadline:
			t.Fatalf("no advisory from %s with %d conns and %d leafs", name, conns, leafs)
		}
	}
}

// limitCluster is two routed operator-mode servers preloading account A,
// with a system user on each; the account advisories are watched on
// server watch.
type limitCluster struct {
	e      *jwtEnv
	acc    *jwtAccount
	s      [2]*server.Server
	sys    [2]*nats.Conn
	watch  int
	events chan server.AccountNumConns
}

func newLimitCluster(t *testing.T, limits func(*jwt.AccountClaims), extra string, watch int) *limitCluster {
	t.Helper()
	e := newJWTEnv(t)
	lc := &limitCluster{e: e, acc: e.account("A", limits), watch: watch}
	lc.s[0] = e.runAs("s0", e.memClusterConf(0, nil, extra, lc.acc))
	lc.s[1] = e.runAs("s1", e.memClusterConf(1, lc.s[0], extra, lc.acc))
	waitMesh(t, lc.s[:])
	lc.sys[watch], lc.events = connsEvents(t, e, lc.s[watch])
	lc.sys[1-watch] = e.sysConn(lc.s[1-watch])
	barrier(t, lc.sys[1-watch], lc.sys[watch])
	return lc
}

// counted waits until the watching server took the other's count: its
// system user sees the advisory, maybe before the server's own handler
// ran; what the other server sends next on the route comes after it.
func (lc *limitCluster) counted(t *testing.T, conns, leafs int) {
	t.Helper()
	awaitCount(t, lc.events, fmt.Sprintf("s%d", 1-lc.watch), lc.acc.pub, conns, leafs)
	barrier(t, lc.sys[1-lc.watch], lc.sys[lc.watch])
}

// connectsEventually waits until a client with opt is let in by s.
func connectsEventually(t *testing.T, s *server.Server, opt nats.Option, what string) {
	t.Helper()
	waitFor(t, 10*time.Second, what, func() bool {
		nc, err := nats.Connect(s.ClientURL(), opt, nats.NoReconnect())
		if err != nil {
			return false
		}
		nc.Close()
		return true
	})
}

// A limits.conn of 2 holds for the cluster: with one client on each
// server, a third is refused on either, with the reference's error; once
// one leaves, there is room again on the other server.
func TestJWTClusterConnLimit(t *testing.T) {
	lc := newLimitCluster(t, func(ac *jwt.AccountClaims) { ac.Limits.Conn = 2 }, "", 0)
	e, s0, s1 := lc.e, lc.s[0], lc.s[1]
	opt1, _, _ := e.user(lc.acc, nil, nil)
	c1 := connectAsync(t, s0, opt1)
	opt2, _, _ := e.user(lc.acc, nil, nil)
	connect(t, s1, opt2)
	lc.counted(t, 1, 0)

	opt3, _, _ := e.user(lc.acc, nil, nil)
	mustFail(t, s0, maxAccConnsErr, opt3)
	mustFail(t, s1, maxAccConnsErr, opt3)

	c1.nc.Close()
	awaitCount(t, lc.events, "s0", lc.acc.pub, 0, 0)
	connectsEventually(t, s1, opt3, "room on s1 once s0's client left")
}

// Two servers that each took clients before they were routed: the first
// count that crosses takes the account over its limit, and the server
// that learns it closes its newest clients over the limit, as the
// reference does; the client of the other server stays.
func TestJWTClusterConnLimitRemoteOver(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("A", func(ac *jwt.AccountClaims) { ac.Limits.Conn = 2 })
	s0 := e.runAs("s0", e.memClusterConf(0, nil, "", acc))
	s1 := e.runAs("s1", e.memClusterConf(1, nil, "", acc))
	var on0 []*asyncConn
	for range 2 {
		opt, _, _ := e.user(acc, nil, nil)
		on0 = append(on0, connectAsync(t, s0, opt))
	}
	opt3, _, _ := e.user(acc, nil, nil)
	c3 := connect(t, s1, opt3)

	_, events := routeByReload(t, e, s0, s1, "", acc)
	for _, c := range on0 {
		if c.nc.IsClosed() {
			t.Fatal("routing alone closed a client")
		}
	}

	// s1 does not know s0's two clients yet: it takes a fourth, and its
	// count tells s0, which is now two over.
	// The answer may close it before its handshake is over: then its
	// connect fails with the same error.
	opt4, _, _ := e.user(acc, nil, nil)
	if nc4, err := nats.Connect(s1.ClientURL(), opt4, nats.NoReconnect()); err == nil {
		t.Cleanup(nc4.Close)
	} else if !strings.Contains(err.Error(), maxAccConnsErr) {
		t.Fatalf("fourth client: %v", err)
	}
	awaitCount(t, events, "s1", acc.pub, 2, 0)
	for _, c := range on0 {
		c.expectClosed(t, 10*time.Second)
		if err := c.nc.LastError(); err == nil || !strings.Contains(err.Error(), maxAccConnsErr) {
			t.Fatalf("closed with %v, want %q", err, maxAccConnsErr)
		}
	}
	flushed(t, c3)
}

// routeByReload routes s1 to s0 by a reload of s1's config, as an
// operator joining two servers would, and returns a system user of s0
// watching the account advisories, its interest known to s1.
func routeByReload(t *testing.T, e *jwtEnv, s0, s1 *server.Server, extra string, acc *jwtAccount) (*nats.Conn, chan server.AccountNumConns) {
	t.Helper()
	conf := e.memClusterConf(1, s0, extra, acc)
	if err := os.WriteFile(filepath.Join(e.dir, "s1.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s1.Reload(); err != nil {
		t.Fatal(err)
	}
	waitMesh(t, []*server.Server{s0, s1})
	sys0, events := connsEvents(t, e, s0)
	barrier(t, e.sysConn(s1), sys0)
	return sys0, events
}

// The leaf limit across servers joined while each had a leaf: the first
// count that crosses closes the leaf of the server that learns it.
func TestJWTClusterLeafLimitRemoteOver(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("A", func(ac *jwt.AccountClaims) { ac.Limits.LeafNodeConn = 1 })
	leafs := "leafnodes { listen: \"127.0.0.1:-1\" }\n"
	s0 := e.runAs("s0", e.memClusterConf(0, nil, leafs, acc))
	s1 := e.runAs("s1", e.memClusterConf(1, nil, leafs, acc))
	leaf0 := leafConnectRaw(t, e, s0, acc, nil)
	leaf1 := leafConnectRaw(t, e, s1, acc, nil)
	for _, s := range []*server.Server{s0, s1} {
		waitFor(t, 5*time.Second, "a leaf on each server", func() bool { return s.NumLeafNodes() == 1 })
	}
	_, events := routeByReload(t, e, s0, s1, leafs, acc)

	// A client on s1 makes it publish its count, one leaf: s0 is over.
	opt, _, _ := e.user(acc, nil, nil)
	connect(t, s1, opt)
	awaitCount(t, events, "s1", acc.pub, 1, 1)
	leaf0.awaitLine("-ERR '"+maxAccConnsErr+"'", 10*time.Second)
	leaf0.expectClosed()
	if s1.NumLeafNodes() != 1 {
		t.Fatalf("s1 has %d leaf connections, want its own", s1.NumLeafNodes())
	}
	leaf1.send("PING\r\n")
	leaf1.awaitLine("PONG", 5*time.Second)
}

// leafConnectRaw opens a leaf connection to s's leaf port by hand with a
// user JWT of the account and the signed nonce, and returns it after the
// CONNECT.
func leafConnectRaw(t *testing.T, e *jwtEnv, s *server.Server, a *jwtAccount, edit func(*jwt.UserClaims)) *rawConn {
	t.Helper()
	rc, _ := leafConnectRawAs(t, e, s, a, edit)
	return rc
}

// leafConnectRawAs is leafConnectRaw, also returning the user's key.
func leafConnectRawAs(t *testing.T, e *jwtEnv, s *server.Server, a *jwtAccount, edit func(*jwt.UserClaims)) (*rawConn, string) {
	t.Helper()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	if edit != nil {
		edit(uc)
	}
	token, err := uc.Encode(a.kp)
	if err != nil {
		t.Fatal(err)
	}
	rc := dialRawAddr(t, s.LeafAddr().String())
	var info struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(rc.info, "INFO ")), &info); err != nil || info.Nonce == "" {
		t.Fatalf("leaf INFO without nonce: %q", rc.info)
	}
	sig, _ := ukp.Sign([]byte(info.Nonce))
	connect, _ := json.Marshal(map[string]any{"jwt": token, "sig": base64.RawURLEncoding.EncodeToString(sig),
		"name": "raw-leaf", "server_id": "NRAWLEAF" + upub[:8], "protocol": 3})
	rc.send("CONNECT " + string(connect) + "\r\nPING\r\n")
	return rc, upub
}

// awaitLine reads lines (the hub's INFO, interest, PINGs) until one is
// want, failing after d.
func (rc *rawConn) awaitLine(want string, d time.Duration) {
	rc.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		rc.conn.SetReadDeadline(deadline)
		line, err := rc.br.ReadString('\n')
		if strings.TrimRight(line, "\r\n") == want {
			return
		}
		if err != nil {
			rc.t.Fatalf("no %q: %v", want, err)
		}
	}
	rc.t.Fatalf("no %q within %v", want, d)
}

// limits.leaf bounds an account's leaf connections: a second leaf with the
// account's credentials is refused with the reference's error; a user JWT
// that does not allow LEAFNODE connections gets the authorization
// violation; limits.conn does not count against a leaf.
func TestJWTLeafConnLimit(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("A", func(ac *jwt.AccountClaims) {
		ac.Limits.LeafNodeConn = 1
		ac.Limits.Conn = 1
	})
	e.extras = "leafnodes { listen: \"127.0.0.1:-1\" }\n"
	hub := e.run(e.memConfig(acc))
	opt, _, _ := e.user(acc, nil, nil)
	connect(t, hub, opt) // the account's one client: a leaf may still come

	leaf := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].Credentials = e.creds(acc, nil)
	})
	waitLeafs(t, 1, hub, leaf)

	second := leafConnectRaw(t, e, hub, acc, nil)
	second.expect("-ERR '" + maxAccConnsErr + "'")
	second.expectClosed()

	std := leafConnectRaw(t, e, hub, acc, func(uc *jwt.UserClaims) {
		uc.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeStandard}
	})
	std.expect("-ERR 'Authorization Violation'")
	std.expectClosed()
	if hub.NumLeafNodes() != 1 {
		t.Fatalf("hub has %d leaf connections, want 1", hub.NumLeafNodes())
	}

	// With the leaf gone there is room again.
	leaf.Shutdown()
	waitLeafs(t, 0, hub)
	again := leafConnectRaw(t, e, hub, acc, func(uc *jwt.UserClaims) {
		uc.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeLeafnode}
	})
	if line := again.readLine(); !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("leaf with room refused: %q", line)
	}
}

// limits.leaf holds for the cluster: a leaf on s0 counts on s1, which
// refuses a second one.
func TestJWTClusterLeafConnLimit(t *testing.T) {
	leafs := "leafnodes { listen: \"127.0.0.1:-1\" }\n"
	lc := newLimitCluster(t, func(ac *jwt.AccountClaims) { ac.Limits.LeafNodeConn = 1 }, leafs, 1)
	leaf := leafOf(t, lc.s[0].LeafAddr().Port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].Credentials = lc.e.creds(lc.acc, nil)
	})
	waitLeafs(t, 1, lc.s[0], leaf)
	lc.counted(t, 0, 1)

	second := leafConnectRaw(t, lc.e, lc.s[1], lc.acc, nil)
	second.expect("-ERR '" + maxAccConnsErr + "'")
	second.expectClosed()
}

// A server that leaves the cluster takes its count with it: its clients no
// longer take room on the others.
func TestJWTClusterConnLimitServerGone(t *testing.T) {
	lc := newLimitCluster(t, func(ac *jwt.AccountClaims) { ac.Limits.Conn = 2 }, "", 0)
	for _, s := range lc.s {
		opt, _, _ := lc.e.user(lc.acc, nil, nil)
		connect(t, s, opt)
	}
	lc.counted(t, 1, 0)
	opt3, _, _ := lc.e.user(lc.acc, nil, nil)
	mustFail(t, lc.s[0], maxAccConnsErr, opt3)

	lc.s[1].Shutdown()
	connectsEventually(t, lc.s[0], opt3, "room on s0 once s1 is gone")
}

// A leaf's user JWT lives as a client's: the leaf connection is closed
// when the JWT expires and when an account update revokes the user, with
// the reference's errors.
func TestJWTLeafUserExpiryAndRevocation(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("A", nil)
	e.extras = "leafnodes { listen: \"127.0.0.1:-1\" }\n"
	hub := e.run(e.memConfig(acc))

	expiring := leafConnectRaw(t, e, hub, acc, func(uc *jwt.UserClaims) {
		uc.Expires = time.Now().Add(2 * time.Second).Unix()
	})
	revoked, upub := leafConnectRawAs(t, e, hub, acc, nil)
	waitFor(t, 5*time.Second, "two leaf connections", func() bool { return hub.NumLeafNodes() == 2 })
	expiring.awaitLine("-ERR 'User Authentication Expired'", 10*time.Second)
	expiring.expectClosed()

	token := e.sign(acc, func(ac *jwt.AccountClaims) { ac.RevokeAt(upub, time.Now().Add(time.Minute)) })
	if got := sysRequest(t, e.sysConn(hub), "$SYS.REQ.ACCOUNT."+acc.pub+".CLAIMS.UPDATE", token); !strings.Contains(got, "jwt updated") {
		t.Fatalf("update: %s", got)
	}
	revoked.awaitLine("-ERR 'User Authentication Revoked'", 10*time.Second)
	revoked.expectClosed()
	waitFor(t, 5*time.Second, "no leaf connection", func() bool { return hub.NumLeafNodes() == 0 })
}

// An accepted leaf connection is announced as the reference announces it:
// connect and disconnect advisories of kind Leafnode in its account, with
// the leaf server's name and the user of its credentials, and the
// account's count of leaf connections.
func TestJWTLeafAdvisories(t *testing.T) {
	e := newJWTEnv(t)
	acc := e.account("A", nil)
	e.extras = "leafnodes { listen: \"127.0.0.1:-1\" }\n"
	hub := e.run(e.memConfig(acc))
	sys := e.sysConn(hub)
	events, err := sys.SubscribeSync("$SYS.ACCOUNT." + acc.pub + ".>")
	if err != nil {
		t.Fatal(err)
	}
	flushed(t, sys)
	leaf := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.ServerName = "edge"
		o.LeafNode.Remotes[0].Credentials = e.creds(acc, nil)
	})
	waitLeafs(t, 1, hub, leaf)
	next := func(suffix string) []byte {
		t.Helper()
		for {
			m, err := events.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("no %s advisory: %v", suffix, err)
			}
			if strings.HasSuffix(m.Subject, suffix) {
				return m.Data
			}
		}
	}
	var conns server.AccountNumConns
	if err := json.Unmarshal(next(".SERVER.CONNS"), &conns); err != nil || conns.LeafNodes != 1 || conns.Conns != 0 {
		t.Fatalf("count %+v %v", conns, err)
	}
	var ce server.ConnectEventMsg
	if err := json.Unmarshal(next(".CONNECT"), &ce); err != nil {
		t.Fatal(err)
	}
	if c := ce.Client; c.Kind != "Leafnode" || c.Name != "edge" || c.Account != acc.pub || c.NameTag != "A" ||
		!strings.HasPrefix(c.User, "U") || c.Jwt == "" || c.ClientType != "" {
		t.Fatalf("leaf connect advisory %+v", c)
	}
	leaf.Shutdown()
	var de server.DisconnectEventMsg
	if err := json.Unmarshal(next(".DISCONNECT"), &de); err != nil {
		t.Fatal(err)
	}
	if de.Client.Kind != "Leafnode" || de.Client.Name != "edge" || de.Reason == "" {
		t.Fatalf("leaf disconnect advisory %+v", de)
	}
}

// The reference and our server in one cluster share their counts: with a
// client on each and limits.conn 2, a third is refused by either, each
// counting the other's client.
func TestJWTClusterConnLimitWithReference(t *testing.T) {
	ref := refBin(t)
	e := newJWTEnv(t)
	acc := e.account("A", func(ac *jwt.AccountClaims) { ac.Limits.Conn = 2 })
	refPort, refCluster := freePort(t), freePort(t)
	refConf := writeConf(t, e.dir, "ref.conf", e.memClusterConfAt(0, refPort, refCluster, "", "", acc))
	startBinAt(t, ref, "-c", refConf).waitOutput("Server is ready")
	ours := e.runAs("s1", e.memClusterConfAt(1, -1, -1, fmt.Sprintf("nats://127.0.0.1:%d", refCluster), "", acc))
	waitFor(t, 10*time.Second, "the route to the reference", func() bool { return ours.NumRemotes() == 1 })
	refURL := fmt.Sprintf("nats://127.0.0.1:%d", refPort)
	sysOpt, _, _ := e.user(e.sys, nil, nil)
	sysRef, err := nats.Connect(refURL, sysOpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sysRef.Close)
	sysOurs, oursEvents := connsEvents(t, e, ours)
	refEvents := make(chan server.AccountNumConns, 64)
	sysRef.Subscribe("$SYS.ACCOUNT.*.SERVER.CONNS", func(m *nats.Msg) {
		var ev server.AccountNumConns
		if json.Unmarshal(m.Data, &ev) == nil {
			refEvents <- ev
		}
	})
	flushed(t, sysRef)
	barrier(t, sysRef, sysOurs)
	barrier(t, sysOurs, sysRef)

	opt1, _, _ := e.user(acc, nil, nil)
	nc1, err := nats.Connect(refURL, opt1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc1.Close)
	opt2, _, _ := e.user(acc, nil, nil)
	connect(t, ours, opt2)
	awaitCount(t, oursEvents, "s0", acc.pub, 1, 0) // the reference's count reached us
	barrier(t, sysRef, sysOurs)
	awaitCount(t, refEvents, "s1", acc.pub, 1, 0) // ours reached the reference
	barrier(t, sysOurs, sysRef)

	opt3, _, _ := e.user(acc, nil, nil)
	mustFail(t, ours, maxAccConnsErr, opt3)
	if nc, err := nats.Connect(refURL, opt3, nats.NoReconnect()); err == nil || !strings.Contains(err.Error(), maxAccConnsErr) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("the reference let a third client in: %v", err)
	}
}
