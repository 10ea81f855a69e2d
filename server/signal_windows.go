//go:build windows

package server

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// handleSignals stops the server gracefully on Ctrl-C or a termination
// request; services get their controls through the service manager instead
// (service_windows.go).
func (s *Server) handleSignals() {
	if s.getOpts().NoSigs {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
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

// ProcessSignal sends an -sl command to a nats-server Windows service:
// "cmd" controls the service named nats-server, "cmd=<service name>" another
// one. stop, quit and term stop it, reload is a param change, reopen and ldm
// are the custom control codes 128 and 129.
func ProcessSignal(arg string) error {
	name, code, err := parseServiceSignal(arg)
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("unable to connect to the service manager: %v", err)
	}
	defer m.Disconnect()
	service, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("unable to open service %q: %v", name, err)
	}
	defer service.Close()
	if _, err := service.Control(svc.Cmd(code)); err != nil {
		return fmt.Errorf("unable to send control request to service %q: %v", name, err)
	}
	return nil
}
