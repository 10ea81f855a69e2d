package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// certMapConfigured reports whether clients authenticate with their TLS
// certificate (verify_and_map) against the configured users.
func certMapConfigured(o *Options) bool {
	return o.TLS != nil && o.TLS.Map && len(o.Users) > 0
}

// authenticateClient checks a connection's credentials; with verify_and_map
// the certificate decides, quietly (used when reload re-checks clients).
func (s *Server) authenticateClient(o *Options, c *client, co *ClientOpts, nonce string) (*authResult, bool) {
	if s.jwt != nil {
		res, err := s.checkUserJWT(c, co, false)
		return res, err == nil
	}
	if c.mq != nil {
		return mqttAuthenticate(o, c, co)
	}
	if c.ws != nil {
		return wsAuthenticate(o, c, co, nonce)
	}
	if o.AuthCallout != nil && !calloutBypass(o, co) {
		return c.calloutIdentity(), true // the service vouched for it
	}
	if certMapConfigured(o) {
		u := findCertUser(c.peerCert(), o.Users, nil)
		if u == nil || co.Username != "" || !allowsClient(u.AllowedConnectionTypes) {
			return nil, false
		}
		return &authResult{user: u.Username, perms: userPerms(o, u.Permissions), acc: u.Account}, true
	}
	return authenticate(o, co, nonce)
}

// checkCertAuth authenticates a CONNECT by the client's certificate, as
// verify_and_map asks: the certificate must map to a configured user and
// CONNECT must not name another one. Logs in the reference's words.
func (s *Server) checkCertAuth(c *client, o *Options, co *ClientOpts) (*authResult, bool) {
	debug := func(format string, a ...any) {
		s.Debugf("%s - "+format, append([]any{c.logPrefix()}, a...)...)
	}
	u := findCertUser(c.peerCert(), o.Users, debug)
	if u != nil && !allowsClient(u.AllowedConnectionTypes) {
		debug("User %q not allowed to connect as a client (allowed_connection_types)", u.Username)
		u = nil
	}
	if u == nil {
		if co.Username != "" {
			s.Errorf("%s - authentication error - User %q", c.logPrefix(), co.Username)
		} else {
			s.Errorf("%s - authentication error", c.logPrefix())
		}
		return nil, false
	}
	if co.Username != "" {
		s.Warnf("User %q found in connect proto, but user required from cert", co.Username)
		s.Errorf("%s - authentication error - User %q", c.logPrefix(), u.Username)
		return nil, false
	}
	return &authResult{user: u.Username, perms: userPerms(o, u.Permissions), acc: u.Account}, true
}

// peerCert is the client's verified certificate, nil without one.
func (c *client) peerCert() *x509.Certificate {
	c.mu.Lock()
	tc := c.tls.conn
	c.mu.Unlock()
	if tc == nil {
		return nil
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		return certs[0]
	}
	return nil
}

// findCertUser maps a certificate to a user, trying in turn, as the
// reference does: each e-mail address of the SAN, each DNS name of the SAN,
// then the subject. A subject with domain components is matched as the RFC
// 2253 string of its standard attributes followed by its DC attributes;
// otherwise as a distinguished name, ignoring the order of RDNs and of the
// attributes within one. Last comes the exact RFC 2253 string of the
// subject's standard attributes. debug, if set, narrates the attempts.
func findCertUser(cert *x509.Certificate, users []*User, debug func(string, ...any)) *User {
	if cert == nil {
		return nil
	}
	if debug == nil {
		debug = func(string, ...any) {}
	}
	byName := make(map[string]*User, len(users))
	for _, u := range users {
		byName[u.Username] = u
	}
	for _, e := range cert.EmailAddresses {
		if u := byName[e]; u != nil {
			debug("Using email found in cert for auth [%q]", e)
			return u
		}
	}
	for _, d := range cert.DNSNames {
		if u := byName[d]; u != nil {
			debug("Using SAN found in cert for auth [%q]", d)
			return u
		}
	}
	subject := cert.Subject.ToRDNSequence().String()
	if dcs := domainComponents(cert.Subject); dcs != "" {
		full := subject + dcs
		if u := byName[full]; u != nil {
			debug("Using RDNSequence for auth [%q]", full)
			return u
		}
		debug("RDNSequence could not be used for auth [%q]", full)
	} else if dn, err := certDN(cert); err == nil {
		for _, u := range users {
			if udn, err := ParseDN(u.Username); err == nil && dn.Equal(udn) {
				debug("Using DistinguishedNameMatch for auth [%q]", u.Username)
				return u
			}
		}
		debug("DistinguishedNameMatch could not be used for auth [%q]", subject)
	}
	if u := byName[subject]; u != nil {
		debug("Using certificate subject for auth [%q]", subject)
		return u
	}
	debug("User in cert [%q], not found", subject)
	return nil
}

