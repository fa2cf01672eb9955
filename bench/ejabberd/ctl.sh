#!/usr/bin/env bash
# bench/ejabberd/ctl.sh start|stop|pgpid DIR PORT memory|archive|pgsql
# Runs Debian's ejabberd with its own config, spool and logs under DIR, as the calling user.
# "archive" adds mod_mam on SQLite: the durable class. "pgsql" adds mod_mam on a private
# PostgreSQL 15 under DIR/pg (port PORT + 1000, fsync and synchronous commit on, started under
# `taskset -c 0` so that every backend shares the server's core; as the postgres user when run
# as root, since initdb refuses root), with the old schema of /usr/share/ejabberd/sql/pg.sql.
set -euo pipefail
cmd=$1 dir=$2 port=${3:-5222} mode=${4:-memory}
here="$(cd "$(dirname "$0")" && pwd)"
node="parleybench${port}@localhost"
# A copy of ejabberdctl that runs as the calling user: Debian's switches to the ejabberd user
# through su, which drops the descriptor limit to 1024 (and prlimit needs CAP_SYS_RESOURCE).
pgport=$((port + 1000))
pgbin=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
  mkdir -p "$dir/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pg"
  as_pg "$pgbin/initdb" -D "$dir/pg/data" -A trust -U parley --no-sync >"$dir/logs/initdb.log"
  as_pg taskset -c 0 "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w \
    -o "-p $pgport -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" \
    start >/dev/null
  as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U parley ejabberd
  as_pg psql -q -h 127.0.0.1 -p "$pgport" -U parley -d ejabberd -v ON_ERROR_STOP=1 \
    -f /usr/share/ejabberd/sql/pg.sql >/dev/null
}
pg_stop() {
  [ -d "$dir/pg/data" ] && as_pg "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
}
ctl() { "$dir/ejabberdctl" --config-dir "$dir" --config "$dir/ejabberd.yml" --spool "$dir/spool" --logs "$dir/logs" --node "$node" "$@"; }
case "$cmd" in
  start)
    rm -rf "$dir" && mkdir -p "$dir/spool" "$dir/logs"
    sed 's/^INSTALLUSER=.*/INSTALLUSER=/' /usr/sbin/ejabberdctl > "$dir/ejabberdctl"
    chmod +x "$dir/ejabberdctl"
    ulimit -n "$(ulimit -Hn)"
    # Debian's ejabberdctl.cfg pins EJABBERD_CONFIG_PATH to /etc; drop that line in our copy.
    grep -v "^EJABBERD_CONFIG_PATH=" /etc/ejabberd/ejabberdctl.cfg > "$dir/ejabberdctl.cfg"
    cp /etc/ejabberd/inetrc "$dir/inetrc" 2>/dev/null || true
    sql="default_db: mnesia"; mam=""; muc_mam=false
    if [ "$mode" = pgsql ]; then
      pg_start
      sql="sql_type: pgsql
sql_server: \"127.0.0.1\"
sql_port: $pgport
sql_database: \"ejabberd\"
sql_username: \"parley\"
sql_password: \"unused\"
default_db: sql
new_sql_schema: false"
    elif [ "$mode" = archive ]; then
      sql="sql_type: sqlite
sql_database: \"$dir/ejabberd.db\"
default_db: sql
new_sql_schema: false"
      sqlite3 "$dir/ejabberd.db" < /usr/share/ejabberd/sql/lite.sql
    fi
    if [ "$mode" = pgsql ] || [ "$mode" = archive ]; then  # both archive with mod_mam
      mam="  mod_mam:
    db_type: sql
    default: always"
      muc_mam=true
    fi
    python3 - "$here/ejabberd.yml.in" "$dir/ejabberd.yml" "$port" "$sql" "$mam" "$muc_mam" <<'PY'
import sys
src, dst, port, sql, mam, muc_mam = sys.argv[1:]
text = open(src).read().replace("@PORT@", port).replace("@SQL@", sql).replace("@MAM@", mam)
text = text.replace("@MUC_MAM@", muc_mam).replace("@ARCHIVE@", "")
open(dst, "w").write(text)
PY
    ctl start
    # Started when it answers on the c2s port.
    for _ in $(seq 1 300); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "ejabberd ($mode) on 127.0.0.1:$port"; exit 0
      fi
      sleep 0.1
    done
    echo "ejabberd did not start; see $dir/logs" >&2; exit 1 ;;
  stop)
    ctl stop >/dev/null 2>&1 || true
    ctl stopped >/dev/null 2>&1 || true
    pkill -f "$node" 2>/dev/null || true
    pg_stop ;;
  pgpid)
    head -1 "$dir/pg/data/postmaster.pid" ;;
  pid)
    pgrep -f -- "-sname $node|-name $node" | head -1 ;;
  *) echo "usage: ctl.sh start|stop|pid|pgpid DIR PORT [memory|archive|pgsql]" >&2; exit 2 ;;
esac
