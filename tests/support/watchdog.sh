#!/usr/bin/env bash
# Runs a command in its own process group and ends the whole group when standard input
# closes, i.e. when the test process that started it exits, however it exits.
setsid "$@" &
pid=$!
cat > /dev/null
kill -TERM -- "-$pid" 2>/dev/null
sleep 2
kill -KILL -- "-$pid" 2>/dev/null
exit 0
