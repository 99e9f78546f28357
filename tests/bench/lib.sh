# Shared by the whole-process benchmarks (source it after `cd` to the
# repository root): a scratch directory and Postfix's smtp-sink on a free
# loopback port, both gone when the script exits.

# bench_workdir NAME: a fresh directory in $work (readable by the `nobody`
# the sink runs as), removed on exit with the sink.
bench_workdir() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$work"
  sink_pid=
  trap bench_cleanup EXIT
}

bench_cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}

# bench_sink BACKLOG [SMTP-SINK OPTIONS...]: smtp-sink on 127.0.0.1:$port
# (a free port), in the background ($sink_pid); returns once it accepts.
bench_sink() {
  local backlog=$1
  shift
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  smtp-sink -u nobody "$@" "127.0.0.1:$port" "$backlog" &
  sink_pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
}
