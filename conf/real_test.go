package conf

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// at walks a dotted path through plain maps and arrays ("users.1.user").
func at(t *testing.T, m map[string]any, path string) any {
	t.Helper()
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[part]
			if !ok {
				t.Fatalf("%s: no key %q", path, part)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(c) {
				t.Fatalf("%s: bad index %q", path, part)
			}
			cur = c[i]
		default:
			t.Fatalf("%s: cannot descend into %T", path, cur)
		}
	}
	return cur
}

func checkPaths(t *testing.T, file string, want map[string]any) {
	t.Helper()
	m, err := ParseFilePlain(file)
	if err != nil {
		t.Fatal(err)
	}
	for path, w := range want {
		if got := at(t, m, path); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %s = %#v, want %#v", file, path, got, w)
		}
	}
}

const bcryptHash = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"

func TestRealServerConf(t *testing.T) {
	checkPaths(t, "testdata/real/server.conf", map[string]any{
		"server_name":        "n1-east",
		"listen":             "127.0.0.1:4222",
		"http":               int64(8222),
		"client_advertise":   "nats.example.com:4222",
		"debug":              false,
		"trace":              false,
		"logtime":            true,
		"syslog":             false,
		"log_file":           "/var/log/nats/nats.log",
		"logfile_size_limit": int64(1 << 30),
		"max_connections":    int64(64000),
		"max_control_line":   int64(4096),
		"max_payload":        int64(1 << 20),
		"max_pending":        int64(64 << 20),
		"max_subscriptions":  int64(0),
		"ping_interval":      "2m",
		"ping_max":           int64(2),
		"write_deadline":     "10s",
		"lame_duck_duration": "30s",
		"server_tags":        []any{"region:east", "az:1"},

		"authorization.timeout":                             2.5,
		"authorization.default_permissions.publish":         "SANDBOX.*",
		"authorization.default_permissions.subscribe":       []any{"PUBLIC.>", "_INBOX.>"},
		"authorization.users.0.user":                        "admin",
		"authorization.users.0.password":                    bcryptHash,
		"authorization.users.1.password":                    "pa$$w0rd",
		"authorization.users.1.permissions.publish":         map[string]any{"allow": []any{"req.>"}, "deny": []any{"req.secret"}},
		"authorization.users.1.permissions.subscribe":       map[string]any{"deny": ">"},
		"authorization.users.1.permissions.allow_responses": map[string]any{"max": int64(5), "expires": "1m"},
		"authorization.users.2.nkey":                        "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4",

		"tls.cert_file":         "./certs/server-cert.pem",
		"tls.verify":            true,
		"tls.timeout":           int64(2),
		"tls.cipher_suites.1":   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		"tls.curve_preferences": []any{"CurveP256"},
	})
}

func TestRealClusterConf(t *testing.T) {
	checkPaths(t, "testdata/real/cluster.conf", map[string]any{
		"server_name":                   "n2",
		"port":                          int64(4222),
		"monitor_port":                  int64(8222),
		"jetstream.store_dir":           "/data/jetstream",
		"jetstream.max_memory_store":    int64(1e9),
		"jetstream.max_file_store":      int64(10 << 30),
		"jetstream.domain":              "hub",
		"jetstream.unique_tag":          "az:",
		"cluster.name":                  "east",
		"cluster.listen":                "0.0.0.0:6222",
		"cluster.authorization.timeout": 0.5,
		"cluster.routes": []any{
			"nats-route://route_user:T0pS3cr3t@10.0.0.2:6222",
			"nats-route://route_user:T0pS3cr3t@10.0.0.3:6222",
		},
		"cluster.pool_size":                int64(3),
		"cluster.compression":              "s2_auto",
		"cluster.no_advertise":             true,
		"gateway.port":                     int64(7222),
		"gateway.gateways.0.urls.1":        "nats://w2.example.com:7222",
		"gateway.gateways.1.url":           "nats://s1.example.com:7222",
		"gateway.reject_unknown_cluster":   true,
		"leafnodes.port":                   int64(7422),
		"leafnodes.remotes.0.urls":         []any{"nats-leaf://hub.example.com:7422"},
		"leafnodes.remotes.0.credentials":  "/etc/nats/leaf.creds",
		"leafnodes.remotes.1.hub":          true,
		"leafnodes.remotes.1.deny_imports": []any{"secret.>"},
		"websocket.port":                   int64(8080),
		"websocket.no_tls":                 true,
		"websocket.same_origin":            false,
		"websocket.allowed_origins":        []any{"https://app.example.com"},
		"mqtt.port":                        int64(1883),
		"mqtt.ack_wait":                    "1m",
		"mqtt.max_ack_pending":             int64(100),
	})
}

func TestRealAccountsConf(t *testing.T) {
	checkPaths(t, "testdata/real/accounts.conf", map[string]any{
		"system_account":                    "SYS",
		"no_auth_user":                      "app",
		"accounts.SYS.users.0.user":         "sys",
		"accounts.APP.jetstream":            "enabled",
		"accounts.APP.exports.0.stream":     "events.>",
		"accounts.APP.exports.1.accounts":   []any{"CLIENT"},
		"accounts.CLIENT.jetstream.max_mem": int64(512e6),
		"accounts.CLIENT.imports.0":         map[string]any{"stream": map[string]any{"account": "APP", "subject": "events.>"}, "prefix": "app"},
		"accounts.CLIENT.imports.1.to":      "time",
		"mappings.foo":                      "bar",
		"mappings.weighted.0.weight":        "80%",
		"mappings.weighted.1.destination":   "w.b",
	})
	// Mapping keys contain dots, so look them up directly.
	m, _ := ParseFilePlain("testdata/real/accounts.conf")
	app := m["accounts"].(map[string]any)["APP"].(map[string]any)
	if got := app["mappings"].(map[string]any)["orders.*"]; got != "orders.{{wildcard(1)}}.v2" {
		t.Errorf("orders.* mapping = %#v", got)
	}
	if got := m["mappings"].(map[string]any)["partition.*"]; got != "partition.{{partition(10,1)}}.{{wildcard(1)}}" {
		t.Errorf("partition.* mapping = %#v", got)
	}
}
