package server

import "fmt"

// PersistMode is a stream's persist_mode. With "async" the reference
// acknowledges a publish before the message is written; this server
// accepts the mode and keeps its default durability (the PubAck follows
// the round's write, and its fsync with sync_interval: always), which is
// at least what async promises.
type PersistMode int

const (
	// PersistDefault is the default mode (JSON "default" or absent).
	PersistDefault PersistMode = iota
	// PersistAsync is persist_mode "async" (file storage, R1 only).
	PersistAsync
)

// MarshalJSON implements json.Marshaler; the default is omitted by the
// field's omitempty.
func (pm PersistMode) MarshalJSON() ([]byte, error) {
	if pm == PersistAsync {
		return []byte(`"async"`), nil
	}
	return []byte(`"default"`), nil
}

// UnmarshalJSON implements json.Unmarshaler: "", "default" and "async",
// in lower case only, as the reference.
func (pm *PersistMode) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `""`, `"default"`:
		*pm = PersistDefault
	case `"async"`:
		*pm = PersistAsync
	default:
		return fmt.Errorf("can not unmarshal %q", data)
	}
	return nil
}

// checkPersistMode refuses async persistence where the reference does.
func checkPersistMode(c *StreamConfig) *ApiError {
	if c.PersistMode != PersistAsync {
		return nil
	}
	switch {
	case c.Storage != FileStorage:
		return jsError(jsStreamInvalidConfig, "async persist mode is only supported on file storage")
	case c.Replicas > 1:
		return jsError(jsStreamInvalidConfig, "async persist mode is not supported on replicated streams")
	case c.AllowAtomic:
		return jsError(jsStreamInvalidConfig, "async persist mode is not supported with atomic batch publish")
	}
	return nil
}

// persistReqLevel is the API level async persistence requires.
func persistReqLevel(c *StreamConfig) int {
	if c.PersistMode == PersistAsync {
		return 2
	}
	return 0
}
