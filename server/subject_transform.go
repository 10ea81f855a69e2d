package server

import (
	"fmt"
	"strconv"
	"strings"
)

// A subject transform rewrites subjects that match a source pattern into a
// destination template, as account mappings and imports do. Destination
// tokens are literals or one of:
//
//	$N, {{wildcard(N)}}            the token matched by the source's N-th '*'
//	{{partition(n, N...)}}          FNV-1a 32 hash of those tokens, mod n
//	{{split(N, sep)}}               the token split on sep (empty parts dropped)
//	{{splitfromleft(N, p)}}         split in two, p characters from the left
//	{{splitfromright(N, p)}}        split in two, p characters from the right
//	{{slicefromleft(N, s)}}         cut into s-character slices from the left
//	{{slicefromright(N, s)}}        cut into s-character slices from the right
//	{{left(N, n)}}, {{right(N, n)}} the first or last n characters
//	>                               the tokens matched by the source's '>'
//
// Function names are case-insensitive. The behaviour of each, including the
// partition hash, was checked against the reference server.
type subjectTransform struct {
	src    string
	wcTok  []int // token index in the source of each '*', in order
	fwc    bool  // source ends in '>'
	nsrc   int   // number of source tokens (before '>')
	dst    []xformTok
	dstFwc bool
}

type xformKind uint8

const (
	xLiteral xformKind = iota
	xWildcard
	xPartition
	xSplit
	xSplitLeft
	xSplitRight
	xSliceLeft
	xSliceRight
	xLeft
	xRight
	xFwc
)

type xformTok struct {
	kind xformKind
	lit  string
	args []int // wildcard numbers, 1-based
	n    int   // partitions, position or size
	sep  string
}

var xformFuncs = map[string]xformKind{
	"wildcard": xWildcard, "partition": xPartition, "split": xSplit,
	"splitfromleft": xSplitLeft, "splitfromright": xSplitRight,
	"slicefromleft": xSliceLeft, "slicefromright": xSliceRight,
	"left": xLeft, "right": xRight,
}

// newSubjectTransform compiles a source pattern and destination template.
func newSubjectTransform(src, dst string) (*subjectTransform, error) {
	if !IsValidSubject(src) {
		return nil, fmt.Errorf("invalid mapping source subject %q", src)
	}
	t := &subjectTransform{src: src}
	toks := strings.Split(src, ".")
	for i, tok := range toks {
		switch tok {
		case "*":
			t.wcTok = append(t.wcTok, i)
		case ">":
			t.fwc = true
		}
	}
	t.nsrc = len(toks)
	if t.fwc {
		t.nsrc--
	}
	for _, raw := range splitTemplate(dst) {
		tok, err := t.parseDstToken(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid mapping destination %q: %v", dst, err)
		}
		if tok.kind == xFwc {
			if !t.fwc {
				return nil, fmt.Errorf("invalid mapping destination %q: '>' needs a '>' in the source %q", dst, src)
			}
			t.dstFwc = true
		}
		t.dst = append(t.dst, tok)
	}
	if len(t.dst) == 0 {
		return nil, fmt.Errorf("invalid mapping destination %q", dst)
	}
	return t, nil
}

