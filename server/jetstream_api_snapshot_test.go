package server

import "testing"

// Every catalogue identifier raised by snapshot, restore, transforms and
// republish exists in jetstream_errors.txt.
func TestJSSnapshotErrorIdentifiersKnown(t *testing.T) {
	for _, id := range jsSnapshotErrorIdentifiers {
		if !JSErrorKnown(id) {
			t.Errorf("%s is not in the catalogue", id)
		}
	}
}
