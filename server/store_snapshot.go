package server

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/klauspost/compress/s2"
)

// Snapshot archive format: the reference's v2 archive ("NATSARC1", the
// stream.arc.s2 file `nats stream backup` saves), so that backups move
// between this server and the reference both ways. It is an S2 stream
// (s2.NewWriter framing, which carries its own CRCs) whose content is
//
//	"NATSARC1"
//	records, each: uvarint len(name), varint (zigzag) unix-nano time,
//	  uvarint seq, uvarint len(hdr), uvarint len(data), name, hdr, data
//	a record of all zeros (five 0 bytes) as terminator
//
// A record with seq 0 is a file: "state.json" (the StreamState at the
// time of the snapshot, first) and "consumers/<name>" ({"config","state"}:
// the ConsumerConfig and ConsumerState JSON, as the reference writes them).
// Every other record is a message with its subject as name. Sequences
// missing between state.json's first_seq and last_seq were deleted. The
// stream's config travels beside the archive (the snapshot response,
// backup.json), not in it.
const storeArcMagic = "NATSARC1"

const (
	storeArcState     = "state.json"
	storeArcConsumers = "consumers/"
	// storeArcMaxFile bounds a file record (state.json, a consumer) read
	// back: their JSON is small; a bigger one is a corrupt archive.
	storeArcMaxFile = 64 << 20
	// storeArcMaxSubject bounds a message's subject length read back.
	storeArcMaxSubject = 64 << 10
)

// storeArcConsumer is a consumer file of the archive. Config is kept as
// given: consumers are configured by the JetStream layer, not the store.
type storeArcConsumer struct {
	Config json.RawMessage `json:"config,omitempty"`
	State  *ConsumerState  `json:"state"`
}

// ArchiveConsumer is one consumer of an archive: its name, its
// configuration as JSON (the JetStream layer's business) and its state.
type ArchiveConsumer struct {
	Name   string
	Config json.RawMessage
	State  *ConsumerState
}

// storeArcSource is what an archive is written from.
type storeArcSource interface {
	FastState(st *StreamState)
	LoadNextMsg(filter string, start uint64, sm *StoreMsg) (*StoreMsg, uint64, error)
}

// storeArcWriter writes records to the compressed stream.
type storeArcWriter struct {
	zw  *s2.Writer
	buf []byte
}

