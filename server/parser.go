package server

import (
	"bytes"
)

// The client protocol is line based: a control line ended by "\n" (normally
// "\r\n"), optionally followed by a payload of a size given on the line and
// its own "\r\n". The parser finds line ends with bytes.IndexByte, which is
// vectorised, instead of a byte-at-a-time state machine. Arguments and
// payloads are sub-slices of the read buffer; only a line or payload that is
// split across two reads is copied, into buffers owned by the connection.

type parseState uint8

const (
	psLine    parseState = iota // expecting a control line
	psPayload                   // expecting pa.size payload bytes and CRLF
)

// pubArg holds the parsed arguments of the PUB or HPUB being read (or, on
// a route, of the RMSG or HMSG).
type pubArg struct {
	subject []byte
	reply   []byte
	hdr     int    // header length, -1 when not HPUB
	size    int    // total payload size, headers included
	acc     []byte // route: the account, nil on a route pinned to one
	queues  []byte // route: the queue groups to serve, space separated
}

// protoErr is a protocol error: what to send to the client, if anything, and
// whether the connection closes.
type protoErr struct {
	msg    string // text inside -ERR '...'; empty sends nothing
	close  bool
	reason ClosedState
	log    string // what the server logs, if different from msg
}

func (e *protoErr) Error() string {
	if e.log != "" {
		return e.log
	}
	return e.msg
}

var (
	errUnknownOp      = &protoErr{msg: "Unknown Protocol Operation", close: true, reason: ProtocolViolation}
	errMaxCtrlLine    = &protoErr{msg: "maximum control line exceeded", close: true, reason: MaxControlLineExceeded}
	errMaxPayload     = &protoErr{msg: "Maximum Payload Violation", close: true, reason: MaxPayloadExceeded}
	errAuthFirst      = &protoErr{msg: "Authorization Violation", close: true, reason: AuthenticationViolation}
	errBadClientProto = &protoErr{msg: "invalid client protocol", close: true, reason: BadClientProtocolVersion}
	errNoRespNoHdr    = &protoErr{msg: "no responders requires headers support", close: true, reason: ProtocolViolation}
)

// argErr is a malformed argument list: the reference closes the connection
// without an -ERR for these and logs what it could not parse.
func argErr(op string, arg []byte) *protoErr {
	return &protoErr{close: true, reason: ProtocolViolation, log: op + " Parse Error: '" + string(arg) + "'"}
}

// parse consumes one read's worth of bytes.
func (c *client) parse(buf []byte) error {
	for len(buf) > 0 {
		if c.ps == psPayload {
			var err error
			if buf, err = c.parsePayload(buf); err != nil {
				return err
			}
			continue
		}
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if len(c.pbuf)+len(buf) > int(c.mcl) {
				return errMaxCtrlLine
			}
			c.pbuf = append(c.pbuf, buf...)
			return nil
		}
		line := buf[:i+1]
		buf = buf[i+1:]
		if len(c.pbuf) > 0 {
			c.pbuf = append(c.pbuf, line...)
			line = c.pbuf
		}
		err := c.processLine(line)
		c.pbuf = c.pbuf[:0]
		if cap(c.pbuf) > int(c.mcl)*2 {
			c.pbuf = nil
		}
		if err != nil {
			if err == errSwitchReader {
				c.parseRest = buf
			}
			return err
		}
		if c.ps == psPayload && len(buf) < c.pa.size+2 {
			// The payload continues in a later read, which will overwrite
			// the buffer the arguments point into: keep a copy.
			c.saveArgs()
		}
	}
	return nil
}

