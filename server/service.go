//go:build !windows

package server

// Run starts the server and blocks until it has shut down. On Windows it is
// the service runner when the Service Control Manager started the process;
// elsewhere it is Start followed by WaitForShutdown.
func Run(s *Server) error {
	if err := s.StartAndCheck(); err != nil {
		return err
	}
	s.WaitForShutdown()
	return nil
}
