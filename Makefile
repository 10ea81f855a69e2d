# The two commands a user needs: `make run` and `make test`.
GO       ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 1s

.PHONY: build run test check race bench fuzz soak windows clean

build:
	$(GO) build -o nats-server .

run: build
	./nats-server

# The whole suite, as CI runs it: formatting, vet (Linux and Windows),
# the Windows build, and every test.
test: check
	$(GO) test -count=1 -parallel 4 -timeout 9m ./...

check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows $(GO) build ./...
	GOOS=windows $(GO) vet ./...

# The fault-injection suite (test/fault_*_test.go) in its long form: every
# scenario runs ten times longer (NATS_SOAK=1), on R1 and R3 streams as in
# `make test` (NATS_FAULT_REPLICAS=n runs only Rn).
soak:
	NATS_SOAK=1 $(GO) test -count=1 -timeout 60m -run 'TestFault' -v ./test

race:
	$(GO) test -count=1 -race -timeout 15m ./...

bench:
	$(GO) test -run XXX -bench . -benchmem -benchtime $(BENCHTIME) ./...

# Runs every fuzz target for FUZZTIME, then copies the inputs the fuzzer
# found interesting from Go's cache into the package's testdata/fuzz, so the
# corpus is kept in the repo and replayed by every `make test`.
fuzz:
	@cache="$$($(GO) env GOCACHE)/fuzz"; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	    if [ -d "$$cache/$$pkg/$$f" ]; then mkdir -p "$$dir/testdata/fuzz/$$f"; cp -n "$$cache/$$pkg/$$f"/* "$$dir/testdata/fuzz/$$f/"; fi; \
	  done; \
	done

windows:
	GOOS=windows $(GO) build -o nats-server.exe .

clean:
	rm -f nats-server nats-server.exe
