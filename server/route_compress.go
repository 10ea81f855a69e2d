package server

// Route compression, as the reference v2.15.2 negotiates it (observed
// through a proxy between two reference servers):
//
//  1. the soliciting server sends CONNECT; the accepting one sends INFO with
//     its configured mode in "compression" ("accept" by default);
//  2. the solicitor answers with its INFO in clear, "compression" holding
//     the mode it chose (compressionChoice); if that is not "off", every
//     byte it writes after that INFO is an S2 stream, and every byte it
//     reads after the accepting server's INFO is one too;
//  3. the accepting server, on that INFO, chooses likewise; if not "off",
//     it switches both directions right after that INFO line and sends its
//     INFO again, compressed;
//  4. the solicitor sends its INFO again, compressed.
//
// The stream is the S2 framing format (github.com/klauspost/compress/s2):
// each batch the writer takes is one stream of its own (stream identifier,
// then compressed or, with s2_uncompressed, stored chunks), as the
// reference writes them. Each side compresses at the level it chose; the
// reader decodes any level. s2_auto picks the level from the route's RTT
// (rtt_thresholds: below the first, stored chunks; then fast, better,
// best) after every PONG.

import (
	"bytes"
	"io"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
)

// Route compression modes, with the reference's names.
const (
	CompressionOff            = "off"
	CompressionAccept         = "accept"
	CompressionS2Auto         = "s2_auto"
	CompressionS2Uncompressed = "s2_uncompressed"
	CompressionS2Fast         = "s2_fast"
	CompressionS2Better       = "s2_better"
	CompressionS2Best         = "s2_best"
)

// defaultRTTThresholds are s2_auto's, as the reference's.
var defaultRTTThresholds = []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}

// CompressionOpts is the cluster block's compression: a mode and, for
// s2_auto, the RTT thresholds between its levels.
type CompressionOpts struct {
	Mode          string          `json:"mode,omitempty"`
	RTTThresholds []time.Duration `json:"rtt_thresholds,omitempty"`
}

// compressionChoice is the mode a server configured with ours uses with a
// peer that announced theirs: "accept" takes the peer's mode (s2_fast for
// a peer in s2_auto), two "accept"s or any "off" (or a peer that does not
// know compression) give "off", any other mode is used as configured.
func compressionChoice(ours, theirs string) string {
	switch theirs {
	case CompressionAccept, CompressionS2Auto, CompressionS2Fast, CompressionS2Better, CompressionS2Best:
	default:
		return CompressionOff
	}
	switch ours {
	case CompressionOff, "":
		return CompressionOff
	case CompressionAccept:
		switch theirs {
		case CompressionAccept:
			return CompressionOff
		case CompressionS2Auto:
			return CompressionS2Fast
		}
		return theirs
	}
	return ours
}

// Compression levels of a writer, in s2_auto's order.
const (
	levelUncompressed int32 = iota
	levelFast
	levelBetter
	levelBest
)

var levelNames = [...]string{CompressionS2Uncompressed, CompressionS2Fast, CompressionS2Better, CompressionS2Best}

func levelOf(mode string) int32 {
	switch mode {
	case CompressionS2Better:
		return levelBetter
	case CompressionS2Best:
		return levelBest
	case CompressionS2Uncompressed:
		return levelUncompressed
	}
	return levelFast
}

// autoLevel is s2_auto's level for a round trip time: one level up for
// every threshold reached (zero thresholds are skipped).
func autoLevel(rtt time.Duration, thresholds []time.Duration) int32 {
	level := levelUncompressed
	for _, t := range thresholds {
		if t > 0 && rtt >= t && level < levelBest {
			level++
		}
	}
	return level
}

// routeCompressor compresses what a route's writer takes. It belongs to the
// writer goroutine, except level, which a PONG may change (s2_auto).
type routeCompressor struct {
	mode       string // the mode chosen in the handshake
	thresholds []time.Duration
	level      atomic.Int32

	wlevel int32 // the level w was made for
	w      *s2.Writer
	buf    bytes.Buffer
	out    [1][]byte
}

