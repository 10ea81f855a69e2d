package server

// ClosedState is why a connection closed, as /connz reports it.
type ClosedState int

// The reasons a connection can close.
const (
	ClientClosed ClosedState = iota + 1
	AuthenticationTimeout
	AuthenticationViolation
	TLSHandshakeError
	SlowConsumerPendingBytes
	SlowConsumerWriteDeadline
	WriteError
	ReadError
	ParseError
	StaleConnection
	ProtocolViolation
	BadClientProtocolVersion
	WrongPort
	MaxConnectionsExceeded
	MaxPayloadExceeded
	MaxControlLineExceeded
	MaxSubscriptionsExceeded
	ServerShutdown
	AuthenticationExpired
	WrongGateway
	MissingAccount
	Revocation
	InternalClient
	ClusterNameConflict
	DuplicateRemoteLeafnodeConnection
	DuplicateClientID
	DuplicateServerName
	MinimumVersionRequired
	ClusterNamesIdentical
	Kicked
	ProxyNotTrusted
	ProxyRequired
	DuplicateRoute
	RouteRemoved
	MaxAccountConnectionsExceeded
)

var closedStateText = map[ClosedState]string{
	ClientClosed:                      "Client Closed",
	AuthenticationTimeout:             "Authentication Timeout",
	AuthenticationViolation:           "Authentication Failure",
	TLSHandshakeError:                 "TLS Handshake Failure",
	SlowConsumerPendingBytes:          "Slow Consumer (Pending Bytes)",
	SlowConsumerWriteDeadline:         "Slow Consumer (Write Deadline)",
	WriteError:                        "Write Error",
	ReadError:                         "Read Error",
	ParseError:                        "Parse Error",
	StaleConnection:                   "Stale Connection",
	ProtocolViolation:                 "Protocol Violation",
	BadClientProtocolVersion:          "Bad Client Protocol Version",
	WrongPort:                         "Incorrect Port",
	MaxConnectionsExceeded:            "Maximum Connections Exceeded",
	MaxPayloadExceeded:                "Maximum Message Payload Exceeded",
	MaxControlLineExceeded:            "Maximum Control Line Exceeded",
	MaxSubscriptionsExceeded:          "Maximum Subscriptions Exceeded",
	ServerShutdown:                    "Server Shutdown",
	AuthenticationExpired:             "Authentication Expired",
	WrongGateway:                      "Wrong Gateway",
	MissingAccount:                    "Missing Account",
	Revocation:                        "Credentials Revoked",
	InternalClient:                    "Internal Client",
	ClusterNameConflict:               "Cluster Name Conflict",
	DuplicateRemoteLeafnodeConnection: "Duplicate Remote LeafNode Connection",
	DuplicateClientID:                 "Duplicate Client ID",
	DuplicateServerName:               "Duplicate Server Name",
	MinimumVersionRequired:            "Minimum Version Required",
	ClusterNamesIdentical:             "Cluster Names Identical",
	Kicked:                            "Kicked",
	ProxyNotTrusted:                   "Proxy Not Trusted",
	ProxyRequired:                     "Proxy Required",
	DuplicateRoute:                    "Duplicate Route",
	RouteRemoved:                      "Route Removed",
	MaxAccountConnectionsExceeded:     "Maximum Account Connections Exceeded",
}

// String returns the reason as the reference words it.
func (cs ClosedState) String() string {
	if s, ok := closedStateText[cs]; ok {
		return s
	}
	return "Unknown State"
}
