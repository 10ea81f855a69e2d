package server

// MQTT over WebSocket, as the reference serves it: on the websocket
// listener, an upgrade request for the path "/mqtt" (query ignored; the
// path is matched exactly) becomes an MQTT connection whatever
// subprotocol the client offers, and the answer names the subprotocol
// "mqtt" (RFC 6455 section 4.2.2; MQTT 5 section 6). Without an mqtt
// block the path is refused with 404 ("mqtt websocket endpoint not
// enabled"). Each binary message carries MQTT bytes: packets may span
// messages and messages may hold several packets (mqttRead frames them).
//
// Such a connection is an MQTT client (mqttConn) with websocket framing
// (wsConn): it authenticates as MQTT clients do, against the mqtt block,
// with connection type MQTT_WS for users' allowed_connection_types, is
// logged with the prefix "mid_ws:" and shown in /connz with type "mqtt".

import (
	"net/http"
)

// mqttWSPath is the request path of MQTT over websocket.
const mqttWSPath = "/mqtt"

// wsWantsMQTT reports whether an upgrade request asks for MQTT; it fails
// when no MQTT listener is configured.
func (s *Server) wsWantsMQTT(r *http.Request) (bool, error) {
	if r.URL.Path != mqttWSPath {
		return false, nil
	}
	if s.getOpts().MQTT.Port == 0 {
		return false, wsRefuse(http.StatusNotFound, "mqtt websocket endpoint not enabled")
	}
	return true, nil
}

// mqttWSProtocolHeader is the 101 answer's line naming the subprotocol,
// spelled as the reference spells it.
const mqttWSProtocolHeader = "Sec-Websocket-Protocol: mqtt\r\n"
