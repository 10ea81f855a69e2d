package test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/natsforge/nats-server/server"
)

// mqttRaw is an MQTT connection driven by hand, for what client
// libraries hide: abrupt closes, unacknowledged messages, exact codes.
type mqttRaw struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// mqttPacket is one packet read: its first byte and its body.
type mqttRawPacket struct {
	typ  byte
	body []byte
}

func mqttDialRaw(t testing.TB, s *server.Server) *mqttRaw {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.MQTTAddr().String(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &mqttRaw{t: t, conn: c, br: bufio.NewReader(c)}
}

// packet frames a packet from its first byte and body.
func mqttRawFrame(typ byte, body []byte) []byte {
	b := []byte{typ}
	n := len(body)
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			break
		}
	}
	return append(b, body...)
}

func mqttRawStr(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// mqttRawConnect is a 3.1.1 CONNECT body.
func mqttRawConnect(id string, clean bool, keepAlive uint16, will *[3]string, user, pass string) []byte {
	flags := byte(0)
	if clean {
		flags |= 0x02
	}
	payload := mqttRawStr(id)
	if will != nil {
		flags |= 0x04 | 0x08 // will, QoS 1
		payload = append(payload, mqttRawStr(will[0])...)
		payload = append(payload, mqttRawStr(will[1])...)
		if will[2] == "retain" {
			flags |= 0x20
		}
	}
	if user != "" {
		flags |= 0x80
		payload = append(payload, mqttRawStr(user)...)
	}
	if pass != "" {
		flags |= 0x40
		payload = append(payload, mqttRawStr(pass)...)
	}
	body := append(mqttRawStr("MQTT"), 4, flags, byte(keepAlive>>8), byte(keepAlive))
	return mqttRawFrame(0x10, append(body, payload...))
}

func (r *mqttRaw) send(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read reads the next packet, failing after d.
func (r *mqttRaw) read(d time.Duration) mqttRawPacket {
	r.t.Helper()
	p, err := r.tryRead(d)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return p
}

func (r *mqttRaw) tryRead(d time.Duration) (mqttRawPacket, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	typ, err := r.br.ReadByte()
	if err != nil {
		return mqttRawPacket{}, err
	}
	n, shift := 0, 0
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return mqttRawPacket{}, err
		}
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		return mqttRawPacket{}, err
	}
	return mqttRawPacket{typ, body}, nil
}

// connect sends CONNECT and returns CONNACK's session present flag and code.
func (r *mqttRaw) connect(connect []byte) (bool, byte) {
	r.t.Helper()
	r.send(connect)
	p := r.read(5 * time.Second)
	if p.typ != 0x20 || len(p.body) != 2 {
		r.t.Fatalf("expected CONNACK, got %x %x", p.typ, p.body)
	}
	return p.body[0] == 1, p.body[1]
}

// subscribe subscribes one filter and returns the granted QoS.
func (r *mqttRaw) subscribe(pi uint16, filter string, qos byte) byte {
	r.t.Helper()
	body := append([]byte{byte(pi >> 8), byte(pi)}, mqttRawStr(filter)...)
	r.send(mqttRawFrame(0x82, append(body, qos)))
	p := r.read(5 * time.Second)
	if p.typ != 0x90 || len(p.body) != 3 || p.body[0] != byte(pi>>8) || p.body[1] != byte(pi) {
		r.t.Fatalf("expected SUBACK for %d, got %x %x", pi, p.typ, p.body)
	}
	return p.body[2]
}

// expectClosed waits for the server to close the connection.
func (r *mqttRaw) expectClosed(d time.Duration) {
	r.t.Helper()
	for {
		_, err := r.tryRead(d)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			r.t.Fatal("connection was not closed")
		}
		return
	}
}

// mqttRawPublish is a parsed PUBLISH.
type mqttRawPublish struct {
	flags   byte
	topic   string
	pi      uint16
	payload string
}

func (p mqttRawPacket) publish(t testing.TB) mqttRawPublish {
	t.Helper()
	if p.typ&0xf0 != 0x30 {
		t.Fatalf("expected PUBLISH, got %x %x", p.typ, p.body)
	}
	n := int(p.body[0])<<8 | int(p.body[1])
	pub := mqttRawPublish{flags: p.typ & 0x0f, topic: string(p.body[2 : 2+n])}
	rest := p.body[2+n:]
	if pub.flags&0x06 != 0 {
		pub.pi = uint16(rest[0])<<8 | uint16(rest[1])
		rest = rest[2:]
	}
	pub.payload = string(rest)
	return pub
}
