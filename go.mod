module github.com/natsforge/nats-server

go 1.26.0

require (
	github.com/klauspost/compress v1.20.0
	github.com/minio/highwayhash v1.0.4
	github.com/nats-io/jwt/v2 v2.8.3
	github.com/nats-io/nats.go v1.55.0
	github.com/nats-io/nkeys v0.4.17
	go.etcd.io/raft/v3 v3.7.0
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
	google.golang.org/protobuf v1.36.11
)

require github.com/nats-io/nuid v1.0.1 // indirect
