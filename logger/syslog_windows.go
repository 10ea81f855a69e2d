//go:build windows

package logger

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/windows/svc/eventlog"
)

// eventSource is the Windows Event Log source records are written under; it
// must have been registered (eventlog.InstallAsEventCreate) by an installer
// or by the service registration.
const eventSource = "NATS-Server"

// Event IDs per level so that event viewer filters can tell them apart.
var eventID = [numLevels]uint32{
	lvlNotice: 1, lvlWarn: 2, lvlError: 3, lvlFatal: 4, lvlDebug: 5, lvlTrace: 6,
}

// NewSysLogger returns a Logger writing to the Windows Event Log under the
// "NATS-Server" source: notices, debug and trace as information events,
// warnings as warning events, errors and fatal records as error events.
func NewSysLogger(debug, trace bool) (*Logger, error) {
	el, err := eventlog.Open(eventSource)
	if err != nil {
		return nil, fmt.Errorf("logger: could not open event log source %q: %w", eventSource, err)
	}
	return &Logger{debug: debug, trace: trace, out: &eventOutput{el: el}}, nil
}

type eventOutput struct {
	mu     sync.Mutex
	el     *eventlog.Log
	closed bool
}

func (eo *eventOutput) emit(lv level, b []byte) {
	msg := strings.TrimSuffix(string(b), "\n")
	eo.mu.Lock()
	defer eo.mu.Unlock()
	if eo.closed {
		return
	}
	switch lv {
	case lvlWarn:
		_ = eo.el.Warning(eventID[lv], msg)
	case lvlError, lvlFatal:
		_ = eo.el.Error(eventID[lv], msg)
	default:
		_ = eo.el.Info(eventID[lv], msg)
	}
}

func (eo *eventOutput) reopen() error { return nil }

func (eo *eventOutput) close() error {
	eo.mu.Lock()
	defer eo.mu.Unlock()
	if eo.closed {
		return nil
	}
	eo.closed = true
	return eo.el.Close()
}
