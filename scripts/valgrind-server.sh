#!/usr/bin/env bash
# Runs framed-server under valgrind memcheck, passing all arguments through.
# Exits 99 on any memory error or definite/indirect leak. FRAMED_SERVER names
# the binary (default: the dev build).
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
  --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  "${FRAMED_SERVER:-build/dev/src/framed-server}" "$@"
