#!/usr/bin/env bash
# Start a local server in the background, wait for its port, run the client in `lobby`,
# and stop exactly that server (by its PID) when the client exits.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=127.0.0.1
PORT="${PORT:-8089}"
# Your login name as the nick, unless the server would refuse it (root is reserved): guest.
NICK="${NICK:-$("$BIN/python" -c '
import getpass
from protocol.names import normalize_nick
try:
    print(normalize_nick(getpass.getuser()))
except (ValueError, OSError, KeyError):
    print("guest")
')}"
LOG="$(mktemp -t wirechat-server.XXXXXX)"

echo "starting chat-server on $HOST:$PORT (its log: $LOG)..."

"$BIN/chat-server" --host "$HOST" --port "$PORT" 2>"$LOG" &
SERVER_PID=$!
cleanup() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    rm -f "$LOG"
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
    if grep -q "listening on" "$LOG"; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "chat-server did not start:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q "listening on" "$LOG" || { echo "chat-server did not open its port in time" >&2; exit 1; }
echo "starting chat-client as $NICK in #lobby (quitting it stops the server)..."

"$BIN/chat-client" --host "$HOST" --port "$PORT" --nick "$NICK" --room lobby
