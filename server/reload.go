package server

import "errors"

// Reload re-reads the configuration file and applies what changed.
// (Placeholder until the configuration issue lands: refuses.)
func (s *Server) Reload() error {
	return errors.New("config reload not supported yet")
}
