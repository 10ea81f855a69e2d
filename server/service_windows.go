//go:build windows

package server

import (
	"os"
	"time"

	"golang.org/x/sys/windows/svc"
)

// Run starts the server and blocks until it has shut down. When the Service
// Control Manager started the process (and NATS_DOCKERIZED is not "1") the
// server runs as a service: it reports its state to the manager and obeys
// stop, shutdown, param change (reload) and the custom codes 128 (reopen the
// log) and 129 (lame duck mode).
func Run(s *Server) error {
	if !runAsPlainProcess(os.Getenv) {
		if isSvc, err := svc.IsWindowsService(); err == nil && isSvc {
			return svc.Run(currentServiceName(), &winService{s: s})
		}
	}
	if err := s.StartAndCheck(); err != nil {
		return err
	}
	s.WaitForShutdown()
	return nil
}

type winService struct{ s *Server }

const acceptedControls = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptParamChange

// Execute is the service's life as the service manager sees it.
func (w *winService) Execute(_ []string, changes <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	s := w.s
	status <- svc.Status{State: svc.StartPending}
	delay, err := startupDelay(os.Getenv)
	if err != nil {
		s.Warnf("%v", err)
	}
	started := make(chan error, 1)
	go func() { started <- s.StartAndCheck() }()
	select {
	case err := <-started:
		if err != nil {
			s.Errorf("%v", err)
			return true, 1
		}
	case <-time.After(delay):
		s.Errorf("Failed to start NATS server within %v", delay)
		return true, 1
	}
	status <- svc.Status{State: svc.Running, Accepts: acceptedControls}
	for {
		select {
		case <-s.doneCh:
			status <- svc.Status{State: svc.StopPending}
			return false, 0
		case c := <-changes:
			if w.control(c, status) {
				return false, 0
			}
		}
	}
}

// control handles one request; it reports whether the service has stopped.
func (w *winService) control(c svc.ChangeRequest, status chan<- svc.Status) bool {
	s := w.s
	switch c.Cmd {
	case svc.Interrogate:
		status <- c.CurrentStatus
	case svc.Stop, svc.Shutdown:
		status <- svc.Status{State: svc.StopPending}
		s.Shutdown()
		return true
	case svc.ParamChange:
		if err := s.Reload(); err != nil {
			s.Errorf("Failed to reload server configuration: %s", err)
		}
	case svc.Cmd(svcCodeReopenLog):
		s.ReOpenLogFile()
	case svc.Cmd(svcCodeLameDuck):
		// The loop sees doneCh once lame duck mode ends.
		go s.LameDuckShutdown()
	default:
		s.Debugf("Unexpected service control request #%d", c.Cmd)
	}
	return false
}
