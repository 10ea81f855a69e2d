package server

import (
	"strings"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/natsforge/nats-server/conf"
)

// parseAuthorization reads authorization { ... }.
func parseAuthorization(c *cfg, k string, v *conf.Value) {
	m, ok := c.mapOf(k, v)
	if !ok {
		return
	}
	var perms *Permissions
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "user", "username":
			c.o.Username, _ = c.str(key, e)
		case "pass", "password":
			c.o.Password, _ = c.str(key, e)
		case "token":
			c.o.Authorization, _ = c.str(key, e)
		case "timeout":
			switch x := e.V.(type) {
			case int64:
				c.o.AuthTimeout = float64(x)
			case float64:
				c.o.AuthTimeout = x
			case string:
				if d, err := time.ParseDuration(x); err == nil {
					c.o.AuthTimeout = d.Seconds()
				} else {
					c.errorf(e, "error parsing %s: %v", key, err)
				}
			default:
				c.errorf(e, "field %q: expected a number of seconds, got %s", key, typeName(e.V))
			}
			if c.o.AuthTimeout < 0 {
				c.errorf(e, "invalid authorization timeout of %v, must not be negative", c.o.AuthTimeout)
			}
		case "users":
			c.parseUsers(key, e)
		case "permissions", "permission":
			perms = c.parsePermissions(key, e)
		case "default_permissions":
			c.o.DefaultPermissions = c.parsePermissions(key, e)
		case "auth_callout", "callout":
			c.parseAuthCallout(key, e) // opts_jwt.go
		default:
			c.unknownField(e, key)
		}
	}
	if perms != nil {
		if c.o.Username == "" && c.o.Authorization == "" {
			c.errorf(v, "permissions in authorization need a user or token")
		} else if c.o.Username != "" {
			// A single configured user carries these permissions.
			c.o.Users = append(c.o.Users, &User{Username: c.o.Username, Password: c.o.Password, Permissions: perms})
			c.o.Username, c.o.Password = "", ""
		}
	}
	if c.o.Username != "" && len(c.o.Users) > 0 {
		c.errorf(v, "can not have a single user/pass and a users array")
	}
}

// parseUsers reads users: [ {user, password | nkey, permissions, account} ].
func (c *cfg) parseUsers(k string, v *conf.Value) {
	for _, ce := range c.arrayOfMaps(k, v) {
		e, m := ce.v, ce.m
		u := &User{}
		var nk string
		var perms *Permissions
		var types map[string]struct{}
		for _, key := range sortedKeys(m) {
			f := m[key]
			switch strings.ToLower(key) {
			case "user", "username":
				u.Username, _ = c.str(key, f)
			case "pass", "password":
				u.Password, _ = c.str(key, f)
			case "nkey":
				nk, _ = c.str(key, f)
			case "permissions", "permission":
				perms = c.parsePermissions(key, f)
			case "account":
				u.Account, _ = c.str(key, f)
			case "allowed_connection_types", "connection_types", "clients":
				types = c.connectionTypes(key, f)
			default:
				c.unknownField(f, key)
			}
		}
		switch {
		case nk != "":
			if !nkeys.IsValidPublicUserKey(nk) {
				c.errorf(e, "Not a valid public nkey for a user")
				continue
			}
			if u.Username != "" || u.Password != "" {
				c.errorf(e, "Nkey users do not take usernames or passwords")
				continue
			}
			c.o.Nkeys = append(c.o.Nkeys, &NkeyUser{Nkey: nk, Permissions: perms, Account: u.Account, AllowedConnectionTypes: types})
		case u.Username == "":
			c.errorf(e, "user entry requires a user")
		default:
			u.Permissions, u.AllowedConnectionTypes = perms, types
			c.o.Users = append(c.o.Users, u)
		}
	}
}

// connectionTypes reads allowed_connection_types, case-insensitively;
// unknown names are refused in the reference's words.
func (c *cfg) connectionTypes(k string, v *conf.Value) map[string]struct{} {
	list, ok := c.strList(k, v)
	if !ok {
		return nil
	}
	types := make(map[string]struct{}, len(list))
	var bad []string
	for _, t := range list {
		t = strings.ToUpper(t)
		if !knownConnectionTypes[t] {
			bad = append(bad, t)
		}
		types[t] = struct{}{}
	}
	if len(bad) > 0 {
		c.errorf(v, "invalid connection types %q", bad)
	}
	return types
}

// parsePermissions reads { publish, subscribe, allow_responses }.
func (c *cfg) parsePermissions(k string, v *conf.Value) *Permissions {
	m, ok := c.mapOf(k, v)
	if !ok {
		return nil
	}
	p := &Permissions{}
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "pub", "publish", "import":
			p.Publish = c.parseSubjectPermission(key, e)
		case "sub", "subscribe", "export":
			p.Subscribe = c.parseSubjectPermission(key, e)
		case "allow_responses", "allow_response":
			p.Response = c.parseResponsePermission(key, e)
		default:
			c.unknownField(e, key)
		}
	}
	return p
}

