package server

import "errors"

// ProcessConfigFile is replaced when the conf package lands.
func ProcessConfigFile(path string) (*Options, error) {
	return nil, errors.New("config files not supported yet")
}
