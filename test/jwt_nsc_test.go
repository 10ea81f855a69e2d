package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

// nscPath finds nsc v2.12.2: $NSC_BIN, nsc on the PATH, or where the issue
// says to build it (~/.cache/nsc/nsc).
func nscPath() string {
	if p := os.Getenv("NSC_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("nsc"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "nsc", "nsc")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// nscEnv runs nsc in a store and key directory of its own.
type nscEnv struct {
	t   *testing.T
	bin string
	dir string
}

func (n *nscEnv) run(args ...string) string {
	n.t.Helper()
	cmd := exec.Command(n.bin, args...)
	cmd.Dir = n.dir
	cmd.Env = append(os.Environ(), "NSC_HOME="+filepath.Join(n.dir, "home"),
		"NKEYS_PATH="+filepath.Join(n.dir, "keys"), "NSC_NO_GIT_IGNORE=true")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		n.t.Fatalf("nsc %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

func newNSC(t *testing.T) *nscEnv {
	bin := nscPath()
	if bin == "" {
		t.Skip("nsc not built: go mod download -json github.com/nats-io/nsc/v2@v2.12.2, go build -o ~/.cache/nsc/nsc in its Dir, or set NSC_BIN")
	}
	n := &nscEnv{t: t, bin: bin, dir: t.TempDir()}
	n.run("env", "-s", filepath.Join(n.dir, "store"))
	n.run("add", "operator", "--sys", "--name", "O")
	n.run("add", "account", "A")
	n.run("add", "user", "-a", "A", "u")
	return n
}

// creds writes a user's credentials file as nsc generates it.
func (n *nscEnv) creds(account, user string) string {
	p := filepath.Join(n.dir, user+".creds")
	if err := os.WriteFile(p, []byte(n.run("generate", "creds", "-a", account, "-n", user)), 0o600); err != nil {
		n.t.Fatal(err)
	}
	return p
}

func TestNSCMemResolver(t *testing.T) {
	n := newNSC(t)
	conf := "listen: 127.0.0.1:-1\n" + n.run("generate", "config", "--mem-resolver", "--sys-account", "SYS")
	s := runConfigServer(t, writeConf(t, n.dir, "mem.conf", conf))
	nc := connect(t, s, nats.UserCredentials(n.creds("A", "u")))
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
}

func TestNSCFullResolverPushAndEdit(t *testing.T) {
	n := newNSC(t)
	conf := n.run("generate", "config", "--nats-resolver", "--sys-account", "SYS")
	conf = strings.Replace(conf, "dir: './jwt'", "dir: '"+filepath.Join(n.dir, "jwt")+"'", 1)
	s := runConfigServer(t, writeConf(t, n.dir, "full.conf", "listen: 127.0.0.1:-1\n"+conf))
	creds := n.creds("A", "u")
	mustFail(t, s, "Authorization Violation", nats.UserCredentials(creds))

	url := "nats://" + s.Addr().String()
	n.run("edit", "operator", "--account-jwt-server-url", url)
	n.run("push", "-a", "A")
	first := connectAsync(t, s, nats.UserCredentials(creds))

	// Limits edited with nsc and pushed apply at once.
	n.run("edit", "account", "A", "--conns", "1")
	n.run("push", "-a", "A")
	mustFail(t, s, "maximum account active connections exceeded", nats.UserCredentials(creds))
	if !first.nc.IsConnected() {
		t.Fatal("the connection within the limit was closed")
	}
}

func TestNSCPushToCluster(t *testing.T) {
	n := newNSC(t)
	base := n.run("generate", "config", "--nats-resolver", "--sys-account", "SYS")
	srv := make([]*server.Server, 3)
	for i := range srv {
		conf := strings.Replace(base, "dir: './jwt'", fmt.Sprintf("dir: '%s'", filepath.Join(n.dir, fmt.Sprintf("jwt%d", i))), 1)
		routes := ""
		if i > 0 {
			routes = fmt.Sprintf(", routes: [%q]", routeURL(t, srv[0], "").String())
		}
		conf = fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:-1\ncluster { name: nsc, listen: \"127.0.0.1:-1\"%s }\n%s", i, routes, conf)
		o, err := server.ProcessConfigFile(writeConf(t, n.dir, fmt.Sprintf("n%d.conf", i), conf))
		if err != nil {
			t.Fatal(err)
		}
		o.NoLog, o.NoSigs = os.Getenv("JWT_TEST_LOG") == "", true
		o.Debug = !o.NoLog
		srv[i] = RunServer(t, o)
	}
	waitMesh(t, srv)
	// Interest of every server's resolver may still be on its way: a
	// system user's list answered by all three proves it arrived.
	sysCreds := n.creds("SYS", "sys")
	clusterAnswers(t, connect(t, srv[1], nats.UserCredentials(sysCreds)), "$SYS.REQ.CLAIMS.LIST", "", 3)

	// nsc pushes to one server; a user connects to another.
	n.run("edit", "operator", "--account-jwt-server-url", "nats://"+srv[1].Addr().String())
	n.run("push", "-a", "A")
	creds := n.creds("A", "u")
	sub := connect(t, srv[2], nats.UserCredentials(creds))
	s, _ := sub.SubscribeSync("hello")
	sub.Flush()
	pub := connect(t, srv[0], nats.UserCredentials(creds))
	waitFor(t, 5*time.Second, "a message between two servers", func() bool {
		pub.Publish("hello", nil)
		pub.Flush()
		_, err := s.NextMsg(50 * time.Millisecond)
		return err == nil
	})
	// nsc's edit pushed to s1 reaches the users of s0 and s2.
	n.run("edit", "account", "A", "--conns", "1")
	n.run("push", "-a", "A")
	// (Only s0 is tried: the limit counts this server's connections.)
	waitFor(t, 5*time.Second, "the new limit on s0", func() bool {
		nc, err := nats.Connect(srv[0].ClientURL(), nats.UserCredentials(creds), nats.NoReconnect(), nats.IgnoreDiscoveredServers())
		if err == nil {
			nc.Close()
			return false
		}
		return strings.Contains(err.Error(), "maximum account active connections exceeded")
	})
}
