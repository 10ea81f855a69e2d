package server

import (
	"strings"
	"time"
)

// Mirrors and sources: their configuration, its validation in the
// reference's words, and the Nats-Stream-Source header. The copying itself
// is in stream_source_run.go, the origin seam in stream_origin.go.

// StreamSource is a stream's mirror or one of its sources.
type StreamSource struct {
	Name              string                   `json:"name"`
	OptStartSeq       uint64                   `json:"opt_start_seq,omitempty"`
	OptStartTime      *time.Time               `json:"opt_start_time,omitempty"`
	FilterSubject     string                   `json:"filter_subject,omitempty"`
	SubjectTransforms []SourceSubjectTransform `json:"subject_transforms,omitempty"`
	External          *ExternalStream          `json:"external,omitempty"`
	Consumer          *StreamConsumerSource    `json:"consumer,omitempty"`
}

// SourceSubjectTransform is one filter of a mirror or source with the
// subject its messages are stored under ("" keeps the subject).
type SourceSubjectTransform struct {
	Source      string `json:"src"`
	Destination string `json:"dest"`
}

// ExternalStream names an origin reached through another JetStream API
// prefix (another account or domain) and where its messages are delivered.
type ExternalStream struct {
	APIPrefix     string `json:"api"`
	DeliverPrefix string `json:"deliver"`
}

// StreamConsumerSource is durable sourcing through a push consumer created
// on the origin beforehand, with ack policy flow_control (API level 4): the
// copy takes what the consumer delivers (stream_source_consumer.go).
type StreamConsumerSource struct {
	Name           string `json:"name"`
	DeliverSubject string `json:"deliver_subject"`
}

// StreamSourceInfo is the state of a mirror or source in StreamInfo.
type StreamSourceInfo struct {
	Name              string                   `json:"name"`
	External          *ExternalStream          `json:"external,omitempty"`
	Lag               uint64                   `json:"lag"`
	Seq               uint64                   `json:"seq,omitempty"`
	Active            time.Duration            `json:"active"`
	Error             *ApiError                `json:"error,omitempty"`
	FilterSubject     string                   `json:"filter_subject,omitempty"`
	SubjectTransforms []SourceSubjectTransform `json:"subject_transforms,omitempty"`
}

// isSourcing reports whether the stream is a mirror or has sources: such a
// stream gets no default subject and no default duplicate window.
func (c *StreamConfig) isSourcing() bool { return c.Mirror != nil || len(c.Sources) > 0 }

// sourceErrs are the catalogue entries that differ between a mirror and a
// source for the same mistake.
type sourceErrs struct {
	kind                      string // "mirror" or "source", in texts
	badName, filterAndXforms  string
	badConsumer, consumerAck  string
	badXformSrc, badXformDest string
	overlap                   string
}

var (
	mirrorErrs = sourceErrs{kind: "mirror", badName: jsMirrorInvalidStreamName,
		filterAndXforms: jsMirrorMultipleFilters, badConsumer: jsMirrorConsumerCfgInvalid,
		consumerAck: jsMirrorConsumerNeedsAckFC, badXformSrc: jsMirrorInvalidSubjectFilter,
		badXformDest: jsMirrorInvalidTransformDest, overlap: jsMirrorOverlappingFilters}
	sourceErrsOf = sourceErrs{kind: "source", badName: jsSourceInvalidStreamName,
		filterAndXforms: jsSourceMultipleFilters, badConsumer: jsSourceConsumerCfgInvalid,
		consumerAck: jsSourceConsumerNeedsAckFC, badXformSrc: jsSourceInvalidSubjectFilter,
		badXformDest: jsSourceInvalidTransformDest, overlap: jsSourceOverlappingFilters}
)

// checkSourcingConfig validates the mirror and the sources of a config, in
// the order the reference checks them (observed on v2.15.2).
func checkSourcingConfig(c *StreamConfig) *ApiError {
	if c.Mirror != nil {
		if e := checkMirrorConfig(c); e != nil {
			return e
		}
	}
	if len(c.Sources) > 0 && c.AllowMsgSchedules {
		return jsError(jsSourceWithSchedules)
	}
	seen := make(map[string]bool, len(c.Sources))
	for _, src := range c.Sources {
		if e := checkOneSource(src, sourceErrsOf); e != nil {
			return e
		}
		if src.Name == c.Name && src.External == nil {
			return jsError(jsStreamInvalidConfig, "detected cycle")
		}
		key := sourceKey(src)
		if seen[key] {
			return jsError(jsSourceDuplicateDetected)
		}
		seen[key] = true
	}
	return nil
}

