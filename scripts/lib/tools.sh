# shellcheck shell=bash
# Shared by the scripts that build a test server with Go and start it in the background
# (ferretdb.sh, toxiproxy.sh): find Go, wait until the server is ready or report why not, stop it
# by its pid file. Callers define `die`.

# find_go: the go binary, on PATH or where the Go tarball installs it.
find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [ -x /usr/local/go/bin/go ]; then
    echo /usr/local/go/bin/go
  else
    die "go toolchain not found (PATH or /usr/local/go/bin)"
  fi
}

# daemon_wait NAME PID LOGFILE WHAT READY_COMMAND...: polls READY_COMMAND for ~30 s.
daemon_wait() {
  local name="$1" pid="$2" log="$3" what="$4"
  shift 4
  local i
  for i in $(seq 1 60); do
    if "$@"; then
      echo "$name started (pid $pid) on $what" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2 || true
      die "$name exited during startup"
    fi
    sleep 0.5
  done
  cat "$log" >&2 || true
  kill "$pid" 2>/dev/null || true
  die "$name did not answer on $what within 30 s"
}

# daemon_stop NAME PIDFILE: TERM, then KILL after 5 s.
daemon_stop() {
  local name="$1" pidfile="$2"
  [ -f "$pidfile" ] || { echo "$name: no pid file $pidfile" >&2; return 0; }
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
