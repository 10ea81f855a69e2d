package server

import "testing"

// Every catalogue identifier mirrors and sources raise is in the catalogue.
func TestSourceErrorIdentifiers(t *testing.T) {
	for _, id := range []string{jsMirrorInvalidStreamName, jsMirrorMultipleFilters, jsMirrorInvalidSubjectFilter,
		jsMirrorInvalidTransformDest, jsMirrorOverlappingFilters, jsMirrorWithSubjects, jsMirrorWithSources,
		jsMirrorWithFirstSeq, jsMirrorMaxMsgSize, jsMirrorNotUpdatable, jsSourceInvalidStreamName,
		jsSourceMultipleFilters, jsSourceInvalidSubjectFilter, jsSourceInvalidTransformDest,
		jsSourceOverlappingFilters, jsSourceDuplicateDetected, jsSourceMaxMsgSize, jsStreamExternalAPIOverlap,
		jsStreamExternalDelWildcards, jsMirrorWithAtomic, jsMirrorWithCounters, jsMirrorWithBatched,
		jsMirrorWithSchedules, jsSourceWithSchedules} {
		if !JSErrorKnown(id) {
			t.Errorf("%s is not in the catalogue", id)
		}
	}
}

// FuzzSourceConfig validates arbitrary mirror and source configs: never a
// panic, and every accepted filter and transform compiles and applies to
// a subject it matches.
func FuzzSourceConfig(f *testing.F) {
	for _, s := range []string{`{"name":"S","mirror":{"name":"O","filter_subject":"a.*"}}`,
		`{"name":"S","sources":[{"name":"O","subject_transforms":[{"src":"a.*.>","dest":"x.$1.>"}]}]}`,
		`{"name":"S","sources":[{"name":"O","subject_transforms":[{"src":"a.*","dest":"{{partition(3,1)}}.x"}]},{"name":"P","external":{"api":"$JS.X.API","deliver":"d"}}]}`,
		`{"name":"S","mirror":{"name":"O","subject_transforms":[{"src":"","dest":""}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cfg, e := decodeStreamConfig(body, "S", nil, streamConfigLimits{strict: true})
		if e != nil {
			return
		}
		for _, src := range cfg.originsOf() {
			for _, x := range sourceXforms(src) {
				subj := sampleSubject(x.filter)
				if !SubjectMatchesFilter(subj, x.filter) {
					t.Fatalf("sample %q does not match %q", subj, x.filter)
				}
				if x.t != nil {
					_ = x.t.apply(nil, subj)
				} else if x.dest != ">" {
					t.Fatalf("accepted destination %q does not compile for %q", x.dest, x.filter)
				}
			}
		}
	})
}

// sampleSubject is a literal subject matching filter.
func sampleSubject(filter string) string {
	out := []byte{}
	for i, tok := range splitTemplate(filter) {
		if i > 0 {
			out = append(out, '.')
		}
		switch tok {
		case "*":
			out = append(out, "w"...)
		case ">":
			out = append(out, "f.g"...)
		default:
			out = append(out, tok...)
		}
	}
	return string(out)
}
