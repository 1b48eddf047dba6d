# Shared install helpers for START-POC.sh and scripts/test.sh (sourced, not run).
# Installs only from the npm registry and Debian's packages; as non-root, says what to install.

ensure_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "seqd needs Node.js 20 or newer: install it (Debian: apt-get install nodejs npm) and run this again." >&2
    exit 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "seqd needs Node.js 20 or newer; this is $(node --version)." >&2
    exit 1
  fi
}

# npm ci when node_modules is missing or older than the lock file (compiles better-sqlite3 from
# source when no prebuilt binary can be fetched: about a minute and a half).
ensure_npm_deps() {
  local stamp=node_modules/.seqd-installed
  if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || ! node -e "require('better-sqlite3')" 2>/dev/null; then
    echo "== installing dependencies (npm ci; better-sqlite3 may compile from source, ~90 s)"
    npm ci --no-audit --no-fund
    touch "$stamp"
  fi
}

# apt_install PACKAGE COMMAND: installs a Debian package when COMMAND is missing and we are root.
apt_install() {
  local pkg=$1 cmd=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing $pkg (apt)"
    if [ -z "${SEQD_APT_UPDATED:-}" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      export SEQD_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  fi
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "missing '$cmd': install the Debian/Ubuntu package '$pkg' (apt-get install $pkg) and run this again." >&2
    return 1
  fi
}

# apt_prefetch PACKAGE...: those of the Debian packages not installed yet, in one apt-get run
# (root only, else nothing). A head start, not a check: whoever needs a package still checks it.
apt_prefetch() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$pkg"); done
  [ ${#missing[@]} = 0 ] && return 0
  echo "== installing ${missing[*]} (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# etcd for the HA mode and its tests (Debian's etcd-server: /usr/bin/etcd). ETCD_BIN overrides.
ensure_etcd() {
  if [ -n "${ETCD_BIN:-}" ] && [ -x "$ETCD_BIN" ]; then return 0; fi
  apt_install etcd-server etcd
}

# PostgreSQL 15 for the PostgreSQL store's tests (Debian's postgresql-15; binaries outside PATH).
# Installing it as root creates Debian's `postgres` user, which the tests run the server as.
ensure_postgres() {
  local bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
  [ -x "$bin/initdb" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing postgresql-15 (apt)"
    if [ -z "${SEQD_APT_UPDATED:-}" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      export SEQD_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  fi
  if [ ! -x "$bin/initdb" ]; then
    echo "missing PostgreSQL 15 ($bin/initdb): install the Debian package postgresql-15 and run this again." >&2
    return 1
  fi
}
