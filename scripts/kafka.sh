#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller) on 127.0.0.1 for local runs and tests.
#
#   scripts/kafka.sh start | stop | status | restart
#
# The broker is assembled from Maven Central (scripts/kafka/pom.xml) into .kafka/ (git-ignored),
# its storage formatted once, and started in the background. `start` is idempotent: a broker that
# is already up is left alone. It returns only once the broker has logged that it started and its
# port accepts connections (clients still wait for a metadata answer before they use it).
#
# Environment (all optional):
#   KAFKA_PORT             client port                      (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port            (default 9093)
#   KAFKA_HOME_DIR         where libs, data and logs live   (default <repo>/.kafka)
#   KAFKA_HEAP             JVM heap                         (default 768m)
#   KAFKA_START_TIMEOUT_S  how long start waits at most     (default 120)
set -euo pipefail

repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
home_dir=${KAFKA_HOME_DIR:-$repo_dir/.kafka}
heap=${KAFKA_HEAP:-768m}
start_timeout_s=${KAFKA_START_TIMEOUT_S:-120}
stop_timeout_s=30

pom="$repo_dir/scripts/kafka/pom.xml"
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
libs_dir="$home_dir/libs-$kafka_version"
instance_dir="$home_dir/broker-$port"
data_dir="$instance_dir/data"
logs_dir="$instance_dir/logs"
props="$instance_dir/server.properties"
pid_file="$instance_dir/kafka.pid"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

broker_pid() {
  [[ -f $pid_file ]] || return 1
  local pid
  pid=$(cat "$pid_file")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && printf '%s' "$pid"
}

ensure_libs() {
  if [[ -f $libs_dir/.complete ]]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: Maven is needed to fetch Kafka $kafka_version"; exit 1; }
  command -v java >/dev/null || { log "java not found: Java 17 is needed to run Kafka"; exit 1; }
  log "fetching Apache Kafka $kafka_version from Maven Central into $libs_dir"
  rm -rf "$libs_dir.tmp"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs_dir.tmp" >&2
  rm -rf "$libs_dir"
  mv "$libs_dir.tmp" "$libs_dir"
  touch "$libs_dir/.complete"
}

write_props() {
  mkdir -p "$data_dir" "$logs_dir"
  cat >"$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data_dir
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
PROPS
}

format_storage() {
  if [[ -f $data_dir/meta.properties ]]; then return 0; fi
  local cluster_id
  cluster_id=$(java -cp "$libs_dir/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  log "formatting KRaft storage (cluster $cluster_id)"
  java "-Dlog4j.configuration=file:$repo_dir/scripts/kafka/log4j.properties" "-Dkafka.logs.dir=$logs_dir" -cp "$libs_dir/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$props" >/dev/null
}

cmd_start() {
  if pid=$(broker_pid); then
    if port_open "$port"; then log "already running (pid $pid, 127.0.0.1:$port)"; return 0; fi
  fi
  if port_open "$port"; then
    log "127.0.0.1:$port is taken by another process; set KAFKA_PORT to use another port"; exit 1
  fi
  ensure_libs
  write_props
  format_storage
  : >"$logs_dir/server.log"
  log "starting broker on 127.0.0.1:$port"
  # setsid: the broker outlives this shell and a Ctrl-C in it.
  setsid java -Xms256m "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true \
    "-Dkafka.logs.dir=$logs_dir" "-Dlog4j.configuration=file:$repo_dir/scripts/kafka/log4j.properties" \
    -cp "$libs_dir/*" kafka.Kafka "$props" >"$logs_dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$pid_file"
  local waited_s=0
  until grep -q 'Kafka Server started' "$logs_dir/server.log" 2>/dev/null && port_open "$port"; do
    if ! broker_pid >/dev/null; then
      log "broker exited during start; last lines of its log:"; tail -n 30 "$logs_dir/server.log" "$logs_dir/stdout.log" >&2; exit 1
    fi
    if ((waited_s >= start_timeout_s)); then
      log "broker not ready after ${start_timeout_s}s; see $logs_dir/server.log"; exit 1
    fi
    sleep 1; waited_s=$((waited_s + 1))
  done
  log "ready (pid $(cat "$pid_file"), 127.0.0.1:$port, ${waited_s}s)"
}

cmd_stop() {
  local pid
  if ! pid=$(broker_pid); then log "not running"; rm -f "$pid_file"; return 0; fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local waited_s=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited_s >= stop_timeout_s)); then log "still up after ${stop_timeout_s}s, killing"; kill -KILL "$pid" 2>/dev/null || true; break; fi
    sleep 1; waited_s=$((waited_s + 1))
  done
  rm -f "$pid_file"
  log "stopped"
}

cmd_status() {
  local pid
  if pid=$(broker_pid) && port_open "$port"; then echo "running (pid $pid, 127.0.0.1:$port)"; return 0; fi
  echo "not running (127.0.0.1:$port)"; return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop; cmd_start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