// parsePayload takes payload bytes from buf and returns what is left.
func (c *client) parsePayload(buf []byte) ([]byte, error) {
	need := c.pa.size + 2
	if len(c.pmsg) == 0 && len(buf) >= need {
		if buf[need-2] != '\r' || buf[need-1] != '\n' {
			return nil, errUnknownOp
		}
		c.ps = psLine
		c.handler().processMsg(c, buf[:c.pa.size])
		return buf[need:], nil
	}
	take := need - len(c.pmsg)
	if take > len(buf) {
		take = len(buf)
	}
	if c.pmsg == nil {
		c.pmsg = make([]byte, 0, need)
	}
	c.pmsg = append(c.pmsg, buf[:take]...)
	buf = buf[take:]
	if len(c.pmsg) < need {
		return buf, nil
	}
	if c.pmsg[need-2] != '\r' || c.pmsg[need-1] != '\n' {
		return nil, errUnknownOp
	}
	c.ps = psLine
	c.handler().processMsg(c, c.pmsg[:c.pa.size])
	if cap(c.pmsg) > maxBufSize {
		c.pmsg = nil // large payloads are rare: do not pin their memory
	} else {
		c.pmsg = c.pmsg[:0]
	}
	return buf, nil
}

// saveArgs copies the PUB (or RMSG) arguments out of the read buffer.
func (c *client) saveArgs() {
	pa := &c.pa
	c.abuf = append(c.abuf[:0], pa.subject...)
	c.abuf = append(c.abuf, pa.reply...)
	c.abuf = append(c.abuf, pa.acc...)
	c.abuf = append(c.abuf, pa.queues...)
	n1 := len(pa.subject)
	n2 := n1 + len(pa.reply)
	n3 := n2 + len(pa.acc)
	hadAcc := pa.acc != nil
	pa.subject, pa.reply, pa.acc, pa.queues = c.abuf[:n1:n1], c.abuf[n1:n2:n2], c.abuf[n2:n3:n3], c.abuf[n3:]
	if !hadAcc {
		pa.acc = nil
	}
}

// splitArgs splits a control line's arguments on spaces and tabs into out
// and returns how many there were; more than len(out) returns len(out)+1.
func splitArgs(line []byte, out [][]byte) int {
	n := 0
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		if n == len(out) {
			return n + 1
		}
		out[n] = line[start:i]
		n++
	}
	return n
}

// parseSize parses a non-negative decimal; -1 if it is not one.
func parseSize(b []byte) int {
	if len(b) == 0 || len(b) > 10 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Operation codes, found case-insensitively from the first word of a line.
type opCode uint8

const (
	opUnknown opCode = iota
	opPub
	opHPub
	opSub
	opUnsub
	opPing
	opPong
	opConnect
	opInfo
	opRSub   // RS+ (routes)
	opRUnsub // RS- (routes)
	opRMsg   // RMSG (routes)
	opHMsg   // HMSG (routes; clients never send it)
	opLSub   // LS+ (leaf nodes)
	opLUnsub // LS- (leaf nodes)
	opLMsg   // LMSG (leaf nodes)
	opErr    // -ERR (from a server we connected to)
	opOK     // +OK
	opASub   // A+ (gateways: interest in a whole account)
	opAUnsub // A- (gateways)
)

// lookupOp identifies word, ignoring ASCII case, without allocating.
func lookupOp(word []byte) opCode {
	switch len(word) {
	case 2:
		if word[0]|0x20 == 'a' && word[1] == '+' {
			return opASub
		}
		if word[0]|0x20 == 'a' && word[1] == '-' {
			return opAUnsub
		}
	case 3:
		if eqFold(word, "pub") {
			return opPub
		}
		if eqFold(word, "sub") {
			return opSub
		}
		if eqFold(word, "+ok") {
			return opOK
		}
		return lookupPeerOp(word)
	case 4:
		if eqFold(word, "-err") {
			return opErr
		}
		if eqFold(word, "rmsg") {
			return opRMsg
		}
		if eqFold(word, "hmsg") {
			return opHMsg
		}
		if eqFold(word, "lmsg") {
			return opLMsg
		}
		if eqFold(word, "hpub") {
			return opHPub
		}
		if eqFold(word, "ping") {
			return opPing
		}
		if eqFold(word, "pong") {
			return opPong
		}
		if eqFold(word, "info") {
			return opInfo
		}
	case 5:
		if eqFold(word, "unsub") {
			return opUnsub
		}
	case 7:
		if eqFold(word, "connect") {
			return opConnect
		}
	}
	return opUnknown
}

// lookupPeerOp identifies the three-letter interest operations of routes
// and leaf nodes (RS+, RS-, LS+, LS-).
func lookupPeerOp(word []byte) opCode {
	w0, w1, w2 := word[0]|0x20, word[1]|0x20, word[2]
	if w1 != 's' || (w0 != 'r' && w0 != 'l') || (w2 != '+' && w2 != '-') {
		return opUnknown
	}
	switch {
	case w0 == 'r' && w2 == '+':
		return opRSub
	case w0 == 'r':
		return opRUnsub
	case w2 == '+':
		return opLSub
	}
	return opLUnsub
}

// eqFold compares b with the lower-case ASCII word lw, ignoring case.
func eqFold(b []byte, lw string) bool {
	if len(b) != len(lw) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != lw[i] {
			return false
		}
	}
	return true
}

