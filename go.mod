module github.com/natsforge/nats-server

go 1.26.0

require (
	github.com/nats-io/nkeys v0.4.17
	golang.org/x/crypto v0.58.0
)

require golang.org/x/sys v0.49.0 // indirect
