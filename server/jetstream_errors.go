package server

import (
	_ "embed"
	"strconv"
	"strings"
)

// The JetStream API's error catalogue is data: jetstream_errors.txt holds
// one "err_code | code | identifier | description" line per error, the
// reference's numbers and texts. Handlers name an error by its identifier
// (the constants below) and never spell a description themselves.
//
//go:embed jetstream_errors.txt
var jsErrorsText string

// ApiError is the "error" object of a JetStream API response.
type ApiError struct {
	Code        int    `json:"code"`
	ErrCode     uint16 `json:"err_code,omitempty"`
	Description string `json:"description,omitempty"`
}

// Error makes ApiError an error.
func (e *ApiError) Error() string { return e.Description }

// Identifiers of the catalogue entries this server raises.
const (
	jsBadRequest               = "JSBadRequestErr"
	jsInvalidJSON              = "JSInvalidJSONErr"
	jsNoMessageFound           = "JSNoMessageFoundErr"
	jsNotEmptyRequest          = "JSNotEmptyRequestErr"
	jsNotEnabledForAccount     = "JSNotEnabledForAccountErr"
	jsSequenceNotFound         = "JSSequenceNotFoundErrF"
	jsStreamInvalidConfig      = "JSStreamInvalidConfigF"
	jsStreamMismatch           = "JSStreamMismatchErr"
	jsStreamMsgDeleteFailed    = "JSStreamMsgDeleteFailedF"
	jsStreamNameExist          = "JSStreamNameExistErr"
	jsStreamNotFound           = "JSStreamNotFoundErr"
	jsStreamNotMatch           = "JSStreamNotMatchErr"
	jsStreamSubjectOverlap     = "JSStreamSubjectOverlapErr"
	jsStreamWrongLastMsgID     = "JSStreamWrongLastMsgIDErrF"
	jsStreamWrongLastSeq       = "JSStreamWrongLastSequenceErrF"
	jsStreamReplicasNotSupp    = "JSStreamReplicasNotSupportedErr"
	jsStreamStoreFailed        = "JSStreamStoreFailedF"
	jsStreamSealed             = "JSStreamSealedErr"
	jsStreamPurgeFailed        = "JSStreamPurgeFailedF"
	jsStreamNamePathSep        = "JSStreamNameContainsPathSeparatorsErr"
	jsReplicasNegative         = "JSReplicasCountCannotBeNegative"
	jsRequiredAPILevel         = "JSRequiredApiLevelErr"
	jsStreamMessageExceeds     = "JSStreamMessageExceedsMaximumErr"
	jsStreamUpdate             = "JSStreamUpdateErrF"
	jsStreamGeneral            = "JSStreamGeneralErrorF"
	jsConsumerCreate           = "JSConsumerCreateErrF"
	jsStreamCreate             = "JSStreamCreateErrF"
	jsStreamLimits             = "JSStreamLimitsErrF"
	jsStreamDeleteFailed       = "JSStreamDeleteErrF"
	jsStreamNotMatchLastSubj   = "JSStreamWrongLastSequenceConstantErr"
	jsClusterRequired          = "JSClusterRequiredErr"
	jsClusterNoPeers           = "JSClusterNoPeersErrF"
	jsClusterNotAvail          = "JSClusterNotAvailErr"
	jsInsufficientResources    = "JSInsufficientResourcesErr"
	jsMemoryResourcesExceeded  = "JSMemoryResourcesExceededErr"
	jsStorageResourcesExceeded = "JSStorageResourcesExceededErr"
	jsStreamIngestFull         = "JSStreamTooManyRequests"
	jsAccountResourcesExceeded = "JSAccountResourcesExceededErr"
	jsMaximumStreamsLimit      = "JSMaximumStreamsLimitErr"
	jsStreamMaxBytesRequired   = "JSStreamMaxBytesRequired"
	jsStreamMaxStreamBytes     = "JSStreamMaxStreamBytesExceeded"
)

// Identifiers of the catalogue entries replicated streams raise.
const jsConsumerReplicasExceedsStream = "JSConsumerReplicasExceedsStream"

type jsErrorEntry struct {
	code    int
	errCode uint16
	desc    string
}

// jsErrors maps an identifier to its catalogue entry, parsed once.
var jsErrors = parseJSErrors(jsErrorsText)

func parseJSErrors(text string) map[string]jsErrorEntry {
	m := make(map[string]jsErrorEntry)
	for _, line := range strings.Split(text, "\n") {
		f := strings.SplitN(line, " | ", 4)
		if len(f) != 4 {
			continue
		}
		ec, err1 := strconv.Atoi(f[0])
		code, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		m[f[2]] = jsErrorEntry{code: code, errCode: uint16(ec), desc: f[3]}
	}
	return m
}

// jsError builds the catalogue error id. Each argument fills the next
// {placeholder} of its description, in order ({err}, {seq}, ...).
func jsError(id string, args ...any) *ApiError {
	e, ok := jsErrors[id]
	if !ok {
		// A missing identifier is a programming error; the tests check every
		// constant above, so this only guards against a crash.
		return &ApiError{Code: 500, Description: id}
	}
	desc := e.desc
	for _, a := range args {
		i := strings.IndexByte(desc, '{')
		j := strings.IndexByte(desc, '}')
		if i < 0 || j < i {
			break
		}
		desc = desc[:i] + jsArgString(a) + desc[j+1:]
	}
	return &ApiError{Code: e.code, ErrCode: e.errCode, Description: desc}
}

// jsErrCode is the err_code of catalogue entry id.
func jsErrCode(id string) uint16 { return jsErrors[id].errCode }

func jsArgString(a any) string {
	switch v := a.(type) {
	case error:
		return v.Error()
	case string:
		return v
	case uint64:
		return strconv.FormatUint(v, 10)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return "?"
}

// JSErrorIdentifiers lists the identifiers this server raises, for the test
// that checks each is in the catalogue.
func JSErrorIdentifiers() []string {
	ids := []string{jsBadRequest, jsInvalidJSON, jsNoMessageFound, jsNotEmptyRequest,
		jsNotEnabledForAccount, jsSequenceNotFound, jsStreamInvalidConfig, jsStreamMismatch,
		jsStreamMsgDeleteFailed, jsStreamNameExist, jsStreamNotFound, jsStreamNotMatch,
		jsStreamSubjectOverlap, jsStreamWrongLastMsgID, jsStreamWrongLastSeq,
		jsStreamReplicasNotSupp, jsStreamStoreFailed, jsStreamSealed, jsStreamPurgeFailed,
		jsStreamNamePathSep, jsReplicasNegative, jsRequiredAPILevel, jsStreamMessageExceeds,
		jsStreamUpdate, jsStreamGeneral, jsConsumerCreate, jsStreamCreate, jsStreamLimits,
		jsStreamDeleteFailed, jsStreamNotMatchLastSubj, jsClusterRequired, jsStreamIngestFull,
		jsInsufficientResources, jsMemoryResourcesExceeded, jsStorageResourcesExceeded,
		jsAccountResourcesExceeded, jsMaximumStreamsLimit, jsStreamMaxBytesRequired, jsStreamMaxStreamBytes,
		jsClusterNoPeers, jsClusterNotAvail, jsConsumerReplicasExceedsStream}
	ids = append(ids, consumerCheckErrorIDs...)
	ids = append(ids, consumerAdminErrorIDs...)
	ids = append(ids, clusterPeerErrorIDs...)
	return append(ids, msgFeatureErrorIDs...)
}

// JSErrorKnown reports whether id is in the catalogue.
func JSErrorKnown(id string) bool { _, ok := jsErrors[id]; return ok }
