# LeadLedger: `make demo` and `make test` set up what they need on a fresh Debian machine.
SWIFT ?= swift
SWIFT_FLAGS ?=
DEMO_LEDGER ?= demo.ledger

.PHONY: demo test setup build release bench soak format clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build $(SWIFT_FLAGS)

release: setup
	$(SWIFT) build -c release $(SWIFT_FLAGS)

test: setup
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	# One test at a time: the command-line and crash tests wait for child processes on Swift's
	# cooperative threads (two on a two-core machine), which would stall the timed socket and
	# append tests running beside them. Serially the suite takes about as long.
	$(SWIFT) test --skip-build --no-parallel $(SWIFT_FLAGS)
	SWIFT="$(SWIFT)" SWIFT_FLAGS="$(SWIFT_FLAGS)" ./scripts/fuzz-api.sh

# The demo shares the debug build with the tests: building the server's dependencies with
# optimisation would take far longer than the demo itself.
demo: build
	rm -rf $(DEMO_LEDGER)
	$$($(SWIFT) build --show-bin-path)/leadledger demo --ledger $(DEMO_LEDGER)

# Not part of `make test`: 100 SIGKILL trials against the CLI and the server, then a 30-minute mixed
# load (SOAK_TRIALS and SOAK_MINUTES change both). Prints a JSON summary; exits non-zero on a lost event.
soak: release
	python3 scripts/soak.py "$$($(SWIFT) build -c release --show-bin-path)/leadledger" \
		--trials $${SOAK_TRIALS:-100} --minutes $${SOAK_MINUTES:-30} --json soak.json

bench: setup
	cd Benchmarks && $(SWIFT) package benchmark --no-progress

# Lays out the sources as .swift-format says (the formatter ships with the Swift toolchain).
format:
	$(SWIFT) format --in-place --recursive --configuration .swift-format Sources Tests Benchmarks Package.swift

clean:
	rm -rf .build $(DEMO_LEDGER)
