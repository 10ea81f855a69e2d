package test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsforge/nats-server/server"
)

func systemOptions() *server.Options {
	o := DefaultTestOptions()
	o.ServerName = "evsrv"
	o.Accounts = []*server.AccountOpts{{Name: "SYS"}, {Name: "A"}}
	o.SystemAccount = "SYS"
	o.Users = []*server.User{
		{Username: "sys", Password: "sys", Account: "SYS"},
		{Username: "a", Password: "a", Account: "A"},
	}
	return o
}

func nextJSON(t *testing.T, sub *nats.Subscription, v any) string {
	t.Helper()
	m, err := sub.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatalf("waiting on %q: %v", sub.Subject, err)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("%s: %v", m.Data, err)
	}
	return m.Subject
}

func TestConnectDisconnectEvents(t *testing.T) {
	s := RunServer(t, systemOptions())
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	conn, _ := sys.SubscribeSync("$SYS.ACCOUNT.A.CONNECT")
	disc, _ := sys.SubscribeSync("$SYS.ACCOUNT.A.DISCONNECT")
	conns, _ := sys.SubscribeSync("$SYS.ACCOUNT.A.SERVER.CONNS")
	sys.Flush()

	a, err := nats.Connect(s.ClientURL(), nats.UserInfo("a", "a"), nats.Name("probe"))
	if err != nil {
		t.Fatal(err)
	}
	var ce server.ConnectEventMsg
	nextJSON(t, conn, &ce)
	if ce.Type != "io.nats.server.advisory.v1.client_connect" || ce.Client.Account != "A" || ce.Client.User != "a" ||
		ce.Client.Name != "probe" || ce.Client.Lang != "go" || ce.Server.Name != "evsrv" || ce.Server.ID != s.ID() {
		t.Fatalf("connect event: %+v", ce)
	}
	var nc server.AccountNumConns
	nextJSON(t, conns, &nc)
	if nc.Account != "A" || nc.Conns != 1 {
		t.Fatalf("conns event: %+v", nc)
	}
	a.Publish("x", []byte("12345"))
	a.Flush()
	a.Close()
	var de server.DisconnectEventMsg
	nextJSON(t, disc, &de)
	if de.Reason != "Client Closed" || de.Client.ID != ce.Client.ID || de.Sent.Msgs != 1 || de.Sent.Bytes != 5 || de.Client.Stop == nil {
		t.Fatalf("disconnect event: %+v", de)
	}
	nextJSON(t, conns, &nc)
	if nc.Conns != 0 {
		t.Fatalf("conns after close: %+v", nc)
	}
}

func TestAuthErrorEvent(t *testing.T) {
	s := RunServer(t, systemOptions())
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	sub, _ := sys.SubscribeSync("$SYS.SERVER." + s.ID() + ".CLIENT.AUTH.ERR")
	sys.Flush()
	if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("a", "wrong")); err == nil {
		t.Fatal("bad password accepted")
	}
	var de server.DisconnectEventMsg
	nextJSON(t, sub, &de)
	if de.Reason != "Authentication Failure" || de.Client.User != "a" {
		t.Fatalf("auth error event: %+v", de)
	}
}

func TestSystemRequests(t *testing.T) {
	s := RunServer(t, systemOptions())
	sys := connect(t, s, nats.UserInfo("sys", "sys"))
	connect(t, s, nats.UserInfo("a", "a"))

	m, err := sys.Request("$SYS.REQ.SERVER.PING", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st server.ServerStatsMsg
	json.Unmarshal(m.Data, &st)
	if st.Server.ID != s.ID() || st.Stats.Connections != 2 || st.Stats.Cores == 0 || st.Stats.Mem == 0 {
		t.Fatalf("PING: %s", m.Data)
	}
	m, err = sys.Request("$SYS.REQ.SERVER."+s.ID()+".STATSZ", nil, 2*time.Second)
	if err != nil || !json.Valid(m.Data) {
		t.Fatalf("direct STATSZ: %v", err)
	}
	m, err = sys.Request("$SYS.REQ.SERVER.PING.IDZ", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var idz map[string]string
	json.Unmarshal(m.Data, &idz)
	if idz["id"] != s.ID() || idz["name"] != "evsrv" {
		t.Fatalf("IDZ: %s", m.Data)
	}
	m, err = sys.Request("$SYS.REQ.SERVER.PING.HEALTHZ", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var hz struct {
		Data server.HealthStatus `json:"data"`
	}
	json.Unmarshal(m.Data, &hz)
	if hz.Data.Status != "ok" || hz.Data.StatusCode != 200 {
		t.Fatalf("HEALTHZ: %s", m.Data)
	}
	for _, kind := range []string{"VARZ", "CONNZ", "SUBSZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "JSZ", "ACCOUNTZ"} {
		m, err = sys.Request("$SYS.REQ.SERVER.PING."+kind, nil, 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		var env struct {
			Server server.ServerInfo `json:"server"`
			Data   map[string]any    `json:"data"`
		}
		json.Unmarshal(m.Data, &env)
		if env.Server.ID != s.ID() || env.Data["server_id"] != s.ID() {
			t.Fatalf("%s: %s", kind, m.Data)
		}
	}
	m, err = sys.Request("$SYS.REQ.SERVER.PING.CONNZ", []byte(`{"acc":"A"}`), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var cz struct {
		Data server.Connz `json:"data"`
	}
	json.Unmarshal(m.Data, &cz)
	if cz.Data.NumConns != 1 || len(cz.Data.Conns) != 1 {
		t.Fatalf("CONNZ for A: %s", m.Data)
	}
	m, err = sys.Request("$SYS.REQ.ACCOUNT.A.CONNZ", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(m.Data, &cz)
	if cz.Data.NumConns != 1 {
		t.Fatalf("ACCOUNT.A.CONNZ: %s", m.Data)
	}
	m, err = sys.Request("$SYS.REQ.ACCOUNT.A.CONNS", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ac server.AccountNumConns
	json.Unmarshal(m.Data, &ac)
	if ac.Account != "A" || ac.Conns != 1 {
		t.Fatalf("ACCOUNT.A.CONNS: %s", m.Data)
	}
	m, err = sys.Request("$SYS.REQ.USER.INFO", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ui struct {
		Data server.UserInfo `json:"data"`
	}
	json.Unmarshal(m.Data, &ui)
	if ui.Data.UserID != "sys" || ui.Data.Account != "SYS" {
		t.Fatalf("USER.INFO: %s", m.Data)
	}
}

func TestSystemAccountNotVisibleToOthers(t *testing.T) {
	s := RunServer(t, systemOptions())
	a := connect(t, s, nats.UserInfo("a", "a"))
	if _, err := a.Request("$SYS.REQ.SERVER.PING", nil, 300*time.Millisecond); err == nil {
		t.Fatal("a normal account must not reach the system account's handlers")
	}
}
