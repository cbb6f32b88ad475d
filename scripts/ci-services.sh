#!/usr/bin/env bash
# Sourced by .ci/run (and usable by hand): installs Debian's chromium, postgresql, nginx (the
# reverse-proxy tests) and pdflatex with booktabs, longtable and adjustbox (the LaTeX-table test) when missing, starts a throw-away PostgreSQL server on a local port, and exports the variables
# the browser and PostgreSQL tests look for. Failures here skip those tests; they never
# stop the run.
pg_port=${FME_PG_PORT:-55432}
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
{ command -v pdflatex >/dev/null 2>&1 && kpsewhich adjustbox.sty >/dev/null 2>&1; } || need+=(texlive-latex-base texlive-latex-recommended texlive-latex-extra)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ci-services: apt-get install ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || echo "ci-services: apt-get failed; browser/PostgreSQL/nginx/LaTeX tests will be skipped"
fi
if command -v chromium >/dev/null 2>&1; then
  export FME_CHROMIUM="$(command -v chromium)"
fi
initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)
if [ -n "$initdb" ]; then
  export FME_PG_BIN="$(dirname "$initdb")"
  pgdata=$(mktemp -d /tmp/fme-pg.XXXXXX)
  run_as=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$pgdata"; run_as=(runuser -u postgres --); fi
  if "${run_as[@]}" "$FME_PG_BIN/initdb" -D "$pgdata/data" -U postgres --auth=trust >/dev/null \
     && "${run_as[@]}" "$FME_PG_BIN/pg_ctl" -D "$pgdata/data" -l "$pgdata/log" -w \
          -o "-p $pg_port -k $pgdata -c listen_addresses=127.0.0.1" start >/dev/null; then
    "$FME_PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE fme_test" \
      >/dev/null 2>&1 || true
    export FME_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/fme_test"
    echo "ci-services: PostgreSQL on port $pg_port"
  else
    echo "ci-services: could not start PostgreSQL; its tests will be skipped"
  fi
fi
