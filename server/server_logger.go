package server

import (
	"fmt"
	"os"
	"time"
)

// ConfigureLogger installs a logger from the options. (Interim: replaced by
// package logger when it lands.)
func (s *Server) ConfigureLogger() error {
	o := s.getOpts()
	if o.NoLog {
		return nil
	}
	s.SetLogger(&interimLogger{pid: os.Getpid(), ts: o.Logtime}, o.Debug, o.Trace)
	return nil
}

type interimLogger struct {
	pid int
	ts  bool
}

func (l *interimLogger) logf(level, format string, v ...any) {
	prefix := fmt.Sprintf("[%d] ", l.pid)
	if l.ts {
		prefix += time.Now().Format("2006/01/02 15:04:05.000000 ")
	}
	fmt.Fprintf(os.Stderr, prefix+"["+level+"] "+format+"\n", v...)
}
func (l *interimLogger) Noticef(f string, v ...any) { l.logf("INF", f, v...) }
func (l *interimLogger) Warnf(f string, v ...any)   { l.logf("WRN", f, v...) }
func (l *interimLogger) Errorf(f string, v ...any)  { l.logf("ERR", f, v...) }
func (l *interimLogger) Fatalf(f string, v ...any)  { l.logf("FTL", f, v...); os.Exit(1) }
func (l *interimLogger) Debugf(f string, v ...any)  { l.logf("DBG", f, v...) }
func (l *interimLogger) Tracef(f string, v ...any)  { l.logf("TRC", f, v...) }
