package server

// protoHandler is the protocol of one connection kind. The parser
// (parser.go) frames control lines and payloads the same way for every
// kind; what a line or a complete message means is the kind's business:
// clients publish and subscribe, routes carry remote interest (RS+/RS-)
// and routed messages (RMSG/HMSG). Gateways and leaf nodes add their own
// handler here, not branches in the parser.
type protoHandler interface {
	// processOp handles one control line: op and its arguments (the line
	// after the operation's name, terminator stripped).
	processOp(c *client, op opCode, args []byte) error
	// processMsg handles a complete payload announced by the last line
	// (c.pa holds its arguments).
	processMsg(c *client, msg []byte)
}

// clientProtocol is the protocol of CLIENT connections.
type clientProtocol struct{}

func (clientProtocol) processMsg(c *client, msg []byte) { c.processMsg(msg) }

// handler is the connection's protocol; connections built without one
// (internal clients, tests) speak the client protocol.
func (c *client) handler() protoHandler {
	if c.proto == nil {
		return clientProtocol{}
	}
	return c.proto
}
