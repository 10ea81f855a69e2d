package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
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
