# LeadLedger: `make demo` and `make test` set up what they need on a fresh Debian machine.
SWIFT ?= swift
SWIFT_FLAGS ?=
DEMO_LEDGER ?= demo.ledger

.PHONY: demo test setup build release bench clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build $(SWIFT_FLAGS)

release: setup
	$(SWIFT) build -c release $(SWIFT_FLAGS)

test: setup
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_FLAGS)

# The demo shares the debug build with the tests: building the server's dependencies with
# optimisation would take far longer than the demo itself.
demo: build
	rm -rf $(DEMO_LEDGER)
	$$($(SWIFT) build --show-bin-path)/leadledger demo --ledger $(DEMO_LEDGER)

bench: setup
	cd Benchmarks && $(SWIFT) package benchmark --no-progress

clean:
	rm -rf .build $(DEMO_LEDGER)
