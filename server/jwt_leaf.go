package server

// Leaf node connections in operator mode: the leaf's credentials are a user
// JWT checked as a client's is (authLeafJWT), LEAFNODE being its connection
// type, and the account's JWT limits the leaf connections it may have
// (limits.leaf, counted across the cluster: jwt_limits_cluster.go). A leaf
// over the limit is refused with the reference's error, as a client over
// limits.conn is: -ERR 'maximum account active connections exceeded'.

// authLeafJWTConnect authenticates an accepted leaf's CONNECT and checks
// its account's leaf node limit, logging a refusal as authJWT does.
func (s *Server) authLeafJWTConnect(c *client, co *ClientOpts) (*authResult, bool) {
	res, err := s.authLeafJWT(c, co)
	if err == nil {
		if acc, ok := s.LookupAccount(res.acc); ok && s.leafLimitReached(acc, leafConnLimit(acc)) {
			res, err = nil, &connectError{errMaxAccountConns, MaxAccountConnectionsExceeded}
		}
	}
	res, ok := s.jwtAuthOutcome(c, res, err)
	if ok && res.jwt != nil {
		// Expiry and, through its account's updates, revocation close
		// the leaf connection as they close a client.
		c.mu.Lock()
		c.startJWT(res.jwt)
		c.mu.Unlock()
	}
	return res, ok
}
