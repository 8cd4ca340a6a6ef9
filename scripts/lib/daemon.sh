# shellcheck shell=bash
# Shared by the scripts that start a test server in the background (ferretdb.sh, toxiproxy.sh):
# wait until it is ready, or report why not; stop it by its pid file. Callers define `die`.

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