// parseSubjectPermission takes a subject, a list (both meaning allow), or
// { allow, deny }.
func (c *cfg) parseSubjectPermission(k string, v *conf.Value) *SubjectPermission {
	sp := &SubjectPermission{}
	switch x := v.V.(type) {
	case string, []*conf.Value:
		sp.Allow, _ = c.strList(k, v)
	case map[string]*conf.Value:
		for _, key := range sortedKeys(x) {
			e := x[key]
			switch strings.ToLower(key) {
			case "allow":
				sp.Allow, _ = c.strList(key, e)
			case "deny":
				sp.Deny, _ = c.strList(key, e)
			default:
				c.unknownField(e, key)
			}
		}
	default:
		c.errorf(v, "field %q: expected a subject, a list or a map, got %s", k, typeName(v.V))
		return nil
	}
	for _, list := range [][]string{sp.Allow, sp.Deny} {
		for _, s := range list {
			subj, _, _ := strings.Cut(s, " ")
			if !IsValidSubject(subj) {
				c.errorf(v, "invalid subject %q in %s permissions", s, k)
			}
		}
	}
	return sp
}

// parseResponsePermission: true for the defaults, or { max, expires }.
func (c *cfg) parseResponsePermission(k string, v *conf.Value) *ResponsePermission {
	switch x := v.V.(type) {
	case bool:
		if !x {
			return nil
		}
		return &ResponsePermission{MaxMsgs: DEFAULT_ALLOW_RESPONSE_MAX_MSGS, Expires: DEFAULT_ALLOW_RESPONSE_EXPIRATION}
	case map[string]*conf.Value:
		rp := &ResponsePermission{MaxMsgs: DEFAULT_ALLOW_RESPONSE_MAX_MSGS, Expires: DEFAULT_ALLOW_RESPONSE_EXPIRATION}
		for _, key := range sortedKeys(x) {
			e := x[key]
			switch strings.ToLower(key) {
			case "max", "max_msgs", "max_messages", "max_responses":
				if n, ok := c.int64(key, e); ok && c.inBound(e, "allow_responses "+key, n, false, notNegative) {
					rp.MaxMsgs = int(n)
				}
			case "expires", "expiration", "ttl":
				if d, ok := c.duration(key, e); ok && c.inBound(e, "allow_responses "+key, int64(d), true, notNegative) {
					rp.Expires = d
				}
			default:
				c.unknownField(e, key)
			}
		}
		return rp
	}
	c.errorf(v, "field %q: expected true or a map, got %s", k, typeName(v.V))
	return nil
}

// parseTLSBlock reads a tls { } block.
func parseTLSBlock(c *cfg, k string, v *conf.Value) {
	if t := c.parseTLS(k, v); t != nil {
		t.filesDigest = digestTLSFiles(t)
		c.o.TLS = t
	}
}

func (c *cfg) parseTLS(k string, v *conf.Value) *TLSConfigOpts {
	m, ok := c.mapOf(k, v)
	if !ok {
		return nil
	}
	t := &TLSConfigOpts{}
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "cert_file":
			t.CertFile, _ = c.str(key, e)
		case "key_file":
			t.KeyFile, _ = c.str(key, e)
		case "ca_file":
			t.CaFile, _ = c.str(key, e)
		case "verify":
			t.Verify, _ = c.bool(key, e)
		case "verify_and_map":
			t.Map, _ = c.bool(key, e)
			t.Verify = t.Verify || t.Map
		case "verify_cert_and_check_known_urls":
			t.CheckKnownURLs, _ = c.bool(key, e)
			t.Verify = t.Verify || t.CheckKnownURLs
		case "insecure":
			t.Insecure, _ = c.bool(key, e)
		case "cipher_suites":
			t.Ciphers, _ = c.strList(key, e)
			if len(t.Ciphers) == 0 {
				c.errorf(e, "error parsing tls config, 'cipher_suites' cannot be empty")
			}
			for _, name := range t.Ciphers {
				if _, err := parseCipherSuite(name, true); err != nil {
					c.errorf(e, "%v", err)
				}
			}
		case "curve_preferences":
			t.CurvePreferences, _ = c.strList(key, e)
			if len(t.CurvePreferences) == 0 {
				c.errorf(e, "error parsing tls config, 'curve_preferences' cannot be empty")
			}
			for _, name := range t.CurvePreferences {
				if _, err := parseCurve(name); err != nil {
					c.errorf(e, "%v", err)
				}
			}
		case "allow_insecure_cipher_suites":
			t.AllowInsecureCiphers, _ = c.bool(key, e)
		case "pinned_certs":
			t.PinnedCerts, _ = c.strList(key, e)
			if _, err := ParsePinnedCerts(t.PinnedCerts); err != nil {
				c.errorf(e, "error parsing tls config, %v", err)
			}
		case "min_version":
			t.MinVersion, _ = c.str(key, e)
			if _, err := ParseTLSVersion(t.MinVersion); err != nil {
				c.errorf(e, "error parsing tls config: %v", err)
			}
		case "timeout":
			switch x := e.V.(type) {
			case int64:
				t.Timeout = float64(x)
			case float64:
				t.Timeout = x
			case string:
				if d, ok := c.duration(key, e); ok {
					t.Timeout = d.Seconds()
				}
			default:
				c.errorf(e, "field %q: expected seconds, got %s", key, typeName(e.V))
			}
			if t.Timeout < 0 {
				c.errorf(e, "invalid tls timeout of %v, must not be negative", t.Timeout)
			}
		case "handshake_first", "first", "immediate":
			c.parseHandshakeFirst(t, key, e)
		case "cert_store":
			t.CertStore, _ = c.str(key, e)
		case "cert_match":
			t.CertMatch, _ = c.str(key, e)
		case "ocsp_peer":
			// true or a map of settings; either asks for OCSP checks.
			b, isBool := e.V.(bool)
			t.OCSPPeer = !isBool || b
		case "connection_rate_limit":
			if n, ok := c.int64(key, e); ok {
				t.ConnectionRateLim = int(n)
			}
		case "cert_match_by", "cert_match_skip_invalid", "ca_certs_match", "certs":
			// Certificate-store selectors: meaningful only with cert_store,
			// which validateClientTLS refuses.
		default:
			c.errorf(e, "error parsing tls config, unknown field %q", key)
		}
	}
	return t
}

