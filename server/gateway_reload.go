package server

import (
	"fmt"
	"reflect"
)

// What a reload may change in the gateway block, as the reference v2.15.2
// allows (observed): the contents of its tls blocks (certificates renewed
// in place or other files, verify...), which new gateway connections then
// use while open ones keep their session. Any other change (the name,
// listener, gateways list, authorization, advertise, retries,
// reject_unknown_cluster, adding or removing TLS or changing its timeout)
// is refused with "config reload not supported for Gateway".

// checkReloadGateway refuses a gateway change that cannot apply live.
func checkReloadGateway(cur, next *Options) error {
	a, b := cur.Gateway, next.Gateway
	if reflect.DeepEqual(a, b) {
		return nil
	}
	if sameGatewayButTLS(a, b) {
		_, err := newGatewayTLS(&b) // unreadable certificates refuse the reload
		return err
	}
	return fmt.Errorf("config reload not supported for Gateway: old=%v, new=%v", a, b)
}

// sameGatewayButTLS reports whether two gateway blocks differ only inside
// tls blocks that both have, with the same handshake timeout.
func sameGatewayButTLS(a, b GatewayOpts) bool {
	if !sameTLSPresence(a.TLS, b.TLS) || len(a.Gateways) != len(b.Gateways) {
		return false
	}
	a.TLS = b.TLS
	if len(a.Gateways) == 0 {
		return reflect.DeepEqual(a, b) // no entries to compare one by one
	}
	remotes := make([]*RemoteGatewayOpts, len(a.Gateways))
	for i, ra := range a.Gateways {
		rb := b.Gateways[i]
		if !sameTLSPresence(ra.TLS, rb.TLS) {
			return false
		}
		r := *ra
		r.TLS = rb.TLS
		remotes[i] = &r
	}
	a.Gateways = remotes
	return reflect.DeepEqual(a, b)
}

// sameTLSPresence: both blocks absent, or both present with one timeout.
func sameTLSPresence(a, b *TLSConfigOpts) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Timeout == b.Timeout
}

// reloadGatewayTLS gives new gateway connections the reloaded tls blocks.
func (s *Server) reloadGatewayTLS(o *Options) {
	gs := s.gw.Load()
	if gs == nil {
		return
	}
	if err := gs.loadTLS(o); err != nil {
		s.Errorf("Error reloading gateway TLS: %v", err) // checked before: not expected
	}
}