// checkOneSource checks what a mirror and a source have in common.
func checkOneSource(src *StreamSource, errs sourceErrs) *ApiError {
	if streamNameBad(src.Name) || len(src.Name) > jsMaxNameLen {
		return jsError(errs.badName)
	}
	if cs := src.Consumer; cs != nil && (cs.Name == "" || consumerNameBad(cs.Name) ||
		strings.ContainsAny(cs.Name, `\/`) || !IsValidLiteralSubject(cs.DeliverSubject) ||
		src.FilterSubject != "" || src.OptStartSeq > 0 || src.OptStartTime != nil) {
		return jsError(errs.badConsumer)
	}
	if e := checkSourceFilters(src, errs); e != nil {
		return e
	}
	return checkExternal(src.External)
}

// checkSourceFilters checks filter_subject and subject_transforms. A
// mirror reports overlapping filters before a bad destination, a source
// the other way round, as the reference does.
func checkSourceFilters(src *StreamSource, errs sourceErrs) *ApiError {
	if src.FilterSubject != "" && len(src.SubjectTransforms) > 0 {
		return jsError(errs.filterAndXforms)
	}
	if f := src.FilterSubject; f != "" && !IsValidSubject(f) {
		sep := " "
		if errs.kind == "source" {
			sep = ": "
		}
		return jsError(jsStreamCreate, "subject filter '"+f+"' for the "+errs.kind+sep+"invalid subject")
	}
	for i, x := range src.SubjectTransforms {
		if x.Source != "" && !IsValidSubject(x.Source) {
			return jsError(errs.badXformSrc, "invalid subject "+x.Source)
		}
		overlap := false
		for _, o := range src.SubjectTransforms[:i] {
			overlap = overlap || subjectsCollide(orAny(o.Source), orAny(x.Source))
		}
		if overlap && errs.kind == "mirror" {
			return jsError(errs.overlap)
		}
		if x.Destination != "" {
			if msg := transformDestProblem(orAny(x.Source), x.Destination); msg != "" {
				return jsError(errs.badXformDest, msg)
			}
		}
		if overlap {
			return jsError(errs.overlap)
		}
	}
	return nil
}

// checkExternal checks an external origin's prefixes.
func checkExternal(ext *ExternalStream) *ApiError {
	if ext == nil {
		return nil
	}
	if api := ext.APIPrefix; api != "" {
		if !IsValidLiteralSubject(api) {
			return jsError(jsStreamInvalidConfig, `stream external api prefix "`+api+`" must be a valid subject without wildcards`)
		}
		if subjectsCollide(api, "$JS.API") {
			return jsError(jsStreamExternalAPIOverlap, api, "$JS.API")
		}
	}
	if d := ext.DeliverPrefix; d != "" && subjectHasWildcard(d) {
		return jsError(jsStreamExternalDelWildcards, d)
	}
	return nil
}

// sourceIndexName is how Nats-Stream-Source names a source: its stream,
// with a hash of the api prefix when external and ":C=" with a hash of the
// consumer's name for durable sourcing.
func sourceIndexName(src *StreamSource) string {
	name := src.Name
	if src.External != nil && src.External.APIPrefix != "" {
		name += ":" + base62Hash(src.External.APIPrefix)
	}
	if src.Consumer != nil {
		name += ":C=" + base62Hash(src.Consumer.Name)
	}
	return name
}

// sourceXform is one filter of a source with its transform, as written in
// Nats-Stream-Source ("<filter> <dest>", ">" for none).
type sourceXform struct {
	filter, dest string
	t            *subjectTransform // nil: the subject is kept
}

// sourceXforms compiles a source's filters (one for none).
func sourceXforms(src *StreamSource) []sourceXform {
	if len(src.SubjectTransforms) == 0 {
		return []sourceXform{{filter: orAny(src.FilterSubject), dest: ">"}}
	}
	out := make([]sourceXform, 0, len(src.SubjectTransforms))
	for _, x := range src.SubjectTransforms {
		sx := sourceXform{filter: orAny(x.Source), dest: orAny(x.Destination)}
		if x.Destination != "" {
			sx.t, _ = newSubjectTransform(sx.filter, x.Destination) // checked at create
		}
		out = append(out, sx)
	}
	return out
}

