# LeadLedger: `make demo` and `make test` set up what they need on a fresh Debian machine.
SWIFT ?= swift
SWIFT_FLAGS ?=
DEMO_LEDGER ?= demo.ledger

.PHONY: demo cluster-demo test setup build release bench soak format docs clean

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

# A PostgreSQL primary and two synchronous standbys on loopback, two `serve --cluster` nodes.
cluster-demo: build
	./scripts/cluster-demo.sh "$$($(SWIFT) build --show-bin-path)/leadledger"

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

# The DocC catalogs (EventLog's LMDB rules, LMDB), built with the toolchain's docc into .build/docs;
# an unresolved link is an error.
DOC_MODULES = EventLog LMDB
DOCC ?= docc
docs: build
	$(SWIFT) package dump-symbol-graph --minimum-access-level public $(SWIFT_FLAGS) >/dev/null
	@set -e; graphs=$$($(SWIFT) build --show-bin-path)/../symbolgraph; for m in $(DOC_MODULES); do \
		rm -rf .build/docs/$$m.symbols && mkdir -p .build/docs/$$m.symbols; \
		cp $$graphs/$$m.symbols.json $$graphs/$$m@*.symbols.json .build/docs/$$m.symbols/ 2>/dev/null || true; \
		$(DOCC) convert Sources/$$m/$$m.docc --additional-symbol-graph-dir .build/docs/$$m.symbols \
			--output-path .build/docs/$$m.doccarchive --fallback-display-name $$m \
			--fallback-bundle-identifier org.leadledger.$$m --warnings-as-errors; \
	done

clean:
	rm -rf .build $(DEMO_LEDGER)