func (w *storeArcWriter) record(name string, ts int64, seq uint64, hdr, data []byte) error {
	b := binary.AppendUvarint(w.buf[:0], uint64(len(name)))
	b = binary.AppendVarint(b, ts)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(hdr)))
	b = binary.AppendUvarint(b, uint64(len(data)))
	b = append(b, name...)
	w.buf = b
	for _, p := range [][]byte{b, hdr, data} {
		if _, err := w.zw.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// WriteArchive writes st's messages and the consumers given (JetStream's
// view of them: configuration and live state) as an archive.
func WriteArchive(w io.Writer, st StreamStore, cons []ArchiveConsumer) error {
	return storeWriteSnapshot(w, st, cons)
}

// storeNamedConsumers is the store's own view of its consumers: states,
// and configurations that only name them (the store keeps no other).
func storeNamedConsumers(cons map[string]*ConsumerState) []ArchiveConsumer {
	out := make([]ArchiveConsumer, 0, len(cons))
	for name, st := range cons {
		cfg, _ := json.Marshal(map[string]string{"durable_name": name, "name": name})
		out = append(out, ArchiveConsumer{Name: name, Config: cfg, State: st})
	}
	return out
}

func storeWriteSnapshot(w io.Writer, c storeArcSource, cons []ArchiveConsumer) error {
	var st StreamState
	c.FastState(&st)
	st.Consumers = len(cons)
	aw := &storeArcWriter{zw: s2.NewWriter(w)}
	if _, err := aw.zw.Write([]byte(storeArcMagic)); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	js, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	if err := aw.record(storeArcState, now, 0, nil, js); err != nil {
		return err
	}
	if err := storeWriteArcConsumers(aw, now, cons); err != nil {
		return err
	}
	var sm StoreMsg
	for seq := st.FirstSeq; seq <= st.LastSeq && seq > 0; {
		m, next, err := c.LoadNextMsg("", seq, &sm)
		if errors.Is(err, ErrStoreEOF) || (err == nil && m.Seq > st.LastSeq) {
			break
		}
		if err != nil {
			return err
		}
		if err := aw.record(m.Subject, m.TS, m.Seq, m.Hdr, m.Msg); err != nil {
			return err
		}
		seq = max(next, m.Seq) + 1
	}
	if err := aw.record("", 0, 0, nil, nil); err != nil {
		return err
	}
	return aw.zw.Close()
}

func storeWriteArcConsumers(aw *storeArcWriter, now int64, cons []ArchiveConsumer) error {
	sort.Slice(cons, func(i, j int) bool { return cons[i].Name < cons[j].Name })
	for _, ac := range cons {
		js, err := json.Marshal(&storeArcConsumer{Config: ac.Config, State: ac.State})
		if err != nil {
			return err
		}
		if err := aw.record(storeArcConsumers+ac.Name, now, 0, nil, js); err != nil {
			return err
		}
	}
	return nil
}

// RestoreSnapshot fills st, an empty store, from an archive written by
// StreamStore.Snapshot (or by the reference): messages at their sequences
// and times, the deleted ranges, and the consumer states. It returns the
// archive's state.json. st is left as filled so far on error; the caller
// deletes it.
func RestoreSnapshot(r io.Reader, st StreamStore) (*StreamState, error) {
	ss, cons, err := RestoreArchive(r, st)
	if err != nil {
		return nil, err
	}
	for _, ac := range cons {
		o, err := st.ConsumerStore(ac.Name)
		if err != nil {
			return nil, err
		}
		if err := o.Update(ac.State); err != nil {
			return nil, err
		}
	}
	return ss, nil
}

// RestoreArchive is RestoreSnapshot leaving the consumers to the caller:
// it returns them, in archive order, instead of storing their states.
func RestoreArchive(r io.Reader, st StreamStore) (*StreamState, []ArchiveConsumer, error) {
	br := bufio.NewReaderSize(s2.NewReader(r), 64<<10)
	head := make([]byte, len(storeArcMagic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != storeArcMagic {
		return nil, nil, fmt.Errorf("%w: not a %s archive", ErrStoreBadSnapshot, storeArcMagic)
	}
	rs := &storeArcReader{br: br, st: st}
	for {
		done, err := rs.next()
		if err != nil {
			return nil, nil, err
		}
		if done {
			break
		}
	}
	if rs.state == nil {
		return nil, nil, fmt.Errorf("%w: no %s", ErrStoreBadSnapshot, storeArcState)
	}
	return rs.state, rs.cons, rs.skipTo(rs.state.LastSeq)
}

// storeArcReader reads records one at a time into the store.
type storeArcReader struct {
	br    *bufio.Reader
	st    StreamStore
	state *StreamState
	cons  []ArchiveConsumer
	buf   []byte
}

func (rs *storeArcReader) next() (bool, error) {
	var f [5]uint64
	var ts int64
	var err error
	if f[0], err = binary.ReadUvarint(rs.br); err == nil {
		if ts, err = binary.ReadVarint(rs.br); err == nil {
			for i := 2; i < 5 && err == nil; i++ {
				f[i], err = binary.ReadUvarint(rs.br)
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrStoreBadSnapshot, err)
	}
	nameLen, seq, hdrLen, dataLen := f[0], f[2], f[3], f[4]
	if nameLen == 0 && seq == 0 && hdrLen == 0 && dataLen == 0 {
		return true, nil
	}
	if nameLen > storeArcMaxSubject || hdrLen > fsRecMaxSize || dataLen > fsRecMaxSize ||
		(seq == 0 && hdrLen+dataLen > storeArcMaxFile) {
		return false, fmt.Errorf("%w: record too large", ErrStoreBadSnapshot)
	}
	n := int(nameLen + hdrLen + dataLen)
	if cap(rs.buf) < n {
		rs.buf = make([]byte, n)
	}
	b := rs.buf[:n]
	if _, err := io.ReadFull(rs.br, b); err != nil {
		return false, fmt.Errorf("%w: %v", ErrStoreBadSnapshot, err)
	}
	name, hdr, data := string(b[:nameLen]), b[nameLen:nameLen+hdrLen], b[nameLen+hdrLen:]
	if seq == 0 {
		return false, rs.file(name, data)
	}
	return false, rs.msg(name, hdr, data, seq, ts)
}

// file applies a file record: state.json first, then consumers.
func (rs *storeArcReader) file(name string, data []byte) error {
	if name == storeArcState {
		var ss StreamState
		if err := json.Unmarshal(data, &ss); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrStoreBadSnapshot, name, err)
		}
		rs.state = &ss
		if ss.FirstSeq > 1 {
			return rs.skipTo(ss.FirstSeq - 1)
		}
		return nil
	}
	if len(name) <= len(storeArcConsumers) || name[:len(storeArcConsumers)] != storeArcConsumers {
		return nil // a file this version does not know: the reference may add some
	}
	var ac storeArcConsumer
	if err := json.Unmarshal(data, &ac); err != nil || storeCheckConsumerState(ac.State) != nil {
		return fmt.Errorf("%w: %s", ErrStoreBadSnapshot, name)
	}
	// Unmarshal copied the config out of rs.buf, which the next record reuses.
	rs.cons = append(rs.cons, ArchiveConsumer{Name: name[len(storeArcConsumers):], Config: ac.Config, State: ac.State})
	return nil
}

func (rs *storeArcReader) msg(subj string, hdr, data []byte, seq uint64, ts int64) error {
	if rs.state == nil {
		return fmt.Errorf("%w: message before %s", ErrStoreBadSnapshot, storeArcState)
	}
	if len(hdr) == 0 {
		hdr = nil
	}
	// The archive keeps no TTL (the reference's neither): it comes back from the
	// message's Nats-TTL header, counted from the message's time.
	var ttl int64
	if t := readMsgTTL(hdr); t.set && t.valid {
		ttl = int64(t.ttl)
	}
	if err := rs.st.StoreRawMsg(subj, hdr, data, seq, ts, ttl); err != nil {
		return fmt.Errorf("%w: message %d: %v", ErrStoreBadSnapshot, seq, err)
	}
	return nil
}

// skipTo consumes the sequences up to last that hold no message.
func (rs *storeArcReader) skipTo(last uint64) error {
	var ss StreamState
	rs.st.FastState(&ss)
	if last <= ss.LastSeq {
		return nil
	}
	return rs.st.SkipMsgs(ss.LastSeq+1, last-ss.LastSeq)
}
