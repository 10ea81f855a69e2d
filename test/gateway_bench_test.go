package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkGatewayPubSub measures messages across a gateway, ours and the
// reference's side by side: two single-server clusters A and B (binaries),
// a raw publisher on A, a raw subscriber on B, b.N messages of 128 bytes.
// Compare the msgs/s of the pair, e.g. -benchtime=500000x -count=3.
func BenchmarkGatewayPubSub(b *testing.B) {
	for _, bin := range []struct{ name, path string }{{"ref", refBinary()}, {"ours", serverBin}} {
		if bin.path == "" {
			continue
		}
		b.Run(bin.name, func(b *testing.B) { benchGateway(b, bin.path, 128, "") })
	}
}

// BenchmarkGatewayTLSPubSub is BenchmarkGatewayPubSub with the gateways
// over TLS (both clusters with the same certificate and CA).
func BenchmarkGatewayTLSPubSub(b *testing.B) {
	ca := newTestCA(b, "gw")
	cert := gatewayCert(b, ca, "gw")
	tlsBlock := fmt.Sprintf(", tls { cert_file: %q, key_file: %q, ca_file: %q }", cert.certFile, cert.keyFile, ca.file)
	for _, bin := range []struct{ name, path string }{{"ref", refBinary()}, {"ours", serverBin}} {
		if bin.path == "" {
			continue
		}
		b.Run(bin.name, func(b *testing.B) { benchGateway(b, bin.path, 128, tlsBlock) })
	}
}

// benchProc is a server binary run for a benchmark, killed by pid at the end.
type benchProc struct {
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *benchProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func startBenchBin(b *testing.B, bin, conf string) {
	b.Helper()
	p := &benchProc{}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		ready := strings.Contains(p.out.String(), "Server is ready")
		p.mu.Unlock()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not start: %s", bin, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchGateway runs the pair; gwExtra is added to both gateway blocks.
func benchGateway(b *testing.B, bin string, size int, gwExtra string) {
	dir := b.TempDir()
	ports := [4]int{freePort(b), freePort(b), freePort(b), freePort(b)}
	confA := filepath.Join(dir, "a.conf")
	confB := filepath.Join(dir, "b.conf")
	os.WriteFile(confA, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\ngateway { name: A, listen: 127.0.0.1:%d%s }\n", ports[0], ports[1], gwExtra)), 0o600)
	os.WriteFile(confB, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\ngateway { name: B, listen: 127.0.0.1:%d, gateways: [{name: A, url: \"nats://127.0.0.1:%d\"}]%s }\n",
		ports[2], ports[3], ports[1], gwExtra)), 0o600)
	startBenchBin(b, bin, confA)
	startBenchBin(b, bin, confB)
	addrA, addrB := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[2])

	sub := dialBench(b, addrB, "SUB bench 1\r\n")
	defer sub.Close()
	// The RS+ for "probe" follows the one for "bench" on the same gateway
	// connection: once a probe crosses, A knows both.
	ncB, err := nats.Connect("nats://" + addrB)
	if err != nil {
		b.Fatal(err)
	}
	defer ncB.Close()
	probes, _ := ncB.SubscribeSync("probe")
	ncB.Flush()
	ncA, err := nats.Connect("nats://" + addrA)
	if err != nil {
		b.Fatal(err)
	}
	defer ncA.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ncA.Publish("probe", nil)
		ncA.Flush()
		if _, err := probes.NextMsg(20 * time.Millisecond); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("gateway interest never arrived")
		}
	}

	elapsed := rawPubSub(b, addrA, sub, size, 120*time.Second)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