var oidDomainComponent = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}

// domainComponents is ",DC=a,DC=b" for the subject's DC attributes in
// certificate order, "" when it has none.
func domainComponents(n pkix.Name) string {
	var b strings.Builder
	for _, atv := range n.Names {
		if atv.Type.Equal(oidDomainComponent) {
			b.WriteString(",DC=" + escapeDNValue(fmt.Sprint(atv.Value)))
		}
	}
	return b.String()
}

// DN is a distinguished name: RDNs, each a set of attribute type and value.
type DN []RDN

// RDN is one relative distinguished name (several attributes joined by '+').
type RDN []DNAttr

// DNAttr is one attribute: its type as a dotted OID and its string value.
type DNAttr struct {
	Type  string
	Value string
}

// dnTypeOIDs maps the attribute names of RFC 4514, and those Go prints, to
// OIDs, so that "cn" and "2.5.4.3" name the same attribute.
var dnTypeOIDs = map[string]string{
	"CN": "2.5.4.3", "SERIALNUMBER": "2.5.4.5", "C": "2.5.4.6", "L": "2.5.4.7",
	"ST": "2.5.4.8", "STREET": "2.5.4.9", "O": "2.5.4.10", "OU": "2.5.4.11",
	"POSTALCODE": "2.5.4.17", "DC": "0.9.2342.19200300.100.1.25",
	"UID": "0.9.2342.19200300.100.1.1", "EMAILADDRESS": "1.2.840.113549.1.9.1",
	"E": "1.2.840.113549.1.9.1",
}

// certDN is the certificate's subject as written, multi-valued RDNs kept.
func certDN(cert *x509.Certificate) (DN, error) {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil || len(rest) > 0 {
		return nil, errors.New("malformed subject")
	}
	dn := make(DN, 0, len(seq))
	for _, set := range seq {
		rdn := make(RDN, 0, len(set))
		for _, atv := range set {
			rdn = append(rdn, DNAttr{Type: atv.Type.String(), Value: fmt.Sprint(atv.Value)})
		}
		dn = append(dn, rdn)
	}
	return dn, nil
}

// Equal reports whether two names hold the same RDNs, in any order, each
// with the same attributes in any order. Types compare by OID, values
// exactly, as observed of the reference.
func (d DN) Equal(o DN) bool {
	if len(d) != len(o) {
		return false
	}
	used := make([]bool, len(o))
outer:
	for _, r := range d {
		for i, q := range o {
			if !used[i] && r.equal(q) {
				used[i] = true
				continue outer
			}
		}
		return false
	}
	return true
}

