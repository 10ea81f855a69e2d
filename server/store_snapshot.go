package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/klauspost/compress/s2"
)

// Snapshot format. A snapshot is an S2 stream (s2.NewWriter framing, which
// carries its own CRCs) whose decompressed content is:
//
//	"NFSNAP1\n"
//	u32 LE length, then that many bytes of JSON storeSnapHeader
//	records, each in the message-block record format (see fsAppendRecord)
//	with kind 1 (message), hashed with an all-zero HighwayHash key
//	u32 LE 0 as terminator
//
// Consumer states travel in the header, encoded by storeEncodeConsumerState.
// The format does not depend on the store type: a file store snapshot
// restores into a memory store and back.
const storeSnapMagic = "NFSNAP1\n"

var storeSnapKey = make([]byte, 32)

type storeSnapHeader struct {
	Config    StreamConfig      `json:"config"`
	FirstSeq  uint64            `json:"first_seq"`
	LastSeq   uint64            `json:"last_seq"`
	Consumers map[string][]byte `json:"consumers,omitempty"`
}

func storeWriteSnapshot(w io.Writer, cfg *StreamConfig, c *storeCore, cons map[string]*ConsumerState) error {
	var st StreamState
	c.FastState(&st)
	hdr := storeSnapHeader{Config: *cfg, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq}
	if len(cons) > 0 {
		hdr.Consumers = make(map[string][]byte, len(cons))
		for name, cs := range cons {
			hdr.Consumers[name] = storeEncodeConsumerState(cs)
		}
	}
	js, err := json.Marshal(&hdr)
	if err != nil {
		return err
	}
	zw := s2.NewWriter(w)
	buf := append([]byte(storeSnapMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(buf[len(storeSnapMagic):], uint32(len(js)))
	buf = append(buf, js...)
	if _, err := zw.Write(buf); err != nil {
		return err
	}
	var sm StoreMsg
	for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
		m, next, err := c.LoadNextMsg("", seq, &sm)
		if err == ErrStoreEOF || next > st.LastSeq {
			break
		}
		if err != nil {
			return err
		}
		buf = fsAppendRecord(buf[:0], storeSnapKey, fsKindMsg, m.Seq, m.TS, m.TTL, m.Subject, m.Hdr, m.Msg)
		if _, err := zw.Write(buf); err != nil {
			return err
		}
		seq = next
	}
	if _, err := zw.Write([]byte{0, 0, 0, 0}); err != nil {
		return err
	}
	return zw.Close()
}

// RestoreSnapshot reads a snapshot written by StreamStore.Snapshot, creates
// the store with open (given the snapshot's configuration) and fills it
// with the messages, sequence range and consumer states of the snapshot.
func RestoreSnapshot(r io.Reader, open func(cfg *StreamConfig) (StreamStore, error)) (StreamStore, error) {
	zr := s2.NewReader(r)
	head := make([]byte, len(storeSnapMagic)+4)
	if _, err := io.ReadFull(zr, head); err != nil || string(head[:len(storeSnapMagic)]) != storeSnapMagic {
		return nil, ErrStoreBadSnapshot
	}
	n := binary.LittleEndian.Uint32(head[len(storeSnapMagic):])
	if n > 64<<20 {
		return nil, ErrStoreBadSnapshot
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(zr, js); err != nil {
		return nil, ErrStoreBadSnapshot
	}
	var hdr storeSnapHeader
	if err := json.Unmarshal(js, &hdr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoreBadSnapshot, err)
	}
	st, err := open(&hdr.Config)
	if err != nil {
		return nil, err
	}
	if err := storeRestoreBody(zr, st, &hdr); err != nil {
		_ = st.Delete()
		return nil, err
	}
	return st, nil
}

func storeRestoreBody(zr io.Reader, st StreamStore, hdr *storeSnapHeader) error {
	var ss StreamState
	st.FastState(&ss)
	if hdr.FirstSeq > ss.LastSeq+1 {
		if err := st.SkipMsgs(ss.LastSeq+1, hdr.FirstSeq-1-ss.LastSeq); err != nil {
			return err
		}
	}
	var rec fsRec
	buf := make([]byte, 4, 4096)
	for {
		if _, err := io.ReadFull(zr, buf[:4]); err != nil {
			return ErrStoreBadSnapshot
		}
		n := binary.LittleEndian.Uint32(buf)
		if n == 0 {
			break
		}
		if n < fsRecMin || n > fsRecMaxSize {
			return ErrStoreBadSnapshot
		}
		if cap(buf) < int(n) {
			buf = append(buf[:4], make([]byte, int(n)-4)...)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(zr, buf[4:]); err != nil {
			return ErrStoreBadSnapshot
		}
		if fsParseRecord(buf, storeSnapKey, &rec) != nil || rec.kind != fsKindMsg {
			return ErrStoreBadSnapshot
		}
		if err := st.StoreRawMsg(string(rec.subj), rec.hdr, rec.msg, rec.seq, rec.ts, rec.ttl); err != nil {
			return err
		}
	}
	st.FastState(&ss)
	if hdr.LastSeq > ss.LastSeq {
		if err := st.SkipMsgs(ss.LastSeq+1, hdr.LastSeq-ss.LastSeq); err != nil {
			return err
		}
	}
	for name, enc := range hdr.Consumers {
		cs, err := storeDecodeConsumerState(enc)
		if err != nil {
			return err
		}
		o, err := st.ConsumerStore(name)
		if err != nil {
			return err
		}
		if err := o.Update(cs); err != nil {
			return err
		}
	}
	return nil
}
