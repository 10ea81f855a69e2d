package server

import (
	"crypto/subtle"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// authConfigured reports whether clients must authenticate.
func authConfigured(o *Options) bool {
	return o.Username != "" || o.Authorization != ""
}

// checkAuthentication validates CONNECT credentials and logs a failure
// without leaking any secret.
func (s *Server) checkAuthentication(c *client, co *ClientOpts) bool {
	o := s.getOpts()
	ok := false
	switch {
	case o.Authorization != "":
		ok = comparePasswords(o.Authorization, co.Token)
	case o.Username != "":
		ok = co.Username == o.Username && comparePasswords(o.Password, co.Password)
	default:
		ok = true
	}
	if ok {
		return true
	}
	if co.Username != "" {
		s.Errorf("%s - authentication error - User %q", c.logPrefix(), co.Username)
	} else {
		s.Errorf("%s - authentication error", c.logPrefix())
	}
	return false
}

// comparePasswords checks a client secret against a configured one, which
// may be a bcrypt hash. Plain secrets compare in constant time.
func comparePasswords(configured, given string) bool {
	if isBcrypt(configured) {
		return bcrypt.CompareHashAndPassword([]byte(configured), []byte(given)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(configured), []byte(given)) == 1
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}
