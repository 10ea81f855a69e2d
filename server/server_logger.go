package server

import (
	"github.com/natsforge/nats-server/logger"
)

// ConfigureLogger installs the logger the options describe, with the
// reference's precedence: a log file, else remote syslog, else local syslog,
// else standard error.
func (s *Server) ConfigureLogger() error {
	o := s.getOpts()
	if o.NoLog {
		return nil
	}
	l, err := newLoggerFromOptions(o)
	if err != nil {
		return err
	}
	s.SetLogger(l, o.Debug, o.Trace)
	return nil
}

func newLoggerFromOptions(o *Options) (*logger.Logger, error) {
	switch {
	case o.LogFile != "":
		opts := []logger.Option{logger.LogUTC(o.LogtimeUTC)}
		if o.LogSizeLimit > 0 {
			opts = append(opts, logger.SizeLimit(o.LogSizeLimit))
		}
		if o.LogMaxFiles > 0 {
			opts = append(opts, logger.MaxNumFiles(int(o.LogMaxFiles)))
		}
		return logger.NewFileLogger(o.LogFile, o.Logtime, o.Debug, o.Trace, true, opts...)
	case o.RemoteSyslog != "":
		return logger.NewRemoteSysLogger(o.RemoteSyslog, o.Debug, o.Trace)
	case o.Syslog:
		return logger.NewSysLogger(o.Debug, o.Trace)
	}
	return logger.NewStdLogger(o.Logtime, o.Debug, o.Trace, true, true, logger.LogUTC(o.LogtimeUTC)), nil
}

// ReOpenLogFile reopens the log file by name (SIGUSR1, after logrotate
// renamed it), with the reference's log lines.
func (s *Server) ReOpenLogFile() {
	s.logging.mu.RLock()
	l := s.logging.logger
	s.logging.mu.RUnlock()
	r, ok := l.(interface{ Reopen() error })
	if l == nil || !ok || s.getOpts().LogFile == "" {
		s.Noticef("File log re-open ignored, not a file logger")
		return
	}
	if err := r.Reopen(); err != nil {
		s.Errorf("Error re-opening the log file: %v", err)
		return
	}
	s.Noticef("File log re-opened")
}
