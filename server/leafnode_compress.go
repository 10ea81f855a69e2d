package server

// Leaf compression, as the reference v2.15.2 negotiates it (observed
// through a proxy between two reference servers, both s2_auto):
//
//  1. the hub's INFO (in clear) names its mode in "compression";
//  2. the leaf chooses (compressionChoice, as routes). With "off" it
//     sends CONNECT with "compress_mode":"off" and nothing changes.
//     Otherwise it sends, in clear, an INFO holding only the hub's
//     client_id and its choice:
//     INFO {"server_id":"","server_name":"","version":"","proto":0,"go":"",
//     "host":"","port":0,"headers":false,"max_payload":0,"client_id":5,
//     "compression":"s2_auto"}
//     and from then on writes, and reads, S2 streams;
//  3. the hub chooses likewise from that INFO, switches both directions
//     right after it and sends its INFO again, compressed;
//  4. the leaf answers that INFO with CONNECT, compressed, whose
//     compress_mode is the level in use ("s2_uncompressed" for s2_auto
//     before a round trip is measured).
//
// The S2 streams are route_compress.go's (routeCompressor, routeInflater).
// Over WebSocket this server does not compress: its hub offers "off" and
// its leaf chooses "off", which the reference accepts either way.

import "time"

// leafCompressionMode is the mode this side offers or chooses with.
func (c *client) leafCompressionMode() string {
	lc := c.leaf
	switch {
	case lc.ws != nil:
		return CompressionOff
	case lc.solicited:
		return lc.remote.Compression.Mode
	}
	return c.srv.getOpts().LeafNode.Compression.Mode
}

// leafCompressionThresholds are s2_auto's thresholds for this connection.
func (c *client) leafCompressionThresholds() []time.Duration {
	if c.leaf.solicited {
		return c.leaf.remote.Compression.RTTThresholds
	}
	return c.srv.getOpts().LeafNode.Compression.RTTThresholds
}

// leafOfferCompression is step 2 on the leaf: when it chooses to compress,
// it tells the hub in an INFO, switches its writer and reports true (the
// hub's bytes after its INFO are then compressed).
func (c *client) leafOfferCompression(hub *leafInfoMsg) bool {
	choice := compressionChoice(c.leafCompressionMode(), hub.Compression)
	if choice == CompressionOff {
		return false
	}
	c.mu.Lock()
	c.queueOutbound(infoProto(&leafInfoMsg{ClientID: hub.ClientID, Compression: choice}))
	c.startCompression(newRouteCompressor(choice, c.leafCompressionThresholds()))
	c.mu.Unlock()
	c.addToFlush(c)
	return true
}

// leafAcceptCompression is step 3 on the hub: a leaf's INFO before its
// CONNECT names its choice; when ours is not "off" both directions switch
// after it and our INFO goes again, compressed. It reports whether the
// leaf's bytes after its INFO are compressed.
func (c *client) leafAcceptCompression(leaf *leafInfoMsg) bool {
	choice := compressionChoice(c.leafCompressionMode(), leaf.Compression)
	if choice == CompressionOff || c.out.z != nil {
		return false
	}
	info := c.srv.leafInfo(c)
	c.mu.Lock()
	c.startCompression(newRouteCompressor(choice, c.leafCompressionThresholds()))
	c.queueOutbound(infoProto(&info))
	c.mu.Unlock()
	c.addToFlush(c)
	return true
}

// leafCompressMode is CONNECT's compress_mode: the level in use, "off"
// without compression.
func (c *client) leafCompressMode() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routeCompression()
}
