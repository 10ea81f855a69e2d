//go:build windows

package server

import (
	"errors"
	"os"
	"os/signal"
)

// handleSignals stops the server gracefully on Ctrl-C.
func (s *Server) handleSignals() {
	if s.getOpts().NoSigs {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	go func() {
		select {
		case sig := <-ch:
			s.Noticef("Trapped %q signal", sig)
			s.Shutdown()
			os.Exit(0)
		case <-s.quitCh:
			signal.Stop(ch)
		}
	}()
}

// ProcessSignal talks to the Windows service manager; the service support
// arrives with the production issue.
func ProcessSignal(arg string) error {
	return errors.New("signals are not supported on windows yet")
}