func newRouteCompressor(mode string, thresholds []time.Duration) *routeCompressor {
	z := &routeCompressor{mode: mode, thresholds: thresholds, wlevel: -1}
	if mode == CompressionS2Auto {
		z.level.Store(levelUncompressed) // until a round trip is measured
	} else {
		z.level.Store(levelOf(mode))
	}
	return z
}

// current is the level in use, by its name (what /routez shows).
func (z *routeCompressor) current() string {
	return levelNames[z.level.Load()]
}

// rttMeasured adapts an s2_auto writer's level.
func (z *routeCompressor) rttMeasured(rtt time.Duration) {
	if z.mode == CompressionS2Auto {
		z.level.Store(autoLevel(rtt, z.thresholds))
	}
}

// compress turns one batch into one S2 stream. The buffer and the
// encoder are kept from batch to batch.
func (z *routeCompressor) compress(held [][]byte) [][]byte {
	if lv := z.level.Load(); lv != z.wlevel || z.w == nil {
		z.w = s2.NewWriter(nil, writerOptions(lv)...)
		z.wlevel = lv
	}
	z.buf.Reset()
	z.w.Reset(&z.buf)
	for _, b := range held {
		_, _ = z.w.Write(b) // writes to a bytes.Buffer do not fail
	}
	_ = z.w.Close()
	z.out[0] = z.buf.Bytes()
	return z.out[:]
}

func writerOptions(level int32) []s2.WriterOption {
	opts := []s2.WriterOption{s2.WriterConcurrency(1)}
	switch level {
	case levelUncompressed:
		opts = append(opts, s2.WriterUncompressed())
	case levelBetter:
		opts = append(opts, s2.WriterBetterCompression())
	case levelBest:
		opts = append(opts, s2.WriterBestCompression())
	}
	return opts
}

// s2Magic starts every S2 stream (the stream identifier chunk).
const s2Magic = "\xff\x06\x00\x00S2sTwO"

// routeInflater reads a route after the switch: first what the parser had
// not consumed, then the connection, decoded as S2. A peer that writes
// clear text instead (an -ERR before it closes, say), recognised by its
// first byte, is read as is.
type routeInflater struct {
	src pendingReader
	r   io.Reader
}

func newRouteInflater(conn io.Reader, rest []byte) *routeInflater {
	return &routeInflater{src: pendingReader{rest: append([]byte(nil), rest...), r: conn}}
}

func (z *routeInflater) Read(p []byte) (int, error) {
	if z.r == nil {
		if len(z.src.rest) == 0 {
			var b [1]byte
			n, err := z.src.r.Read(b[:])
			if n == 0 {
				return 0, err
			}
			z.src.rest = append(z.src.rest, b[0])
		}
		if z.src.rest[0] == s2Magic[0] {
			z.r = s2.NewReader(&z.src)
		} else {
			z.r = &z.src
		}
	}
	return z.r.Read(p)
}

// pendingReader reads rest, then r.
type pendingReader struct {
	rest []byte
	r    io.Reader
}

func (p *pendingReader) Read(b []byte) (int, error) {
	if len(p.rest) > 0 {
		n := copy(b, p.rest)
		p.rest = p.rest[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// errSwitchReader ends a parse after the INFO line behind which the peer's
// bytes are compressed; the reader continues with a routeInflater.
var errSwitchReader = &protoErr{log: "switch to compression"}

// startCompression makes everything queued from now on compressed: what
// is queued already is written in clear first. Lock held.
func (c *client) startCompression(z *routeCompressor) {
	o := &c.out
	if len(o.cur) > 0 {
		o.chunks = append(o.chunks, o.cur)
		o.cur = nil
	}
	o.plainHead = len(o.chunks)
	o.z = z
}

// routeCompression is the level a route compresses with, "off" if none.
// Lock held.
func (c *client) routeCompression() string {
	if c.out.z == nil {
		return CompressionOff
	}
	return c.out.z.current()
}
