package server

// Subjects are dot-separated tokens. A token of exactly "*" matches any one
// token; a final token of exactly ">" matches one or more tokens. These helpers
// work on strings and byte slices without allocating, because the publish path
// and the stores call them per message.

const (
	tsep   = '.'
	pwc    = '*'
	fwc    = '>'
	fwcStr = ">"
)

// IsValidSubject reports whether s is a valid subscription subject: non-empty
// tokens, no whitespace, and wildcards only as whole tokens with ">" last.
func IsValidSubject(s string) bool {
	return validSubject(s, true)
}

// IsValidPublishSubject reports whether s is a valid subject to publish to:
// a valid subject without wildcards.
func IsValidPublishSubject(s string) bool {
	return validSubject(s, false)
}

// IsValidLiteralSubject is an alias of IsValidPublishSubject, named as the
// reference's helper that users of the embedding API know.
func IsValidLiteralSubject(s string) bool { return validSubject(s, false) }

func validSubject(s string, wildcards bool) bool {
	if len(s) == 0 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0 {
				return false
			}
			if c != tsep {
				continue
			}
		}
		tok := s[start:i]
		if len(tok) == 0 {
			return false
		}
		if len(tok) > 1 {
			start = i + 1
			continue
		}
		switch tok[0] {
		case pwc:
			if !wildcards {
				return false
			}
		case fwc:
			if !wildcards || i != len(s) {
				return false
			}
		}
		start = i + 1
	}
	return true
}

// subjectHasWildcard reports whether s contains a "*" or ">" token.
func subjectHasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != pwc && c != fwc {
			continue
		}
		if (i == 0 || s[i-1] == tsep) && (i+1 == len(s) || s[i+1] == tsep) {
			return true
		}
	}
	return false
}

// SubjectIsLiteral reports whether s has no wildcard tokens.
func SubjectIsLiteral(s string) bool { return !subjectHasWildcard(s) }

// SubjectMatchesFilter reports whether the literal subject matches filter,
// which may contain wildcards. An empty filter or ">" matches everything.
func SubjectMatchesFilter(subject, filter string) bool {
	if filter == "" || filter == fwcStr {
		return true
	}
	si, fi := 0, 0
	for {
		se := indexByteFrom(subject, tsep, si)
		fe := indexByteFrom(filter, tsep, fi)
		ft := filter[fi:fe]
		if len(ft) == 1 && ft[0] == fwc {
			// Earlier tokens all matched and the subject still has one.
			return true
		}
		st := subject[si:se]
		if !(len(ft) == 1 && ft[0] == pwc) && ft != st {
			return false
		}
		sDone, fDone := se == len(subject), fe == len(filter)
		if sDone || fDone {
			return sDone && fDone
		}
		si, fi = se+1, fe+1
	}
}

// indexByteFrom returns the index of c in s at or after from, or len(s).
func indexByteFrom(s string, c byte, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}

// subjectsCollide reports whether two subjects, either of which may hold
// wildcards, can match a common literal subject.
func subjectsCollide(a, b string) bool {
	ai, bi := 0, 0
	for {
		ae := indexByteFrom(a, tsep, ai)
		be := indexByteFrom(b, tsep, bi)
		at, bt := a[ai:ae], b[bi:be]
		if at == fwcStr || bt == fwcStr {
			return true
		}
		if at != bt && at != "*" && bt != "*" {
			return false
		}
		aDone, bDone := ae == len(a), be == len(b)
		if aDone || bDone {
			return aDone && bDone
		}
		ai, bi = ae+1, be+1
	}
}
