package logger

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// Syslog severities (RFC 5424 numbering) per level, as the reference sends
// them: trace goes out as notice so it is not filtered with debug.
var syslogSeverity = [numLevels]int{
	lvlNotice: 5,
	lvlWarn:   4,
	lvlError:  3,
	lvlFatal:  2,
	lvlDebug:  7,
	lvlTrace:  5,
}

const (
	syslogTag = "nats-server"
	// The reference sends local records as daemon and remote ones with
	// facility 0; keeping both lets existing syslog filters keep matching.
	facilityDaemon = 3 << 3
	facilityRemote = 0
	// DefaultRemoteSyslog is used when NewRemoteSysLogger gets "".
	DefaultRemoteSyslog = "udp://localhost:514"
	// syslogWriteTimeout bounds how long a stalled TCP collector can hold
	// up a log call (and so the server goroutine making it).
	syslogWriteTimeout = 2 * time.Second
)

// NewRemoteSysLogger returns a Logger sending records to the syslog
// collector at fqn: "udp://host:port", "tcp://host:port" or "unix:///path"
// (datagram socket, falling back to stream); "" means DefaultRemoteSyslog.
//
// Each record is one message of the form (RFC 3164 style, as Go's
// log/syslog writes to a network collector)
//
//	<PRI>2006-01-02T15:04:05Z07:00 HOSTNAME nats-server[PID]: MSG\n
//
// with PRI = facility 0 + the level's severity. Over TCP the trailing
// newline frames messages.
func NewRemoteSysLogger(fqn string, debug, trace bool) (*Logger, error) {
	network, addr, err := parseSyslogURL(fqn)
	if err != nil {
		return nil, err
	}
	host, herr := os.Hostname()
	if herr != nil || host == "" {
		host = "localhost"
	}
	so := &syslogOutput{
		dial:     func() (net.Conn, error) { return dialSyslog(network, addr) },
		facility: facilityRemote,
		header:   func(b []byte, now time.Time) []byte { return append(now.AppendFormat(b, time.RFC3339), ' ') },
		host:     host,
	}
	if err := so.connect(); err != nil {
		return nil, fmt.Errorf("logger: error connecting to syslog: %w", err)
	}
	return &Logger{debug: debug, trace: trace, out: so}, nil
}

// parseSyslogURL splits a remote syslog address into a network and address.
func parseSyslogURL(fqn string) (network, addr string, err error) {
	if fqn == "" {
		fqn = DefaultRemoteSyslog
	}
	u, err := url.Parse(fqn)
	if err != nil {
		return "", "", fmt.Errorf("logger: invalid remote syslog address %q: %w", fqn, err)
	}
	switch u.Scheme {
	case "udp", "tcp":
		if u.Host == "" {
			return "", "", fmt.Errorf("logger: remote syslog address %q has no host:port", fqn)
		}
		return u.Scheme, u.Host, nil
	case "unix":
		if u.Path == "" {
			return "", "", fmt.Errorf("logger: remote syslog address %q has no socket path", fqn)
		}
		return "unix", u.Path, nil
	default:
		return "", "", fmt.Errorf("logger: invalid network type %q in remote syslog address %q (want udp, tcp or unix)", u.Scheme, fqn)
	}
}

func dialSyslog(network, addr string) (net.Conn, error) {
	if network != "unix" {
		return net.DialTimeout(network, addr, syslogWriteTimeout)
	}
	// Collectors (rsyslog, journald) listen on datagram sockets; a stream
	// socket is the rarer set-up.
	c, err := net.Dial("unixgram", addr)
	if err == nil {
		return c, nil
	}
	c, err2 := net.Dial("unix", addr)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return c, nil
}

// syslogOutput writes records to one syslog connection, redialling once on a
// write failure since collectors restart (and UDP "connections" can be
// refused by ICMP).
type syslogOutput struct {
	dial     func() (net.Conn, error)
	facility int
	header   func(b []byte, now time.Time) []byte // timestamp and space
	host     string                               // "" for local syslog, which adds its own

	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func (so *syslogOutput) connect() error {
	c, err := so.dial()
	if err != nil {
		return err
	}
	so.conn = c
	return nil
}

func (so *syslogOutput) emit(lv level, msg []byte) {
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '<')
	b = strconv.AppendInt(b, int64(so.facility|syslogSeverity[lv]), 10)
	b = append(b, '>')
	b = so.header(b, time.Now())
	if so.host != "" {
		b = append(b, so.host...)
		b = append(b, ' ')
	}
	b = append(b, syslogTag+"["...)
	b = strconv.AppendInt(b, int64(os.Getpid()), 10)
	b = append(b, "]: "...)
	b = append(b, msg...)
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		b = append(b, '\n')
	}
	so.send(b)
	if cap(b) <= maxPooledBuf {
		*bp = b
		bufPool.Put(bp)
	}
}

func (so *syslogOutput) send(b []byte) {
	so.mu.Lock()
	defer so.mu.Unlock()
	if so.closed {
		return
	}
	if so.conn != nil && so.write(b) == nil {
		return
	}
	if so.conn != nil {
		so.conn.Close()
		so.conn = nil
	}
	if so.connect() == nil {
		_ = so.write(b)
	}
}

func (so *syslogOutput) write(b []byte) error {
	_ = so.conn.SetWriteDeadline(time.Now().Add(syslogWriteTimeout))
	_, err := so.conn.Write(b)
	return err
}

func (so *syslogOutput) reopen() error { return nil }

func (so *syslogOutput) close() error {
	so.mu.Lock()
	defer so.mu.Unlock()
	so.closed = true
	if so.conn == nil {
		return nil
	}
	err := so.conn.Close()
	so.conn = nil
	return err
}
