//go:build !windows

package server

import (
	"os"
	"os/signal"
	"syscall"
)

// handleSignals maps the operator's signals to actions, as the reference
// does: SIGINT and SIGTERM stop gracefully, SIGHUP reloads the config,
// SIGUSR1 reopens the log file, SIGUSR2 enters lame duck mode. SIGQUIT is
// deliberately not trapped: like the reference, the Go runtime's default
// stops the process with a goroutine dump, which is what an operator sending
// it wants from a stuck server.
func (s *Server) handleSignals() {
	if s.getOpts().NoSigs {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for {
			select {
			case sig := <-ch:
				s.Noticef("Trapped %q signal", sig)
				if s.onSignal(sig.(syscall.Signal)) {
					return
				}
			case <-s.quitCh:
				signal.Stop(ch)
				return
			}
		}
	}()
}

// onSignal acts on one trapped signal; it reports whether the process is
// going away, so the signal loop can end.
func (s *Server) onSignal(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM:
		s.Shutdown()
		os.Exit(0)
	case syscall.SIGHUP:
		if err := s.Reload(); err != nil {
			s.Errorf("Failed to reload server configuration: %s", err)
		}
	case syscall.SIGUSR1:
		s.ReOpenLogFile()
	case syscall.SIGUSR2:
		go s.lameDuckAndExit()
	}
	return false
}

// lameDuckAndExit runs lame duck mode to its end and exits the process, as
// the reference does after the last client is gone. A repeated SIGUSR2
// changes nothing; a SIGTERM meanwhile ends it through Shutdown.
func (s *Server) lameDuckAndExit() {
	if !s.lameDuck() {
		return
	}
	s.WaitForShutdown()
	os.Exit(0)
}

// signalCommands maps -sl commands to signals, as the reference does. "stop"
// is SIGKILL: the reference's meaning, for a server that no longer answers.
var signalCommands = map[string]syscall.Signal{
	"stop":   syscall.SIGKILL,
	"quit":   syscall.SIGINT,
	"term":   syscall.SIGTERM,
	"reopen": syscall.SIGUSR1,
	"reload": syscall.SIGHUP,
	"ldm":    syscall.SIGUSR2,
}

// ProcessSignal sends the signal named by an -sl argument, "cmd" or
// "cmd=<pid, pid file or pid glob>", to running nats-server processes.
// Without a pid it looks for the one nats-server process of this machine
// (its pid namespace), and refuses when there are none or several.
func ProcessSignal(arg string) error {
	cmd, target, err := parseSignalArg(arg)
	if err != nil {
		return err
	}
	pids, err := signalTargets("/proc", os.Getpid(), target)
	if err != nil {
		return err
	}
	sig, ok := signalCommands[cmd]
	if !ok {
		return errUnknownSignal(cmd)
	}
	return sendToAll(cmd, pids, func(pid int) error { return syscall.Kill(pid, sig) })
}
