package test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// TLS handshake first (handshake_first in the hub's and the remote's tls
// blocks): ours both ways and mixed with the reference; a remote without
// it never registers on such a hub. A fallback delay is refused.
func TestLeafTLSHandshakeFirst(t *testing.T) {
	ca, srv := leafServerCert(t, "hfca")
	hub := leafHub(t, func(o *server.Options) {
		o.LeafNode.TLS = &server.TLSConfigOpts{CertFile: srv.certFile, KeyFile: srv.keyFile, HandshakeFirst: true}
	})
	leaf := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].URLs[0].Scheme = "tls"
		o.LeafNode.Remotes[0].TLS = &server.TLSConfigOpts{CaFile: ca.file, HandshakeFirst: true}
	})
	waitLeafs(t, 1, hub, leaf)
	checkLeafPath(t, connect(t, hub), connect(t, leaf), "hf.a")
	late := leafOf(t, hub.LeafAddr().Port, "", "", func(o *server.Options) {
		o.LeafNode.Remotes[0].TLS = &server.TLSConfigOpts{CaFile: ca.file}
	})
	time.Sleep(1500 * time.Millisecond) // its attempts wait for a clear INFO that never comes; nothing to await
	if late.NumLeafNodes() != 0 || hub.NumLeafNodes() != 1 {
		t.Fatalf("remote without handshake_first: leaf %d, hub %d", late.NumLeafNodes(), hub.NumLeafNodes())
	}

	dir := t.TempDir()
	o, err := server.ProcessConfigFile(writeConf(t, dir, "fb.conf", fmt.Sprintf(
		"leafnodes { listen: \"127.0.0.1:-1\", tls { cert_file: %q, key_file: %q, handshake_first: auto } }", srv.certFile, srv.keyFile)))
	if err == nil {
		_, err = server.NewServer(o)
	}
	if err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Fatalf("handshake_first auto: %v", err)
	}

	ref := refBin(t)
	for _, pair := range [][2]string{{ref, serverBin}, {serverBin, ref}} {
		hubPort, hubLeafPort, leafPort := freePort(t), freePort(t), freePort(t)
		hp := startBinAt(t, pair[0], "-c", writeConf(t, dir, "hub.conf", fmt.Sprintf(
			"host: 127.0.0.1\nport: %d\nleafnodes { listen: \"127.0.0.1:%d\", tls { cert_file: %q, key_file: %q, handshake_first: true } }\n",
			hubPort, hubLeafPort, srv.certFile, srv.keyFile)))
		hp.waitOutput("Server is ready")
		lp := startBinAt(t, pair[1], "-c", writeConf(t, dir, "leaf.conf", fmt.Sprintf(
			"host: 127.0.0.1\nport: %d\nleafnodes { reconnect: \"100ms\", remotes [ { url: \"tls://127.0.0.1:%d\", tls { ca_file: %q, handshake_first: true } } ] }\n",
			leafPort, hubLeafPort, ca.file)))
		lp.waitOutput("Leafnode connection created")
		checkLeafPath(t, dialNATS(t, hubPort), dialNATS(t, leafPort), "hf.mixed")
		hp.cmd.Process.Kill()
		lp.cmd.Process.Kill()
		<-hp.done
		<-lp.done
	}
}

// leafServerCert is a CA and a server certificate for 127.0.0.1 it issued.
func leafServerCert(t *testing.T, name string) (*testCA, *issued) {
	t.Helper()
	ca := newTestCA(t, name)
	return ca, ca.issue(t, name+"srv", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}
