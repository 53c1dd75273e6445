#!/usr/bin/env bash
# The test command of s3ingest.
#
# On a fresh Debian machine with Go it installs what the tests need, then runs
# go vet and the whole test suite against real servers:
#   - redis-server and PostgreSQL (apt-get, only if missing);
#   - SeaweedFS (S3 + STS + IAM), built from source once into
#     ~/.cache/s3ingest/weed-$V (about 17 minutes on 2 cores; reused afterwards).
# internal/testenv starts private server instances on free ports for each test
# binary; nothing listens on fixed ports.
#
# Usage: scripts/test.sh [packages] [go test flags]
#   scripts/test.sh                       # everything, then each fuzz target for 5s
#   scripts/test.sh -run TestIngest       # extra flags go to go test
#   scripts/test.sh ./worker/... -v       # only some packages
#   S3INGEST_FUZZTIME=2m scripts/test.sh  # extended mode: each fuzz target for 2 minutes (or a count: 200000x)
#   S3INGEST_FUZZTIME=0 scripts/test.sh   # no fuzzing
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# SeaweedFS version: keep in sync with WeedVersion in internal/testenv/s3.go.
V=v0.0.0-20261109003541-7506e5f91cd6
CACHE="$HOME/.cache/s3ingest"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not installed (Go 1.26 or newer is required)"

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (install the packages yourself or run as root)"
	fi
}

have_pg_bin() {
	command -v "$1" >/dev/null 2>&1 && return 0
	compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}

# 1. Debian packages, only if something is missing.
pkgs=()
command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
if ! have_pg_bin initdb || ! have_pg_bin pg_ctl || ! have_pg_bin postgres; then
	pkgs+=(postgresql)
fi
if ((${#pkgs[@]})); then
	log "installing ${pkgs[*]}"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
fi

# 2. SeaweedFS, built once into the cache. A lock keeps concurrent runs from
#    building twice: the second waits for the first.
build_weed() {
	local weed=$1 work src tmp
	work=$(mktemp -d)
	# Download outside this module so go.mod/go.sum stay untouched.
	src=$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$V" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	rmdir "$work"
	[[ -n $src && -d $src ]] || die "go mod download github.com/seaweedfs/seaweedfs@$V gave no source directory"
	tmp="$weed.tmp.$$"
	log "building SeaweedFS $V into $weed (about 17 min on 2 cores, only once; log: $CACHE/build.log)"
	if ! (cd "$src" && GOWORK=off go build -o "$tmp" ./weed) >"$CACHE/build.log" 2>&1; then
		rm -f "$tmp"
		tail -n 50 "$CACHE/build.log" >&2
		die "building SeaweedFS failed (full log: $CACHE/build.log)"
	fi
	mv -f "$tmp" "$weed"
}

if [[ -n ${S3INGEST_WEED_BIN:-} ]]; then
	[[ -x $S3INGEST_WEED_BIN ]] || die "S3INGEST_WEED_BIN=$S3INGEST_WEED_BIN is not an executable"
else
	weed="$CACHE/weed-$V"
	if [[ ! -x $weed ]]; then
		mkdir -p "$CACHE"
		exec 9>"$CACHE/.build.lock"
		if ! flock -n 9; then
			log "another SeaweedFS build is in progress (lock $CACHE/.build.lock); waiting for it"
			flock 9
		fi
		[[ -x $weed ]] || build_weed "$weed"
		flock -u 9
		exec 9>&-
	fi
	export S3INGEST_WEED_BIN="$weed"
fi

# 3. vet and test. Arguments that look like package patterns replace ./...;
#    everything else is passed to go test.
pkgargs=()
flagargs=()
for a in "$@"; do
	case $a in
	./* | ../* | . | github.com/*) pkgargs+=("$a") ;;
	*) flagargs+=("$a") ;;
	esac
done
((${#pkgargs[@]})) || pkgargs=(./...)

log "go vet ${pkgargs[*]}"
go vet "${pkgargs[@]}"
log "go test -race -count=1 -timeout 25m ${pkgargs[*]} ${flagargs[*]}"
go test -race -count=1 -timeout 25m "${pkgargs[@]}" "${flagargs[@]}"

# 4. Memory tests measure the heap, which the race detector inflates: they
#    skip themselves under -race and run here without it.
if ((${#pkgargs[@]} == 1)) && [[ ${pkgargs[0]} == ./... ]] && ((${#flagargs[@]} == 0)); then
	log "go test -count=1 -run MemoryFlat (without -race)"
	go test -count=1 -timeout 10m -run 'MemoryFlat' ./parsers/ ./worker/sink/ ./bench/ ./internal/e2e/
fi

# 5. Fuzzing: each fuzz target runs S3INGEST_FUZZTIME (20000 inputs by
#    default, a few seconds each; a count like 200000x or a duration like 2m in
#    the extended mode; 0 to skip) from its seed corpus (the conformance cases
#    and testdata/). go test -fuzz takes one target per run. Runs after the
#    whole suite, or whenever S3INGEST_FUZZTIME is set.
#    Go 1.26's fuzz coordinator can fail a run with a bare "context deadline
#    exceeded" when a duration -fuzztime ends while a worker is mid-input
#    (golang/go#75804, fixed in Go 1.27): no input failed. A count has no
#    deadline to race, hence the default; with a duration, that failure (and
#    only that: a real one always writes "Failing input written to …") is run
#    again once.
FUZZTIME=${S3INGEST_FUZZTIME:-20000x}
fuzz_one() {
	local pkg=$1 target=$2 out attempt
	for attempt in 1 2; do
		log "go test -run '^\$' -fuzz '^$target\$' -fuzztime $FUZZTIME $pkg"
		if out=$(go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" -timeout 30m "$pkg" 2>&1); then
			printf '%s\n' "$out"
			return 0
		fi
		printf '%s\n' "$out"
		if ((attempt == 1)) && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
			log "$target: the fuzz coordinator's deadline race (golang/go#75804), no failing input: once more"
			continue
		fi
		return 1
	done
}
if [[ $FUZZTIME != 0 ]] && { [[ -n ${S3INGEST_FUZZTIME:-} ]] ||
	{ ((${#pkgargs[@]} == 1)) && [[ ${pkgargs[0]} == ./... ]] && ((${#flagargs[@]} == 0)); }; }; then
	for t in ./parsers/:FuzzCSV ./parsers/:FuzzJSON ./parsers/:FuzzSniff ./parsers/:FuzzParquet ./parsers/:FuzzCompression \
		./parsers/internal/parquetguard/:FuzzSnappyPrefix; do
		fuzz_one "${t%%:*}" "${t#*:}"
	done
fi
