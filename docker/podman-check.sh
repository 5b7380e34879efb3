#!/usr/bin/env bash
# Build the image with podman and smoke-test it: discovery, one fixture hook call, readiness and the
# image's own HEALTHCHECK. Prints PASS or FAIL; exits 0 with "skipped: podman not available" when
# there is no podman. Usage: bash docker/podman-check.sh   (from anywhere in the repository)
#
# Where container registries cannot be reached (as on this project's machines), the Dockerfile's base
# image is replaced by a stand-in: Debian bookworm minbase with python3, made with debootstrap from the
# Debian mirror and `podman import`ed under the base image's name. The stand-in is kept (podman
# storage + a rootfs tarball in the cache dir) so later runs are fast.
set -euo pipefail

if ! command -v podman >/dev/null 2>&1; then
  echo "skipped: podman not available"
  exit 0
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKERFILE="$REPO/docker/Dockerfile"
IMAGE="localhost/cds-mbc:podman-check"
NAME="cds-mbc-check-$$"
CACHE="${CDS_PODMAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cds-podman-check}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

log() { printf 'podman-check: %s\n' "$*" >&2; }

BASE="$(awk 'toupper($1) == "FROM" { print $2; exit }' "$DOCKERFILE")"
case "$BASE" in
  */*) FULL_BASE="$BASE" ;;
  *) FULL_BASE="docker.io/library/$BASE" ;;
esac

CTX=""
PORT=""
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  [[ -n "${KEEP_IMAGE:-}" ]] || podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  if [[ -n "$CTX" ]]; then rm -rf "$CTX"; fi
}
trap cleanup EXIT

fail() {
  log "$*"
  if podman container exists "$NAME" 2>/dev/null; then
    log "container log (last 40 lines):"
    podman logs --tail 40 "$NAME" >&2 2>&1 || true
  fi
  echo "FAIL"
  exit 1
}

# --- base image (real one if it can be pulled, else the debootstrap stand-in) -------------------
ensure_base() {
  if podman image exists "$FULL_BASE"; then
    return
  fi
  log "trying to pull $FULL_BASE"
  if timeout 60 podman pull -q "$FULL_BASE" >/dev/null 2>&1; then
    return
  fi
  log "cannot pull $FULL_BASE: building a stand-in (Debian bookworm minbase + python3)"
  command -v debootstrap >/dev/null 2>&1 || fail "debootstrap not installed (apt-get install debootstrap)"
  [[ "$(id -u)" -eq 0 ]] || fail "building the stand-in base needs root (debootstrap)"
  mkdir -p "$CACHE"
  local tarball="$CACHE/bookworm-python3-rootfs.tar"
  if [[ ! -s "$tarball" ]]; then
    local rootfs
    rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    debootstrap --variant=minbase \
      --include=python3,python3-venv,python-is-python3,ca-certificates \
      bookworm "$rootfs" "$MIRROR" >&2 || { rm -rf "$rootfs"; fail "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$tarball" "$FULL_BASE" >/dev/null
}

# --- build from a clean context (only what the Dockerfile copies) -------------------------------
build_image() {
  CTX="$(mktemp -d)"
  (cd "$REPO" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md cds cards fhir_fixtures) \
    | tar -C "$CTX" -xf -
  local volumes=()
  if [[ -f "$CA_BUNDLE" ]]; then
    volumes=(-v "$CA_BUNDLE:$CA_BUNDLE:ro")
  fi
  log "building $IMAGE (podman build --isolation chroot --format docker)"
  podman build --isolation chroot --format docker --pull=never "${volumes[@]}" \
    -f "$DOCKERFILE" -t "$IMAGE" "$CTX" >&2 || fail "podman build failed"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

HOST_NETWORK=""
run_container() {
  PORT="$(free_port)"
  local common=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -d --name "$NAME"
    -e CDS_AUTH=off -e CDS_LOG_LEVEL=INFO --read-only --tmpfs /tmp
    # Read-only root as in Kubernetes; the SQLite feedback store goes to the writable /tmp (podman
    # 4.3 ignores tmpfs mode/uid options here, so a tmpfs at /var/lib/cds stays root-owned).
    -e CDS_DATA_DIR=/tmp/cds-data)
  local err
  if err="$(podman run "${common[@]}" -p "127.0.0.1:$PORT:8080" "$IMAGE" 2>&1 >/dev/null)"; then
    return
  fi
  # Some sandboxes cannot set up container networking: fall back to the host network. The image's
  # HEALTHCHECK probes port 8080, so use 8080 when it is free.
  log "bridge networking failed ($(printf '%s' "$err" | tail -n 1)); retrying with --network host"
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  HOST_NETWORK=1
  if python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 8080)); s.close()' 2>/dev/null; then
    PORT=8080
  fi
  podman run "${common[@]}" --network host "$IMAGE" \
    cds-mbc serve --host 127.0.0.1 --port "$PORT" >/dev/null || fail "podman run failed"
}

# --- smoke test (python stdlib HTTP; no curl needed) ---------------------------------------------
smoke_test() {
  # The first fixture folder (sorted) expected to answer 200 with cards; else the first one found.
  local fixture="" dir
  for dir in $(find "$REPO/fhir_fixtures" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort); do
    [[ -f "$dir/request.json" ]] || continue
    [[ -n "$fixture" ]] || fixture="$dir/request.json"
    if grep -q '^status: 200' "$dir/expected.yaml" 2>/dev/null \
      && grep -A1 '^must:' "$dir/expected.yaml" | grep -q '^- '; then
      fixture="$dir/request.json"
      break
    fi
  done
  python3 - "$PORT" "$fixture" <<'PY'
import json
import re
import sys
import time
import urllib.error
import urllib.request

port, fixture = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"


def call(path, body=None):
    req = urllib.request.Request(base + path, data=body, method="POST" if body else "GET")
    if body:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


deadline = time.monotonic() + 60
while True:
    try:
        if call("/healthz")[0] == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("service did not answer /healthz within 60 s")
    time.sleep(0.5)

status, body = call("/readyz")
assert status == 200, f"/readyz -> {status} {body[:300]!r}"
status, body = call("/cds-services")
assert status == 200, f"/cds-services -> {status}"
services = json.loads(body)["services"]
assert services, "discovery lists no service"
print(f"discovery: {[s['id'] for s in services]}", file=sys.stderr)

expected_status, expect_cards = 200, True
if fixture:
    request_body = open(fixture, "rb").read()
    print(f"fixture: {fixture}", file=sys.stderr)
    try:
        expected = open(fixture.rsplit("/", 1)[0] + "/expected.yaml", encoding="utf-8").read()
    except OSError:
        expected = ""
    match = re.search(r"^status: (\d+)", expected, flags=re.M)
    expected_status = int(match.group(1)) if match else 200
    expect_cards = bool(re.search(r"^must:\n- ", expected, flags=re.M))
else:  # no fixtures yet: a minimal valid patient-view call
    request_body = json.dumps({
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "example"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "example", "gender": "female"}},
    }).encode()
service = next((s for s in services if s.get("hook") == "patient-view"), services[0])
status, body = call(f"/cds-services/{service['id']}", request_body)
assert status == expected_status, f"POST /cds-services/{service['id']} -> {status} {body[:300]!r}"
if status == 200:
    cards = json.loads(body)["cards"]
    print(f"hook call: {len(cards)} card(s): {[c.get('summary') for c in cards]}", file=sys.stderr)
    assert cards or not expect_cards, "the fixture expects cards, none came back"
else:
    print(f"hook call: {status} {json.loads(body).get('resourceType')}", file=sys.stderr)
PY
}

ensure_base
build_image
run_container
log "container $NAME on 127.0.0.1:$PORT"
smoke_test || fail "smoke test failed"
# The image's own HEALTHCHECK (python urllib against /healthz on 8080) must pass too.
if [[ -n "$HOST_NETWORK" && "$PORT" != 8080 ]]; then
  log "HEALTHCHECK not checked: host network and port 8080 busy on this host"
else
  podman healthcheck run "$NAME" >&2 || fail "image HEALTHCHECK failed"
fi
log "image size: $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"
echo "PASS"
