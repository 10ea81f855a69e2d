package server

import (
	"crypto/tls"
	"strings"
)

// TLSHelp is the --help_tls text: the tls block's shape and the cipher
// suites and curves this build of Go can use.
func TLSHelp() string {
	var b strings.Builder
	b.WriteString(`
TLS configuration is specified in the tls section of a configuration file:

e.g.

    tls {
        cert_file:      "./certs/server-cert.pem"
        key_file:       "./certs/server-key.pem"
        ca_file:        "./certs/ca.pem"
        verify:         true
        verify_and_map: true

        cipher_suites: [
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]
        curve_preferences: [
            "CurveP256",
            "CurveP384",
            "CurveP521"
        ]
    }

Available cipher suites include:
`)
	for _, cs := range tls.CipherSuites() {
		b.WriteString("    " + cs.Name + "\n")
	}
	for _, cs := range tls.InsecureCipherSuites() {
		b.WriteString("    " + cs.Name + "\n")
	}
	b.WriteString("\nAvailable curve preferences include:\n")
	for _, c := range []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.CurveP521, tls.X25519, tls.X25519MLKEM768} {
		b.WriteString("    " + c.String() + "\n")
	}
	return b.String()
}