// handshake_first: a boolean, "auto" (a 50 ms fallback to INFO first) or a
// duration, the fallback delay; the reference's wording for bad values.
func (c *cfg) parseHandshakeFirst(t *TLSConfigOpts, k string, v *conf.Value) {
	switch x := v.V.(type) {
	case bool:
		t.HandshakeFirst = x
	case string:
		switch strings.ToLower(x) {
		case "true", "on", "yes":
			t.HandshakeFirst = true
			return
		case "false", "off", "no":
			return
		case "auto", "auto_fallback":
			t.HandshakeFirst, t.FallbackDelay = true, DEFAULT_TLS_HANDSHAKE_FIRST_FALLBACK
			return
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			c.errorf(v, "field %q's value %q is invalid", k, x)
			return
		}
		// A delay of zero or less means no fallback at all.
		t.HandshakeFirst, t.FallbackDelay = true, max(d, 0)
	default:
		c.errorf(v, "field %q should be a boolean or a string, got %s", k, typeName(v.V))
	}
}

// parseJetStream reads jetstream: true|false|"enabled"|"disabled" or a map.
func parseJetStream(c *cfg, k string, v *conf.Value) {
	enable := false
	switch x := v.V.(type) {
	case bool:
		enable = x
	case string:
		switch strings.ToLower(x) {
		case "enabled", "enable":
			enable = true
		case "disabled", "disable":
		default:
			c.errorf(v, "field %q: expected enabled or disabled, got %q", k, x)
		}
	case map[string]*conf.Value:
		enable = c.parseJetStreamMap(x)
	default:
		c.errorf(v, "field %q: expected a boolean or a map, got %s", k, typeName(v.V))
	}
	c.o.JetStream = enable
}

func (c *cfg) parseJetStreamMap(m map[string]*conf.Value) bool {
	enable := true
	for _, key := range sortedKeys(m) {
		e := m[key]
		switch strings.ToLower(key) {
		case "store", "store_dir", "storedir":
			c.o.StoreDir, _ = c.str(key, e)
		case "max_memory_store", "max_mem_store", "max_mem":
			if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, storeLimit) {
				c.o.JetStreamMaxMemory = n
			}
		case "max_file_store", "max_file":
			if n, ok := c.int64(key, e); ok && c.inBound(e, key, n, false, storeLimit) {
				c.o.JetStreamMaxStore = n
			}
		case "domain":
			c.o.JetStreamDomain, _ = c.str(key, e)
		case "enable", "enabled":
			enable, _ = c.bool(key, e)
		case "key", "ek", "encryption_key":
			c.o.JetStreamKey, _ = c.str(key, e)
		case "prev_key", "prev_ek", "prev_encryption_key":
			c.o.JetStreamPrevKey, _ = c.str(key, e)
		case "cipher":
			s, _ := c.str(key, e)
			switch strings.ToLower(s) {
			case "chacha", "chachapoly":
				c.o.JetStreamCipher = "chachapoly"
			case "aes":
				c.o.JetStreamCipher = "aes"
			default:
				c.errorf(e, "Unknown cipher type: %q", s)
			}
		case "sync", "sync_interval":
			if s, ok := e.V.(string); ok && strings.EqualFold(s, "always") {
				c.o.JetStreamSyncAlways = true
				continue
			}
			if d, ok := c.duration(key, e); ok && c.inBound(e, key, int64(d), true, notNegative) {
				c.o.JetStreamSyncInterval = d
			}
		case "encrypt_existing":
			c.o.JetStreamEncryptExisting, _ = c.bool(key, e)
		case "rotate_stream_keys":
			c.o.JetStreamRotateStreamKeys, _ = c.bool(key, e)
		default:
			c.parseJetStreamTuning(key, e) // jetstream_opts.go
		}
	}
	return enable
}
