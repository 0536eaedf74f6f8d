# Starts a throw-away PostgreSQL cluster on a free loopback port (sourced by scripts/test and bench/).
# Needs: the postgresql package, a `cleanups` array the caller runs on exit, and `log`.
# Sets POSTGRES_URL (trust authentication, user postgres, database postgres).
start_postgres() {
    local bin port dir as_postgres=()
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    dir="$(mktemp -d)"
    # PostgreSQL refuses to run as root.
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$dir"
        as_postgres=(runuser -u postgres --)
    fi
    log "starting PostgreSQL on 127.0.0.1:$port"
    "${as_postgres[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200 ${POSTGRES_EXTRA_OPTIONS:-}" start >/dev/null
    cleanups+=("${as_postgres[*]} $bin/pg_ctl -D $dir/data -m immediate stop >/dev/null; rm -rf $dir")
    POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}
