# Entry points. Everything goes through scripts/setup.sh and CMake presets.
#   make run    set up, build (release) and run the demo
#   make test   set up, then the whole suite: dev (gcc), ASan, UBSan, fuzz smoke
#   make gate   the quality gate: a PASS/FAIL checklist of every check
.PHONY: all setup run test gate dev asan ubsan fuzz release clean

all: run

setup:
	@scripts/setup.sh

run: setup
	cmake --preset release
	cmake --build --preset release
	scripts/demo.sh build/release

test: setup dev asan ubsan fuzz
	@echo "make test: dev, asan, ubsan and fuzz workflows all passed"

gate:
	scripts/quality-gate

dev asan ubsan fuzz release: setup
	cmake --workflow --preset $@

clean:
	rm -rf build
