package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

// lastSelfSignedKey is the key of the last selfSigned certificate.
var lastSelfSignedKey *ecdsa.PrivateKey

// selfSigned makes a certificate with the given template fields; mapping
// reads only the subject and SANs, so no CA is needed.
func selfSigned(t testing.TB, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lastSelfSignedKey = key
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

var (
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
)

func rawSubject(t testing.TB, seq pkix.RDNSequence) []byte {
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mapTo returns the user name a certificate maps to among names, "" if none,
// and the narration of the attempts.
func mapTo(cert *x509.Certificate, names ...string) (string, string) {
	users := make([]*User, len(names))
	for i, n := range names {
		users[i] = &User{Username: n}
	}
	var log strings.Builder
	u := findCertUser(cert, users, func(f string, a ...any) {
		log.WriteString(strings.TrimSpace(fmt.Sprintf(f, a...)) + "\n")
	})
	if u == nil {
		return "", log.String()
	}
	return u.Username, log.String()
}

// These expectations were observed of the reference v2.15.2 with the same
// certificates.
func TestCertMappingOrderAndForms(t *testing.T) {
	alice := selfSigned(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"nats.io"},
			Organization: []string{"Synadia"}, Province: []string{"CA"}, Country: []string{"US"}},
		EmailAddresses: []string{"alice@example.com"},
		DNSNames:       []string{"app.example.com"},
	})
	cases := []struct {
		users []string
		want  string
		log   string
	}{
		{[]string{"app.example.com", "alice@example.com"}, "alice@example.com", `Using email found in cert for auth ["alice@example.com"]`},
		{[]string{"app.example.com", "CN=alice,OU=nats.io,O=Synadia,ST=CA,C=US"}, "app.example.com", `Using SAN found in cert for auth ["app.example.com"]`},
		{[]string{"CN=alice,OU=nats.io,O=Synadia,ST=CA,C=US"}, "CN=alice,OU=nats.io,O=Synadia,ST=CA,C=US", "Using DistinguishedNameMatch"},
		{[]string{"C=US,ST=CA,O=Synadia,OU=nats.io,CN=alice"}, "C=US,ST=CA,O=Synadia,OU=nats.io,CN=alice", "Using DistinguishedNameMatch"},
		{[]string{"cn=alice, ou=nats.io, o=Synadia, st=CA, c=US"}, "cn=alice, ou=nats.io, o=Synadia, st=CA, c=US", "Using DistinguishedNameMatch"},
		{[]string{"O=Synadia,CN=alice,OU=nats.io,ST=CA,C=US"}, "O=Synadia,CN=alice,OU=nats.io,ST=CA,C=US", "Using DistinguishedNameMatch"},
		{[]string{"CN=ALICE,OU=nats.io,O=Synadia,ST=CA,C=US"}, "", `User in cert ["CN=alice,OU=nats.io,O=Synadia,ST=CA,C=US"], not found`},
		{[]string{"CN=alice,OU=nats.io"}, "", "DistinguishedNameMatch could not be used"},
	}
	for _, tc := range cases {
		got, log := mapTo(alice, tc.users...)
		if got != tc.want || !strings.Contains(log, tc.log) {
			t.Errorf("users %q: mapped to %q with log %q; want %q with %q", tc.users, got, log, tc.want, tc.log)
		}
	}
}

func TestCertMappingMultiValuedRDN(t *testing.T) {
	carol := selfSigned(t, &x509.Certificate{RawSubject: rawSubject(t, pkix.RDNSequence{
		{{Type: oidC, Value: "US"}},
		{{Type: oidO, Value: "Org"}, {Type: oidOU, Value: "Unit"}},
		{{Type: oidCN, Value: "carol"}},
	})})
	for _, u := range []string{"C=US,O=Org+OU=Unit,CN=carol", "CN=carol,OU=Unit+O=Org,C=US"} {
		if got, log := mapTo(carol, u); got != u || !strings.Contains(log, "Using DistinguishedNameMatch") {
			t.Errorf("%q: got %q, log %q", u, got, log)
		}
	}
	// Go's own string splits the RDN; it matches as the plain subject.
	if got, log := mapTo(carol, "CN=carol,OU=Unit,O=Org,C=US"); got == "" || !strings.Contains(log, "Using certificate subject for auth") {
		t.Errorf("subject string: got %q, log %q", got, log)
	}
	if got, _ := mapTo(carol, "CN=carol,O=Org,OU=Unit,C=US"); got != "" {
		t.Errorf("split RDN in another order mapped to %q", got)
	}
}

func TestCertMappingDomainComponents(t *testing.T) {
	dc := selfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bob, jr", Organization: []string{"Acme+Co"},
		ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidDomainComponent, Value: "example"}, {Type: oidDomainComponent, Value: "com"}}}})
	full := `CN=bob\, jr,O=Acme\+Co,DC=example,DC=com`
	if got, log := mapTo(dc, full); got != full || !strings.Contains(log, "Using RDNSequence for auth") {
		t.Errorf("DC form: got %q, log %q", got, log)
	}
	// With DCs the match is by string: another order does not map.
	if got, log := mapTo(dc, `DC=com,DC=example,O=Acme\+Co,CN=bob\, jr`); got != "" || !strings.Contains(log, "RDNSequence could not be used for auth") {
		t.Errorf("reordered DC form: got %q, log %q", got, log)
	}
	if got, _ := mapTo(dc, `CN=bob\, jr,O=Acme\+Co`); got == "" {
		t.Error("subject without its DCs did not map")
	}
	if got, _ := mapTo(nil, "x"); got != "" {
		t.Error("no certificate mapped")
	}
}

func TestParseDN(t *testing.T) {
	dn, err := ParseDN(` CN = a\,b\+c , OU=x+O=y;C=U\53, 2.5.4.5=42,UID=#0c026964 `)
	if err != nil {
		t.Fatal(err)
	}
	want := DN{
		{{"2.5.4.3", "a,b+c"}},
		{{"2.5.4.11", "x"}, {"2.5.4.10", "y"}},
		{{"2.5.4.6", "US"}},
		{{"2.5.4.5", "42"}},
		{{"0.9.2342.19200300.100.1.1", "id"}},
	}
	if !dn.Equal(want) || len(dn) != len(want) {
		t.Fatalf("got %q", dn)
	}
	for _, bad := range []string{"", "CN", "=x", "CN=a,", "CN=a\\", "XX=1", "1.=2", "UID=#zz", "CN=a,,O=b", "CN=a+"} {
		if _, err := ParseDN(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseDN: any input parses or fails cleanly, and a parsed name equals
// itself reparsed from its own rendering.
func FuzzParseDN(f *testing.F) {
	for _, s := range []string{"CN=alice,OU=nats.io,O=Synadia,ST=CA,C=US", `CN=a\,b+OU=c;C=\55S`,
		"UID=#0c026964", "cn = x , o = y", `CN=\#carol=`, "2.5.4.3=x+2.5.4.3=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dn, err := ParseDN(s)
		if err != nil {
			return
		}
		if !dn.Equal(dn) {
			t.Fatalf("%q not equal to itself", s)
		}
		var parts []string
		for _, rdn := range dn {
			var attrs []string
			for _, a := range rdn {
				attrs = append(attrs, a.Type+"="+escapeDNValue(a.Value))
			}
			parts = append(parts, strings.Join(attrs, "+"))
		}
		again, err := ParseDN(strings.Join(parts, ","))
		if err != nil || !again.Equal(dn) {
			t.Fatalf("%q rendered as %q reparsed to %q, %v", s, strings.Join(parts, ","), again, err)
		}
	})
}
