# hac — build, demo, test, bench. See README.md.
# go, also under sudo (whose PATH often lacks /usr/local/go/bin)
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN     ?= bin/hac
# hac-agent, the agent alone, and hac-metrics, the Prometheus exporter it
# runs for agent.metrics, go next to hac: hac apply installs both on the
# nodes from there.
AGENT   := $(dir $(BIN))hac-agent
METRICS := $(dir $(BIN))hac-metrics
EXAMPLE ?= examples/ncp-two-node
OUT     ?= out
# Short fuzz runs in `make test`; longer by hand: make fuzz FUZZTIME=2m
FUZZTIME ?= 4s
# The version hac, hac-agent and hac-metrics report (hac version; hac plan
# compares it with the nodes'): make build VERSION=v1.2.3. Empty: the module
# version, or "devel". GOARCH=arm64 (say) builds all three for nodes of
# another architecture (hac apply --agent-binary bin/hac-agent, which takes
# hac-metrics from the same folder).
VERSION ?=
LDFLAGS := $(if $(VERSION),-ldflags "-X github.com/hac-project/hac/internal/version.release=$(VERSION)")

.PHONY: all build demo test vet unit fuzz bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(LDFLAGS) -o $(BIN) ./cmd/hac
	CGO_ENABLED=0 $(GO) build $(LDFLAGS) -o $(AGENT) ./cmd/hac-agent
	CGO_ENABLED=0 $(GO) build $(LDFLAGS) -o $(METRICS) ./cmd/hac-metrics

# demo: validate the seed example and build every node's files into $(OUT)/.
demo: build
	$(BIN) vet -v $(EXAMPLE)
	$(BIN) build -o $(OUT) $(EXAMPLE)
	@echo
	@find $(OUT) -type f -printf '%m  %p\n' | sort -k2
	@echo; echo '== $(OUT)/ncp-lb/lb1/etc/network/interfaces.d/hac-eth1'; cat $(OUT)/ncp-lb/lb1/etc/network/interfaces.d/hac-eth1
	@echo; $(BIN) explain $(EXAMPLE)
	@echo
	@if [ "$$(id -u)" = 0 ]; then \
	  echo '$$ sudo hac lab run $(EXAMPLE)'; $(BIN) lab run $(EXAMPLE) && \
	  echo && echo '$$ sudo hac lab run --how stop $(EXAMPLE)' && $(BIN) lab run --how stop $(EXAMPLE); \
	else \
	  echo 'skipped: the failover itself (hac lab run $(EXAMPLE): the cluster in network namespaces on this'; \
	  echo 'machine, a probe of the VIP every 10 ms while nodes fail) needs root: run sudo make demo'; \
	fi

# test: everything CI runs: vet, the race-enabled test suite (never from
# the test cache, so the real tools always run; network
# namespace and real-tool tests included: run as root with the tools
# installed, see .ci/run), then a short run of every fuzz target.
test: vet unit fuzz

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# fuzz: every fuzz target for FUZZTIME. A run that fails with only Go's
# fuzztime-deadline race (no failing input written) is run once more; any
# finding, or a second failure, fails.
fuzz:
	@for dir in $$(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do \
	  for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/p' $$dir/*_test.go); do \
	    echo "fuzz ./$$dir $$f ($(FUZZTIME))"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./$$dir 2>&1); rc=$$?; echo "$$out"; \
	    if [ $$rc -ne 0 ]; then \
	      echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written' || exit 1; \
	      echo "retry: a bare 'context deadline exceeded' at the -fuzztime boundary is Go 1.26's fuzz coordinator race (go.dev/issue/75804), not a finding"; \
	      $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./$$dir || exit 1; \
	    fi; \
	  done; \
	done

# bench: the benchmarks quoted in the README (compiler scaling, failover
# and idle footprint against keepalived, apply over SSH). Needs root for
# the failover, footprint and apply parts.
bench:
	./bench/run

clean:
	rm -rf bin $(OUT)