// processLine handles one complete control line, terminator included.
func (c *client) processLine(line []byte) error {
	if len(line) > int(c.mcl) {
		return errMaxCtrlLine
	}
	// Strip the terminator: "\n" or "\r\n".
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	i := 0
	for i < len(line) && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	op := lookupOp(line[:i])
	args := line[i:]
	if c.tracing() {
		c.traceIn(line)
	}
	return c.handler().processOp(c, op, args)
}

// processOp is the client protocol: PUB, HPUB, SUB, UNSUB, PING, PONG,
// CONNECT and INFO.
func (clientProtocol) processOp(c *client, op opCode, args []byte) error {
	hasArgs := len(args) > 0
	if op != opConnect && !c.connected && c.authRequired {
		return errAuthFirst
	}
	switch op {
	case opPub:
		if !hasArgs {
			return errUnknownOp
		}
		return c.processPub(args)
	case opHPub:
		if !hasArgs {
			return errUnknownOp
		}
		return c.processHPub(args)
	case opSub:
		if !hasArgs {
			return errUnknownOp
		}
		return c.processSub(args)
	case opUnsub:
		if !hasArgs {
			return errUnknownOp
		}
		return c.processUnsub(args)
	case opPing:
		c.processPing()
		return nil
	case opPong:
		c.processPong()
		return nil
	case opConnect:
		if !hasArgs {
			return errUnknownOp
		}
		return c.processConnect(args)
	case opInfo:
		// Clients may echo INFO; it carries nothing for a client connection.
		return nil
	}
	return errUnknownOp
}

func (c *client) processPub(args []byte) error {
	var a [4][]byte
	n := splitArgs(args, a[:])
	c.pa.hdr = -1
	switch n {
	case 2:
		c.pa.subject, c.pa.reply = a[0], nil
		c.pa.size = parseSize(a[1])
	case 3:
		c.pa.subject, c.pa.reply = a[0], a[1]
		c.pa.size = parseSize(a[2])
	default:
		return argErr("processPub", args)
	}
	if c.pa.size < 0 {
		return argErr("processPub", args)
	}
	return c.startPayload()
}

func (c *client) processHPub(args []byte) error {
	var a [4][]byte
	n := splitArgs(args, a[:])
	var hs, ts []byte
	switch n {
	case 3:
		c.pa.subject, c.pa.reply, hs, ts = a[0], nil, a[1], a[2]
	case 4:
		c.pa.subject, c.pa.reply, hs, ts = a[0], a[1], a[2], a[3]
	default:
		return argErr("processHeaderPub", args)
	}
	c.pa.hdr, c.pa.size = parseSize(hs), parseSize(ts)
	if c.pa.hdr < 0 || c.pa.size < 0 || c.pa.hdr > c.pa.size {
		return argErr("processHeaderPub", args)
	}
	if !c.headers {
		return argErr("processHeaderPub", args)
	}
	return c.startPayload()
}

// startPayload checks the announced size and switches to payload reading.
func (c *client) startPayload() error {
	if c.pa.size > int(c.mpay) {
		c.srv.Errorf("%s - %s", c.logPrefix(), "Maximum Payload Violation")
		return errMaxPayload
	}
	if c.pedantic && !IsValidPublishSubject(bytesToString(c.pa.subject)) {
		// The reference reports the bad subject and still delivers it.
		c.sendErr("Invalid Publish Subject")
	}
	c.ps = psPayload
	return nil
}
