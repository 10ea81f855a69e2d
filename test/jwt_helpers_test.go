package test

import (
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

// jwtEnv is an operator with its system account, minted for one test.
type jwtEnv struct {
	t      testing.TB
	op     nkeys.KeyPair
	opPub  string
	opJWT  string
	sys    *jwtAccount
	dir    string
	extras string // more config lines
}

// jwtAccount is an account's key, claims and JWT.
type jwtAccount struct {
	kp     nkeys.KeyPair
	pub    string
	claims *jwt.AccountClaims
	token  string
}

func newJWTEnv(t testing.TB) *jwtEnv {
	t.Helper()
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	e := &jwtEnv{t: t, op: op, opPub: opPub, dir: t.TempDir()}
	e.sys = e.account("SYS", nil)
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "O"
	oc.SystemAccount = e.sys.pub
	var err error
	if e.opJWT, err = oc.Encode(op); err != nil {
		t.Fatal(err)
	}
	return e
}

// account mints an account JWT signed by the operator.
func (e *jwtEnv) account(name string, edit func(*jwt.AccountClaims)) *jwtAccount {
	e.t.Helper()
	kp, _ := nkeys.CreateAccount()
	pub, _ := kp.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	ac.Name = name
	a := &jwtAccount{kp: kp, pub: pub, claims: ac}
	e.sign(a, edit)
	return a
}

// sign re-issues an account's JWT after edit, signed by the operator. The
// issue time moves on so that the new JWT is newer than the previous one.
func (e *jwtEnv) sign(a *jwtAccount, edit func(*jwt.AccountClaims)) string {
	e.t.Helper()
	if a.token != "" {
		// Encode stamps the current second: a re-issue within the same
		// second would not be newer, and servers keep the JWT they have.
		// Waited for before edit, so times the edit computes stay ahead.
		prev := a.claims.IssuedAt
		waitFor(e.t, 2*time.Second, "the next second", func() bool { return time.Now().Unix() > prev })
	}
	if edit != nil {
		edit(a.claims)
	}
	token, err := a.claims.Encode(e.op)
	if err != nil {
		e.t.Fatal(err)
	}
	a.token = token
	return token
}

// user mints a user JWT of account a signed by signer (the account's own
// key when nil) and returns the connect option with its seed.
func (e *jwtEnv) user(a *jwtAccount, signer nkeys.KeyPair, edit func(*jwt.UserClaims)) (nats.Option, string, string) {
	e.t.Helper()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	seed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "u"
	if signer != nil {
		uc.IssuerAccount = a.pub
	} else {
		signer = a.kp
	}
	if edit != nil {
		edit(uc)
	}
	token, err := uc.Encode(signer)
	if err != nil {
		e.t.Fatal(err)
	}
	return nats.UserJWTAndSeed(token, string(seed)), token, upub
}

// creds writes a user's credentials file, as nsc does.
func (e *jwtEnv) creds(a *jwtAccount, edit func(*jwt.UserClaims)) string {
	e.t.Helper()
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	seed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	if edit != nil {
		edit(uc)
	}
	token, _ := uc.Encode(a.kp)
	b, _ := jwt.FormatUserConfig(token, seed)
	p := filepath.Join(e.dir, upub+".creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// memConfig is a MEMORY resolver config preloading the accounts.
func (e *jwtEnv) memConfig(accs ...*jwtAccount) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:-1\noperator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n", e.opJWT, e.sys.pub)
	for _, a := range append([]*jwtAccount{e.sys}, accs...) {
		fmt.Fprintf(&b, "  %s: %s\n", a.pub, a.token)
	}
	b.WriteString("}\n" + e.extras)
	return b.String()
}

// fullConfig is a full NATS resolver config with its directory store. A
// lookup of an unknown account waits for other servers' answers: 300ms
// instead of 1.9s here, alone.
func (e *jwtEnv) fullConfig(extra string) string {
	return fmt.Sprintf("listen: 127.0.0.1:-1\noperator: %s\nsystem_account: %s\nresolver: {type: full, dir: %q, allow_delete: true, timeout: \"300ms\" %s}\n%s",
		e.opJWT, e.sys.pub, filepath.Join(e.dir, "jwt"), extra, e.extras)
}

// run starts a server from a config text.
func (e *jwtEnv) run(conf string) *server.Server {
	e.t.Helper()
	p := filepath.Join(e.dir, "s.conf")
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

// startErr returns the error of a config that must not start.
func (e *jwtEnv) startErr(conf string) error {
	e.t.Helper()
	p := filepath.Join(e.dir, "bad.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		e.t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(p)
	if err != nil {
		return err
	}
	o.NoLog, o.NoSigs = true, true
	s, err := server.NewServer(o)
	if err == nil {
		s.Shutdown()
	}
	return err
}

// sysConn connects a user of the system account.
func (e *jwtEnv) sysConn(s *server.Server) *nats.Conn {
	e.t.Helper()
	opt, _, _ := e.user(e.sys, nil, nil)
	return connect(e.t, s, opt)
}

// asyncErrs connects with the options and collects the asynchronous errors
// and the close.
type asyncConn struct {
	nc     *nats.Conn
	errs   chan error
	closed chan struct{}
}

func connectAsync(t testing.TB, s *server.Server, opts ...nats.Option) *asyncConn {
	t.Helper()
	ac := &asyncConn{errs: make(chan error, 16), closed: make(chan struct{})}
	opts = append(opts, nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { ac.errs <- err }),
		nats.ClosedHandler(func(*nats.Conn) { close(ac.closed) }))
	ac.nc = connect(t, s, opts...)
	return ac
}

// expectErr waits for an asynchronous error containing want.
func (ac *asyncConn) expectErr(t testing.TB, want string, d time.Duration) {
	t.Helper()
	select {
	case err := <-ac.errs:
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
			t.Fatalf("expected error %q, got %v", want, err)
		}
	case <-time.After(d):
		t.Fatalf("no error %q within %v", want, d)
	}
}

// expectClosed waits for the server to close the connection.
func (ac *asyncConn) expectClosed(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-ac.closed:
	case <-time.After(d):
		t.Fatalf("connection not closed within %v", d)
	}
}

// mustFail checks that connecting with opts is refused with want.
func mustFail(t testing.TB, s *server.Server, want string, opts ...nats.Option) {
	t.Helper()
	// A full resolver answers an unknown account only after its lookup
	// timeout (1.9 s, as the reference, even alone): nats.go's default
	// 2 s connect timeout would race it on a loaded machine.
	opts = append([]nats.Option{nats.Timeout(10 * time.Second)}, opts...)
	nc, err := nats.Connect(s.ClientURL(), append(opts, nats.NoReconnect())...)
	if err == nil {
		nc.Close()
		t.Fatalf("connect succeeded, expected %q", want)
	}
	if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
		t.Fatalf("expected %q, got %v", want, err)
	}
}

// sysRequest sends a request as a system user and returns the answer.
func sysRequest(t testing.TB, nc *nats.Conn, subject, body string) string {
	t.Helper()
	m, err := nc.Request(subject, []byte(body), 2*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	return string(m.Data)
}
