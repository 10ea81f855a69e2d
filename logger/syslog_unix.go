//go:build !windows

package logger

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// localSyslogPaths are the sockets where Unix syslog daemons listen, in the
// order Linux, macOS and BSD put them.
var localSyslogPaths = []string{"/dev/log", "/var/run/syslog", "/var/run/log"}

// NewSysLogger returns a Logger sending records to the local syslog daemon
// over its Unix socket. Each record is one message
//
//	<PRI>Jan _2 15:04:05 nats-server[PID]: MSG\n
//
// with PRI = LOG_DAEMON + the level's severity (notice for Noticef and
// Tracef, warning, err, crit for Fatalf, debug for Debugf).
func NewSysLogger(debug, trace bool) (*Logger, error) {
	so := &syslogOutput{
		dial:     dialLocalSyslog,
		facility: facilityDaemon,
		header:   func(b []byte, now time.Time) []byte { return append(now.AppendFormat(b, time.Stamp), ' ') },
	}
	if err := so.connect(); err != nil {
		return nil, fmt.Errorf("logger: error connecting to syslog: %w", err)
	}
	return &Logger{debug: debug, trace: trace, out: so}, nil
}

func dialLocalSyslog() (net.Conn, error) {
	var errs []error
	for _, p := range localSyslogPaths {
		c, err := dialSyslog("unix", p)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no local syslog socket found: %w", errors.Join(errs...))
}
