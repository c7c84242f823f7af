#!/usr/bin/env bash
# examples/http_server.rs against a real client, curl: keep-alive (two URLs
# in one curl), `Connection: close`, HTTP/1.0, HEAD, 404 (also for `..`),
# and a 1 MiB POST echoed byte for byte, with Content-Length, with
# `Expect: 100-continue` and chunked. Loopback only; every curl and the
# wait for the server are bounded by timeouts; the server is killed at the
# end, whatever happens.
#
#   bash .ci/http_server_curl.sh        (called from .ci/run)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v curl >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    $sudo apt-get install -y curl
fi

cargo build --features hyper --example http_server
server_bin="target/debug/examples/http_server"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/www"
printf 'hello from spindle\n' >"$work/www/hello.txt"
printf '<h1>index</h1>\n' >"$work/www/index.html"
head -c 1048576 /dev/urandom >"$work/big.bin"

# Start on port 0; the first line of output is "http://ADDR ...".
"$server_bin" --addr 127.0.0.1:0 --dir "$work/www" >"$work/out" 2>"$work/err" &
server_pid=$!
base=""
for _ in $(seq 1 100); do
    if [ -s "$work/out" ]; then
        base="$(head -n 1 "$work/out" | cut -d' ' -f1)"
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$base" ]; then
    echo "http_server did not start:" >&2
    cat "$work/err" >&2
    exit 1
fi
echo "server: $(head -n 1 "$work/out")"

fail() {
    echo "FAIL: $*" >&2
    echo "-- server stderr:" >&2
    cat "$work/err" >&2
    exit 1
}
c() { curl --silent --show-error --max-time 20 "$@"; }

# Keep-alive: two URLs in one curl go over one connection.
c -v -o "$work/k1" "$base/hello.txt" -o "$work/k2" "$base/" 2>"$work/keepalive.log"
cmp "$work/k1" "$work/www/hello.txt" || fail "keep-alive: first body"
cmp "$work/k2" "$work/www/index.html" || fail "keep-alive: second body"
grep -q "Re-using existing connection" "$work/keepalive.log" || fail "keep-alive: connection not reused"
echo "ok: keep-alive"

# Connection: close: the server answers, then closes.
c -v -H "Connection: close" -o "$work/close" "$base/hello.txt" 2>"$work/close.log"
cmp "$work/close" "$work/www/hello.txt" || fail "Connection: close: body"
grep -qi "< connection: close" "$work/close.log" || fail "Connection: close: not echoed"
echo "ok: Connection: close"

# HTTP/1.0.
c --http1.0 -o "$work/h10" "$base/hello.txt"
cmp "$work/h10" "$work/www/hello.txt" || fail "HTTP/1.0 body"
echo "ok: HTTP/1.0"

# HEAD: headers, with the length, and no body.
c -I "$base/hello.txt" >"$work/head"
grep -qi "^content-length: 19" "$work/head" || fail "HEAD: content-length"
echo "ok: HEAD"

# 404: missing file, and a path trying to leave the directory.
[ "$(c -o /dev/null -w '%{http_code}' "$base/missing")" = 404 ] || fail "404 for a missing file"
[ "$(c --path-as-is -o /dev/null -w '%{http_code}' "$base/../../etc/passwd")" = 404 ] ||
    fail "404 for .."
echo "ok: 404"

# 1 MiB POST echoed byte for byte: sized without Expect, sized with
# `Expect: 100-continue`, and chunked.
c -H "Expect:" --data-binary @"$work/big.bin" -o "$work/echo1" "$base/echo"
cmp "$work/echo1" "$work/big.bin" || fail "POST with Content-Length"
c -v -H "Expect: 100-continue" --data-binary @"$work/big.bin" -o "$work/echo2" "$base/echo" \
    2>"$work/expect.log"
cmp "$work/echo2" "$work/big.bin" || fail "POST with Expect: 100-continue"
grep -q "< HTTP/1.1 100 Continue" "$work/expect.log" || fail "no 100 Continue"
c -H "Transfer-Encoding: chunked" --data-binary @"$work/big.bin" -o "$work/echo3" "$base/echo"
cmp "$work/echo3" "$work/big.bin" || fail "chunked POST"
echo "ok: 1 MiB POST (Content-Length, Expect: 100-continue, chunked)"

# A client that gives up mid-body costs its connection only, and the
# server logs nothing for it.
c -H "Content-Length: 1000000" --data-binary "only a little" --max-time 1 \
    -o /dev/null "$base/echo" 2>/dev/null || true
c -o "$work/after" "$base/hello.txt"
cmp "$work/after" "$work/www/hello.txt" || fail "serving after a client gave up"
echo "ok: a client leaving mid-body"

kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
if [ -s "$work/err" ]; then
    fail "the server logged errors"
fi
echo "http_server: all curl checks passed"
