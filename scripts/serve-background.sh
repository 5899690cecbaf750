# Sourced by the scripts that need a running server:
#   serve_in_background NAME BIN WORK serve-arguments...
# starts `BIN serve serve-arguments... --port 0` in the background, its output in WORK, and sets
# SERVER_PID and PORT once it listens; exits with a message naming NAME when it does not start.
serve_in_background() {
    local name=$1 bin=$2 work=$3
    shift 3
    "$bin" serve "$@" --port 0 >"$work/serve.out" 2>"$work/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        grep -q listening "$work/serve.out" 2>/dev/null && break
        sleep 0.1
    done
    PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/serve.out" | head -1)
    [ -n "$PORT" ] || { echo "$name: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
}
