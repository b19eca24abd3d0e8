# Shortcuts; the scripts do the work and need no make.
#   make run    = scripts/run    set up, build (release) and run the demo
#   make test   = scripts/test   the whole suite: dev (gcc), ASan, UBSan, fuzz smoke
#   make gate   = scripts/quality-gate   a PASS/FAIL checklist of every check
.PHONY: all setup run test gate dev asan ubsan fuzz release clean

all: run

setup:
	@scripts/setup.sh

run:
	scripts/run

test:
	scripts/test

gate:
	scripts/quality-gate

dev asan ubsan fuzz release: setup
	cmake --workflow --preset $@

clean:
	rm -rf build
