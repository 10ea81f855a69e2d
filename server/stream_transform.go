package server

import (
	"fmt"
	"strconv"
	"strings"
)

// A stream's subject_transform rewrites the subject of every message it
// stores (src, "" meaning any subject, to the dest template; an empty
// dest stores subjects unchanged), with the mapping language of
// subject_transform.go. Validation answers in the reference's words
// (err 10155 for the source, 10156 for the destination; observed on
// v2.15.2). The compiled forms (this one and republish's) are kept by the
// ingest goroutine, which alone uses them, and recompiled when the config
// they came from changes.

// SubjectTransformConfig is a stream's subject_transform.
type SubjectTransformConfig struct {
	Source      string `json:"src"`
	Destination string `json:"dest"`
}

const (
	jsStreamTransformSrc = "JSStreamTransformInvalidSource"
	jsStreamTransformDst = "JSStreamTransformInvalidDestination"
)

func init() {
	jsSnapshotErrorIdentifiers = append(jsSnapshotErrorIdentifiers, jsStreamTransformSrc, jsStreamTransformDst)
}

// streamXforms is what the ingest goroutine compiled from the config.
type streamXforms struct {
	subj    *SubjectTransformConfig
	subjX   *subjectTransform // nil: subjects stored as published
	repub   *RePublish
	repubX  *subjectTransform // nil: no republish
	scratch []byte
}

// checkStreamXforms validates subject_transform and republish.
func checkStreamXforms(c *StreamConfig) *ApiError {
	if tr := c.SubjectTransform; tr != nil && tr.Destination != "" {
		if tr.Source != "" && !IsValidSubject(tr.Source) {
			return jsError(jsStreamTransformSrc, "invalid subject "+tr.Source)
		}
		if msg := transformDestProblem(orAny(tr.Source), tr.Destination); msg != "" {
			return jsError(jsStreamTransformDst, msg)
		}
	}
	return checkRePublish(c)
}

func orAny(src string) string {
	if src == "" {
		return fwcStr
	}
	return src
}

// transformDestProblem says, as the reference does, what is wrong with a
// destination template for src; "" if it compiles.
func transformDestProblem(src, dest string) string {
	toks := splitTemplate(dest)
	dstFwc := false
	for _, tok := range toks {
		if tok == "*" {
			return "invalid subject"
		}
		dstFwc = dstFwc || tok == fwcStr
	}
	if strings.HasSuffix(src, fwcStr) != dstFwc {
		return "invalid subject"
	}
	for _, tok := range toks {
		switch {
		case tok == "":
			return "invalid mapping destination: invalid transform"
		case strings.HasPrefix(tok, "{{") && strings.HasSuffix(tok, "}}"):
			if msg := transformFuncProblem(src, tok); msg != "" {
				return "invalid mapping destination: " + msg
			}
		case tok[0] == '$':
			if n, err := strconv.Atoi(tok[1:]); err == nil && (n < 1 || n > strings.Count(src, "*")) {
				return "invalid mapping destination: wildcard index out of range in " + tok + ": [" + tok[1:] + "]"
			}
		}
	}
	if _, err := newSubjectTransform(src, dest); err != nil {
		return "invalid mapping destination: function argument is invalid or in the wrong format in " + dest
	}
	return ""
}

func transformFuncProblem(src, tok string) string {
	f := strings.TrimSpace(tok[2 : len(tok)-2])
	open := strings.IndexByte(f, '(')
	if open < 0 {
		return "unknown function in " + tok
	}
	if _, ok := xformFuncs[strings.ToLower(strings.TrimSpace(f[:open]))]; !ok {
		return "unknown function in " + tok
	}
	if n := strings.Count(f, ",") + 1; n < transformFuncArgs(f[:open]) {
		return "not enough arguments passed to the function in " + tok
	}
	t := &subjectTransform{src: src}
	for i, s := range strings.Split(src, ".") {
		if s == "*" {
			t.wcTok = append(t.wcTok, i)
		}
	}
	parsed, err := t.parseFunc(f)
	switch {
	case err == nil:
		return ""
	case strings.Contains(err.Error(), "out of range"):
		return "wildcard index out of range in " + tok + ": " + fmt.Sprint(parsed.args)
	}
	return "function argument is invalid or in the wrong format in " + tok
}

// transformFuncArgs is how many arguments a mapping function needs.
func transformFuncArgs(name string) int {
	if strings.ToLower(strings.TrimSpace(name)) == "wildcard" {
		return 1
	}
	return 2
}

// xforms returns the compiled transforms of the current config,
// compiling them when it changed. Ingest goroutine only.
func (st *stream) xforms() *streamXforms {
	st.mu.RLock()
	tr, rp := st.config.SubjectTransform, st.config.RePublish
	st.mu.RUnlock()
	x := st.ingestXforms
	if x != nil && sameTransform(x.subj, tr) && sameRePublish(x.repub, rp) {
		return x
	}
	x = &streamXforms{subj: tr, repub: rp}
	if tr != nil && tr.Destination != "" {
		x.subjX, _ = newSubjectTransform(orAny(tr.Source), tr.Destination)
	}
	if rp != nil && rp.Destination != "" {
		x.repubX, _ = newSubjectTransform(orAny(rp.Source), rp.Destination)
	}
	st.ingestXforms = x
	return x
}

func sameTransform(a, b *SubjectTransformConfig) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

// storedSubject is the subject a message published on subject is stored
// under. Ingest goroutine only; no allocation without a transform.
func (st *stream) storedSubject(subject string) string {
	x := st.xforms()
	if x.subjX == nil || !x.subjX.matches(subject) {
		return subject
	}
	x.scratch = x.subjX.apply(x.scratch[:0], subject)
	return string(x.scratch)
}
