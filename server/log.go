package server

import (
	"sync"
	"sync/atomic"
)

// Logger is what the server logs through; package logger provides the
// reference-compatible implementations.
type Logger interface {
	Noticef(format string, v ...any)
	Warnf(format string, v ...any)
	Fatalf(format string, v ...any)
	Errorf(format string, v ...any)
	Debugf(format string, v ...any)
	Tracef(format string, v ...any)
}

type logState struct {
	mu     sync.RWMutex
	logger Logger
	debug  atomic.Bool
	trace  atomic.Bool
}

// SetLogger installs the logger and switches debug and trace output.
func (s *Server) SetLogger(l Logger, debug, trace bool) {
	s.logging.mu.Lock()
	s.logging.logger = l
	s.logging.mu.Unlock()
	s.logging.debug.Store(debug)
	s.logging.trace.Store(trace)
}

func (s *Server) log(fn func(l Logger)) {
	s.logging.mu.RLock()
	l := s.logging.logger
	s.logging.mu.RUnlock()
	if l != nil {
		fn(l)
	}
}

// Noticef logs at INF.
func (s *Server) Noticef(format string, v ...any) {
	s.log(func(l Logger) { l.Noticef(format, v...) })
}

// Warnf logs at WRN.
func (s *Server) Warnf(format string, v ...any) {
	s.log(func(l Logger) { l.Warnf(format, v...) })
}

// Errorf logs at ERR.
func (s *Server) Errorf(format string, v ...any) {
	s.log(func(l Logger) { l.Errorf(format, v...) })
}

// Fatalf logs at FTL; the standard loggers then exit the process.
func (s *Server) Fatalf(format string, v ...any) {
	s.log(func(l Logger) { l.Fatalf(format, v...) })
}

// Debugf logs at DBG when debug is on: one branch when it is off.
func (s *Server) Debugf(format string, v ...any) {
	if !s.logging.debug.Load() {
		return
	}
	s.log(func(l Logger) { l.Debugf(format, v...) })
}

// Tracef logs at TRC when trace is on.
func (s *Server) Tracef(format string, v ...any) {
	if !s.logging.trace.Load() {
		return
	}
	s.log(func(l Logger) { l.Tracef(format, v...) })
}