func (r RDN) equal(q RDN) bool {
	if len(r) != len(q) {
		return false
	}
	used := make([]bool, len(q))
outer:
	for _, a := range r {
		for i, b := range q {
			if !used[i] && a == b {
				used[i] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// ParseDN reads a distinguished name in the string form of RFC 4514 (RFC
// 2253): "CN=alice,OU=eng+O=Acme,C=US". RDNs are separated by ',' (or ';'),
// attributes within one by '+'; values may escape specials with '\' or hex
// pairs, and "#hex" gives the BER encoding of a string. Types are names of
// dnTypeOIDs in any case, or dotted OIDs.
func ParseDN(s string) (DN, error) {
	p := dnParser{s: s}
	var dn DN
	var rdn RDN
	for {
		p.skipSpace()
		typ, err := p.attrType()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.consume('=') {
			return nil, fmt.Errorf("DN %q: expected '=' at offset %d", s, p.i)
		}
		val, err := p.attrValue()
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, DNAttr{Type: typ, Value: val})
		p.skipSpace()
		switch {
		case p.done():
			return append(dn, rdn), nil
		case p.consume('+'):
		case p.consume(',') || p.consume(';'):
			dn, rdn = append(dn, rdn), nil
		default:
			return nil, fmt.Errorf("DN %q: unexpected %q at offset %d", s, p.s[p.i], p.i)
		}
	}
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) done() bool { return p.i >= len(p.s) }

func (p *dnParser) skipSpace() {
	for !p.done() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *dnParser) consume(b byte) bool {
	if !p.done() && p.s[p.i] == b {
		p.i++
		return true
	}
	return false
}

func (p *dnParser) attrType() (string, error) {
	start := p.i
	for !p.done() && p.s[p.i] != '=' && p.s[p.i] != ' ' {
		p.i++
	}
	t := p.s[start:p.i]
	if t == "" {
		return "", fmt.Errorf("DN %q: empty attribute type at offset %d", p.s, start)
	}
	if oid, ok := dnTypeOIDs[strings.ToUpper(t)]; ok {
		return oid, nil
	}
	t = strings.TrimPrefix(strings.TrimPrefix(t, "OID."), "oid.")
	if !isDottedOID(t) {
		return "", fmt.Errorf("DN %q: unknown attribute type %q", p.s, t)
	}
	return t, nil
}

func isDottedOID(s string) bool {
	dots, digits := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if digits == 0 {
				return false
			}
			dots, digits = dots+1, 0
		case c >= '0' && c <= '9':
			digits++
		default:
			return false
		}
	}
	return dots > 0 && digits > 0
}

// attrValue reads a value up to an unescaped ',', ';' or '+', dropping
// unescaped trailing spaces.
func (p *dnParser) attrValue() (string, error) {
	p.skipSpace()
	if p.consume('#') {
		return p.berValue()
	}
	var b []byte
	keep := 0 // length of b up to its last escaped or non-space byte
	for !p.done() {
		c := p.s[p.i]
		switch c {
		case ',', ';', '+':
			return string(b[:keep]), nil
		case '\\':
			p.i++
			if p.done() {
				return "", fmt.Errorf("DN %q: dangling escape", p.s)
			}
			if h, ok := p.hexPair(); ok {
				b = append(b, h)
			} else {
				b = append(b, p.s[p.i])
				p.i++
			}
			keep = len(b)
			continue
		}
		b = append(b, c)
		if c != ' ' {
			keep = len(b)
		}
		p.i++
	}
	return string(b[:keep]), nil
}

// hexPair consumes two hex digits after a backslash.
func (p *dnParser) hexPair() (byte, bool) {
	if p.i+2 > len(p.s) {
		return 0, false
	}
	v, err := hex.DecodeString(p.s[p.i : p.i+2])
	if err != nil {
		return 0, false
	}
	p.i += 2
	return v[0], true
}

// berValue reads "#hex": a BER-encoded string value.
func (p *dnParser) berValue() (string, error) {
	start := p.i
	for !p.done() && p.s[p.i] != ',' && p.s[p.i] != ';' && p.s[p.i] != '+' && p.s[p.i] != ' ' {
		p.i++
	}
	der, err := hex.DecodeString(p.s[start:p.i])
	if err != nil {
		return "", fmt.Errorf("DN %q: bad hex value: %v", p.s, err)
	}
	var v any
	if rest, err := asn1.Unmarshal(der, &v); err != nil || len(rest) > 0 {
		return "", fmt.Errorf("DN %q: value is not BER", p.s)
	}
	return fmt.Sprint(v), nil
}

// escapeDNValue escapes a value as RFC 2253 does for output.
func escapeDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		special := strings.IndexByte(",+\"\\<>;", c) >= 0 ||
			(i == 0 && (c == ' ' || c == '#')) || (i == len(v)-1 && c == ' ')
		if special {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