// splitTemplate splits a destination on dots outside {{ }}.
func splitTemplate(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			depth++
			i++
		case strings.HasPrefix(s[i:], "}}") && depth > 0:
			depth--
			i++
		case s[i] == '.' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (t *subjectTransform) parseDstToken(raw string) (xformTok, error) {
	switch {
	case raw == "":
		return xformTok{}, fmt.Errorf("empty token")
	case raw == ">":
		return xformTok{kind: xFwc}, nil
	case raw[0] == '$' && len(raw) > 1 && raw[1] >= '0' && raw[1] <= '9':
		// "$JS" and the like are literals (service imports of $JS.API.>).
		n, err := strconv.Atoi(raw[1:])
		if err != nil {
			return xformTok{}, fmt.Errorf("bad wildcard reference %q", raw)
		}
		return t.checkArgs(xformTok{kind: xWildcard, args: []int{n}})
	case strings.HasPrefix(raw, "{{") && strings.HasSuffix(raw, "}}"):
		return t.parseFunc(strings.TrimSpace(raw[2 : len(raw)-2]))
	case strings.ContainsAny(raw, "{}*"):
		return xformTok{}, fmt.Errorf("bad token %q", raw)
	}
	return xformTok{kind: xLiteral, lit: raw}, nil
}

func (t *subjectTransform) parseFunc(f string) (xformTok, error) {
	open := strings.IndexByte(f, '(')
	if open < 0 || !strings.HasSuffix(f, ")") {
		return xformTok{}, fmt.Errorf("bad function %q", f)
	}
	kind, ok := xformFuncs[strings.ToLower(strings.TrimSpace(f[:open]))]
	if !ok {
		return xformTok{}, fmt.Errorf("unknown function %q", strings.TrimSpace(f[:open]))
	}
	var args []string
	for _, a := range strings.Split(f[open+1:len(f)-1], ",") {
		args = append(args, strings.TrimSpace(a))
	}
	num := func(i int) (int, error) {
		if i >= len(args) {
			return 0, fmt.Errorf("%q needs more arguments", f)
		}
		n, err := strconv.Atoi(args[i])
		if err != nil {
			return 0, fmt.Errorf("%q: %q is not a number", f, args[i])
		}
		return n, nil
	}
	tok := xformTok{kind: kind}
	switch kind {
	case xWildcard:
		n, err := num(0)
		if err != nil || len(args) != 1 {
			return tok, fmt.Errorf("wildcard takes one index: %q", f)
		}
		tok.args = []int{n}
	case xPartition:
		n, err := num(0)
		if err != nil || n <= 0 || len(args) < 2 {
			return tok, fmt.Errorf("partition takes a count and at least one index: %q", f)
		}
		tok.n = n
		for i := 1; i < len(args); i++ {
			w, err := num(i)
			if err != nil {
				return tok, err
			}
			tok.args = append(tok.args, w)
		}
	case xSplit:
		w, err := num(0)
		if err != nil || len(args) != 2 || args[1] == "" {
			return tok, fmt.Errorf("split takes an index and a separator: %q", f)
		}
		tok.args, tok.sep = []int{w}, args[1]
	default:
		w, err := num(0)
		if err != nil {
			return tok, err
		}
		n, err := num(1)
		if err != nil || len(args) != 2 || n <= 0 {
			return tok, fmt.Errorf("%q takes an index and a positive number", f)
		}
		tok.args, tok.n = []int{w}, n
	}
	return t.checkArgs(tok)
}

func (t *subjectTransform) checkArgs(tok xformTok) (xformTok, error) {
	for _, a := range tok.args {
		if a < 1 || a > len(t.wcTok) {
			return tok, fmt.Errorf("wildcard index %d out of range: the source %q has %d '*'", a, t.src, len(t.wcTok))
		}
	}
	return tok, nil
}

// matches reports whether subject is one this transform applies to.
func (t *subjectTransform) matches(subject string) bool {
	return SubjectMatchesFilter(subject, t.src)
}

// apply appends the transformed subject to buf. The subject must match.
func (t *subjectTransform) apply(buf []byte, subject string) []byte {
	var stack [16]string
	toks := stack[:0]
	start := 0
	for i := 0; i <= len(subject); i++ {
		if i == len(subject) || subject[i] == tsep {
			toks = append(toks, subject[start:i])
			start = i + 1
		}
	}
	wc := func(n int) string { return toks[t.wcTok[n-1]] }
	for i, d := range t.dst {
		if i > 0 {
			buf = append(buf, tsep)
		}
		switch d.kind {
		case xLiteral:
			buf = append(buf, d.lit...)
		case xWildcard:
			buf = append(buf, wc(d.args[0])...)
		case xFwc:
			buf = appendJoined(buf, toks[t.nsrc:])
		case xPartition:
			h := uint32(2166136261)
			for _, a := range d.args {
				s := wc(a)
				for j := 0; j < len(s); j++ {
					h ^= uint32(s[j])
					h *= 16777619
				}
			}
			buf = strconv.AppendUint(buf, uint64(h%uint32(d.n)), 10)
		case xSplit:
			buf = appendSplit(buf, wc(d.args[0]), d.sep)
		case xSplitLeft:
			buf = appendCut(buf, wc(d.args[0]), d.n)
		case xSplitRight:
			s := wc(d.args[0])
			buf = appendCut(buf, s, len(s)-d.n)
		case xSliceLeft:
			buf = appendSlices(buf, wc(d.args[0]), d.n, false)
		case xSliceRight:
			buf = appendSlices(buf, wc(d.args[0]), d.n, true)
		case xLeft:
			s := wc(d.args[0])
			buf = append(buf, s[:min(d.n, len(s))]...)
		case xRight:
			s := wc(d.args[0])
			buf = append(buf, s[len(s)-min(d.n, len(s)):]...)
		}
	}
	return buf
}

func appendJoined(buf []byte, toks []string) []byte {
	for i, s := range toks {
		if i > 0 {
			buf = append(buf, tsep)
		}
		buf = append(buf, s...)
	}
	return buf
}

// appendSplit writes s split on sep, dropping empty parts.
func appendSplit(buf []byte, s, sep string) []byte {
	first := true
	for _, part := range strings.Split(s, sep) {
		if part == "" {
			continue
		}
		if !first {
			buf = append(buf, tsep)
		}
		buf = append(buf, part...)
		first = false
	}
	if first {
		buf = append(buf, s...)
	}
	return buf
}

// appendCut writes s split in two at p, or whole when p is outside it.
func appendCut(buf []byte, s string, p int) []byte {
	if p <= 0 || p >= len(s) {
		return append(buf, s...)
	}
	buf = append(buf, s[:p]...)
	buf = append(buf, tsep)
	return append(buf, s[p:]...)
}

// appendSlices writes s in size-character slices, aligned to the left or
// to the right end.
func appendSlices(buf []byte, s string, size int, fromRight bool) []byte {
	if len(s) <= size {
		return append(buf, s...)
	}
	first := size
	if fromRight {
		if r := len(s) % size; r != 0 {
			first = r
		}
	}
	buf = append(buf, s[:first]...)
	for i := first; i < len(s); i += size {
		buf = append(buf, tsep)
		buf = append(buf, s[i:min(i+size, len(s))]...)
	}
	return buf
}