// sourceKey identifies a source for duplicate detection: the index name
// and its filters with their destinations.
func sourceKey(src *StreamSource) string {
	var b strings.Builder
	b.WriteString(sourceIndexName(src))
	for _, x := range sourceXforms(src) {
		b.WriteString(" " + x.filter + " " + x.dest)
	}
	return b.String()
}

// sourcedHeader rewrites an origin message's headers for the stream that
// sources it: Nats-Expected-*, Nats-Batch-* and any Nats-Stream-Source
// dropped, and the source's own Nats-Stream-Source added last (omitted for
// a mirror, which keeps the origin's sequences instead).
func sourcedHeader(hdr []byte, source string) []byte {
	out := make([]byte, 0, len(hdr)+len(source)+32)
	status := []byte("NATS/1.0\r\n")
	if len(hdr) > 0 {
		if s := hdr[:len(hdr)-len(headerLines(hdr))]; len(s) > 0 && s[len(s)-1] == '\n' {
			status = s
		}
	}
	out, kept := appendHeaderLinesExcept(append(out, status...), hdr, func(key string) bool {
		return key == hdrStreamSource || strings.HasPrefix(key, "Nats-Expected-") || strings.HasPrefix(key, "Nats-Batch-")
	})
	if source != "" {
		out = appendHeader(out, hdrStreamSource, source)
	} else if kept == 0 {
		return nil
	}
	return append(out, "\r\n"...)
}

// Catalogue identifiers raised by mirrors and sources.
const (
	jsMirrorInvalidStreamName    = "JSMirrorInvalidStreamName"
	jsMirrorMultipleFilters      = "JSMirrorMultipleFiltersNotAllowed"
	jsMirrorInvalidSubjectFilter = "JSMirrorInvalidSubjectFilter"
	jsMirrorInvalidTransformDest = "JSMirrorInvalidTransformDestination"
	jsMirrorOverlappingFilters   = "JSMirrorOverlappingSubjectFilters"
	jsMirrorWithSubjects         = "JSMirrorWithSubjectsErr"
	jsMirrorWithSources          = "JSMirrorWithSourcesErr"
	jsMirrorWithFirstSeq         = "JSMirrorWithFirstSeqErr"
	jsMirrorMaxMsgSize           = "JSMirrorMaxMessageSizeTooBigErr"
	jsMirrorNotUpdatable         = "JSStreamMirrorNotUpdatableErr"
	jsSourceInvalidStreamName    = "JSSourceInvalidStreamName"
	jsSourceMultipleFilters      = "JSSourceMultipleFiltersNotAllowed"
	jsSourceInvalidSubjectFilter = "JSSourceInvalidSubjectFilter"
	jsSourceInvalidTransformDest = "JSSourceInvalidTransformDestination"
	jsSourceOverlappingFilters   = "JSSourceOverlappingSubjectFilters"
	jsSourceDuplicateDetected    = "JSSourceDuplicateDetected"
	jsMirrorConsumerCfgInvalid   = "JSMirrorDurableConsumerCfgInvalid"
	jsMirrorConsumerNeedsAckFC   = "JSMirrorConsumerRequiresAckFCErr"
	jsSourceConsumerCfgInvalid   = "JSSourceDurableConsumerCfgInvalid"
	jsSourceConsumerNeedsAckFC   = "JSSourceConsumerRequiresAckFCErr"
	jsSourceMaxMsgSize           = "JSSourceMaxMessageSizeTooBigErr"
	jsStreamExternalAPIOverlap   = "JSStreamExternalApiOverlapErrF"
	jsStreamExternalDelWildcards = "JSStreamInvalidExternalDeliverySubjErrF"
	jsMirrorWithCounters         = "JSMirrorWithCountersErr"
	jsMirrorWithAtomic           = "JSMirrorWithAtomicPublishErr"
	jsMirrorWithBatched          = "JSMirrorWithBatchPublishErr"
	jsMirrorWithSchedules        = "JSMirrorWithMsgSchedulesErr"
	jsSourceWithSchedules        = "JSSourceWithMsgSchedulesErr"
)
