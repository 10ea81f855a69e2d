package server

import (
	"errors"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
)

// An account JWT's imports are wired as config-file imports are, with
// internal subscriptions; exports are read from the exporter's claims
// whenever an import is checked. An export that requires a token accepts
// an import only with an activation JWT issued by the exporter (or one of
// its signing keys) to the importer, unexpired and not revoked. When an
// account's claims change, its imports and those of every account
// importing from it are wired again.

// wireJWTImports replaces the account's imports by those of its claims.
// An import that cannot be wired is logged and left out, as the reference
// marks it invalid.
func (s *Server) wireJWTImports(acc *Account, ac *jwt.AccountClaims) {
	s.removeImportsOf(acc)
	for _, im := range ac.Imports {
		if err := s.addJWTImport(acc, im); err != nil {
			s.Debugf("Account %s: %s import of %q from %s not wired: %v", acc.Name, im.Type, im.Subject, im.Account, err)
		}
	}
}

// rewireImporters wires again the imports of the registered accounts that
// import from exporter, whose exports or revocations may have changed.
func (s *Server) rewireImporters(exporter *Account) {
	s.accounts.Range(func(_, v any) bool {
		acc := v.(*Account)
		st := acc.jwtClaims.Load()
		if acc == exporter || st == nil {
			return true
		}
		for _, im := range st.claims.Imports {
			if im.Account == exporter.Name {
				s.wireJWTImports(acc, st.claims)
				break
			}
		}
		return true
	})
}

// removeImportsOf unsubscribes the internal subscriptions carrying acc's
// imports, wherever they live (stream imports in the exporter).
func (s *Server) removeImportsOf(acc *Account) {
	s.accounts.Range(func(_, v any) bool {
		a := v.(*Account)
		a.mu.Lock()
		ic := a.ic
		a.mu.Unlock()
		if ic == nil {
			return true
		}
		var subs []*subscription
		ic.mu.Lock()
		for _, sub := range ic.subs {
			if sub.imp != nil && !sub.imp.response && sub.imp.importer == acc {
				subs = append(subs, sub)
			}
		}
		ic.mu.Unlock()
		for _, sub := range subs {
			ic.unsubscribeAfterMax(sub)
			if !sub.imp.service {
				acc.deliverSubs.removeImport(sub.imp)
			}
		}
		return true
	})
}

// addJWTImport checks one import against the exporter's claims and wires it.
func (s *Server) addJWTImport(acc *Account, im *jwt.Import) error {
	from, st, err := s.lookupJWTAccount(im.Account)
	if err != nil {
		return err
	}
	if st == nil || from == acc {
		return errors.New("exporter has no claims")
	}
	ex := findJWTExport(st.claims, im)
	if ex == nil {
		return errors.New("not exported")
	}
	if ex.TokenReq {
		expires, err := checkActivation(acc, from, st.claims, im, ex)
		if err != nil {
			return err
		}
		if !expires.IsZero() {
			// The import goes when its activation does: wired again then,
			// the expired token is refused.
			time.AfterFunc(time.Until(expires), func() {
				if cur := acc.jwtClaims.Load(); cur != nil {
					s.wireJWTImports(acc, cur.claims)
				}
			})
		}
	}
	opts := &ImportOpts{Account: from.Name, To: string(im.LocalSubject), AllowTrace: im.AllowTrace}
	if im.IsStream() {
		opts.Stream = string(im.Subject)
		return s.addStreamImport(acc, from, opts)
	}
	opts.Service = string(im.Subject)
	se := &serviceExport{subject: string(ex.Subject), respType: strings.ToLower(string(ex.ResponseType)),
		threshold: ex.ResponseThreshold, allowTrace: ex.AllowTrace}
	if se.respType == "" {
		se.respType = "singleton"
	}
	if se.threshold <= 0 {
		se.threshold = DEFAULT_RESPONSE_THRESHOLD
	}
	return s.addServiceImport(acc, from, opts, se)
}

// findJWTExport returns the export of the claims that covers the import.
func findJWTExport(ac *jwt.AccountClaims, im *jwt.Import) *jwt.Export {
	for _, ex := range ac.Exports {
		if ex.Type == im.Type && subjectIsSubsetOf(string(im.Subject), string(ex.Subject)) {
			return ex
		}
	}
	return nil
}

// checkActivation verifies the activation token of an import of an export
// that requires one, and returns when it expires (zero: never).
func checkActivation(acc, from *Account, exporter *jwt.AccountClaims, im *jwt.Import, ex *jwt.Export) (time.Time, error) {
	if im.Token == "" {
		return time.Time{}, errors.New("activation token required")
	}
	act, err := jwt.DecodeActivationClaims(im.Token)
	if err != nil {
		return time.Time{}, err
	}
	vr := jwt.CreateValidationResults()
	act.Validate(vr)
	switch {
	case vr.IsBlocking(true):
		err = errors.New("activation token not valid")
	case act.Subject != acc.Name && act.Subject != "public":
		err = errors.New("activation token issued to another account")
	case act.Issuer != from.Name && !(act.IssuerAccount == from.Name && exporter.SigningKeys.Contains(act.Issuer)):
		err = errors.New("activation token not issued by the exporter")
	case !subjectIsSubsetOf(string(im.Subject), string(act.ImportSubject)):
		err = errors.New("activation token does not cover the subject")
	case ex.IsClaimRevoked(act):
		err = errors.New("activation token revoked")
	}
	if err != nil || act.Expires == 0 {
		return time.Time{}, err
	}
	return time.Unix(act.Expires, 0), nil
}
