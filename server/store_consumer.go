package server

import (
	"encoding/binary"
	"errors"
	"sort"
)

// ErrStoreBadConfig is returned for a missing or unusable store configuration.
var ErrStoreBadConfig = errors.New("invalid store configuration")

// storeConsumerStateVersion is the first byte of an encoded consumer state.
const storeConsumerStateVersion = 1

func storeCheckConsumerState(st *ConsumerState) error {
	if st == nil {
		return ErrStoreBadConsumerState
	}
	if st.AckFloor.Stream > st.Delivered.Stream || st.AckFloor.Consumer > st.Delivered.Consumer {
		return ErrStoreBadConsumerState
	}
	return nil
}

// storeEncodeConsumerState encodes st as:
//
//	version byte (1)
//	uvarint delivered.consumer, delivered.stream, ackfloor.consumer, ackfloor.stream
//	uvarint n, then n x (uvarint stream seq, uvarint consumer seq, varint timestamp)
//	uvarint m, then m x (uvarint stream seq, uvarint count)
//
// Pending and redelivered entries are sorted by stream sequence so that
// equal states encode to equal bytes.
func storeEncodeConsumerState(st *ConsumerState) []byte {
	b := make([]byte, 0, 64+len(st.Pending)*24+len(st.Redelivered)*12)
	b = append(b, storeConsumerStateVersion)
	b = binary.AppendUvarint(b, st.Delivered.Consumer)
	b = binary.AppendUvarint(b, st.Delivered.Stream)
	b = binary.AppendUvarint(b, st.AckFloor.Consumer)
	b = binary.AppendUvarint(b, st.AckFloor.Stream)
	keys := make([]uint64, 0, len(st.Pending))
	for k, p := range st.Pending {
		if p != nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, k)
		b = binary.AppendUvarint(b, st.Pending[k].Sequence)
		b = binary.AppendVarint(b, st.Pending[k].Timestamp)
	}
	keys = keys[:0]
	for k := range st.Redelivered {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, k)
		b = binary.AppendUvarint(b, st.Redelivered[k])
	}
	return b
}

type storeVarReader struct {
	b   []byte
	err bool
}

func (r *storeVarReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *storeVarReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// storeDecodeConsumerState decodes what storeEncodeConsumerState wrote.
func storeDecodeConsumerState(b []byte) (*ConsumerState, error) {
	if len(b) == 0 || b[0] != storeConsumerStateVersion {
		return nil, ErrStoreBadConsumerState
	}
	r := storeVarReader{b: b[1:]}
	st := &ConsumerState{}
	st.Delivered.Consumer, st.Delivered.Stream = r.uvarint(), r.uvarint()
	st.AckFloor.Consumer, st.AckFloor.Stream = r.uvarint(), r.uvarint()
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		return nil, ErrStoreBadConsumerState
	}
	if n > 0 {
		st.Pending = make(map[uint64]*Pending, n)
	}
	for i := uint64(0); i < n && !r.err; i++ {
		k := r.uvarint()
		st.Pending[k] = &Pending{Sequence: r.uvarint(), Timestamp: r.varint()}
	}
	m := r.uvarint()
	if r.err || m > uint64(len(r.b)) {
		return nil, ErrStoreBadConsumerState
	}
	if m > 0 {
		st.Redelivered = make(map[uint64]uint64, m)
	}
	for i := uint64(0); i < m && !r.err; i++ {
		k := r.uvarint()
		st.Redelivered[k] = r.uvarint()
	}
	if r.err || len(r.b) != 0 {
		return nil, ErrStoreBadConsumerState
	}
	return st, nil
}
