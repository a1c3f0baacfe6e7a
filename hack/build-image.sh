#!/usr/bin/env bash
# Builds a tiny busybox OCI image tarball, without any registry, from Debian's
# busybox-static binary (/bin/busybox).
#
# Usage: hack/build-image.sh OUT_TAR [NAME]
#   NAME defaults to docker.io/library/busybox:latest
#   env BUSYBOX overrides the busybox binary (default /bin/busybox)
#   env IMAGE_CMD is the image config's Cmd as a JSON array (default ["sh"],
#     and for NAME localhost/containerd-shim-rust-v2/pause:latest, the CRI
#     pause image hack/containerd-up.sh imports, a pid 1 that waits). The cache
#     below does not look at it: use one OUT_TAR per Cmd.
#   env EXTRA_LAYERS=N adds N layers on top, layer i holding /layers/<i>
#     (an image of many layers: its overlay mount options exceed a page).
#     Not looked at by the cache either: one OUT_TAR per N.
#
# The tarball is an OCI layout (oci-layout, index.json, blobs/sha256/...) plus a
# docker-style manifest.json so `docker load` accepts it too. One uncompressed
# layer: /bin/busybox, a symlink per applet (`busybox --list-full`), /bin/sh,
# /proc /sys /dev /tmp(1777) /etc /root /var, /etc/passwd and /etc/group.
# Output is deterministic (mtime 0, uid/gid 0). Cached: nothing is done when
# OUT_TAR is newer than both the busybox binary and this script.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 OUT_TAR [NAME]" >&2
  exit 2
fi
OUT=$1
NAME=${2:-docker.io/library/busybox:latest}
# The CRI pause image's command: pid 1 that waits for its SIGKILL (or exits
# on TERM).
if [[ "$NAME" == localhost/containerd-shim-rust-v2/pause:latest && -z "${IMAGE_CMD:-}" ]]; then
  IMAGE_CMD='["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'
fi
BUSYBOX=$(readlink -f "${BUSYBOX:-/bin/busybox}")
[[ -x "$BUSYBOX" ]] || { echo "build-image: $BUSYBOX not found (run hack/install-deps.sh)" >&2; exit 1; }

if [[ -s "$OUT" && "$OUT" -nt "$BUSYBOX" && "$OUT" -nt "$0" ]]; then
  echo "build-image: $OUT is up to date"
  exit 0
fi

mkdir -p "$(dirname "$OUT")"
tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT

python3 - "$BUSYBOX" "$tmp" "$NAME" "${IMAGE_CMD:-[\"sh\"]}" "${EXTRA_LAYERS:-0}" <<'PY'
import hashlib, io, json, subprocess, sys, tarfile

import platform
busybox, out, name = sys.argv[1:4]
# The image's platform is the host's (busybox is the host's binary).
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
cmd = json.loads(sys.argv[4])
extra_layers = int(sys.argv[5])
assert isinstance(cmd, list) and all(isinstance(a, str) for a in cmd), "IMAGE_CMD: a JSON array of strings"

def info(path, type_=tarfile.REGTYPE, mode=0o644, size=0, link=""):
    ti = tarfile.TarInfo(path)
    ti.type, ti.mode, ti.size, ti.linkname = type_, mode, size, link
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "root", "root"
    return ti

# ---- the layer (uncompressed tar, deterministic order) ----
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    dirs = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755,
            "usr/sbin": 0o755, "proc": 0o555, "sys": 0o555, "dev": 0o755,
            "tmp": 0o1777, "etc": 0o755, "root": 0o700, "var": 0o755}
    for d in sorted(dirs):
        t.addfile(info(d, tarfile.DIRTYPE, dirs[d]))
    data = open(busybox, "rb").read()
    t.addfile(info("bin/busybox", mode=0o755, size=len(data)), io.BytesIO(data))
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\nnobody:x:65534:\n",
    }
    for p, text in sorted(files.items()):
        b = text.encode()
        t.addfile(info(p, size=len(b)), io.BytesIO(b))
    applets = subprocess.run([busybox, "--list-full"], check=True,
                             capture_output=True, text=True).stdout.split()
    links = {a for a in applets if "/" in a} | {"bin/sh"}  # skips top-level linuxrc
    for p in sorted(links - {"bin/busybox"}):
        t.addfile(info(p, tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
layer = layer.getvalue()
layers = [layer]
for i in range(extra_layers):
    extra = io.BytesIO()
    with tarfile.open(fileobj=extra, mode="w", format=tarfile.PAX_FORMAT) as t:
        if i == 0:
            t.addfile(info("layers", tarfile.DIRTYPE, 0o755))
        b = f"{i}\n".encode()
        t.addfile(info(f"layers/{i}", size=len(b)), io.BytesIO(b))
    layers.append(extra.getvalue())

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

def js(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":")).encode()

layer_digests = [sha(l) for l in layers]
layer_digest = layer_digests[0]
config = js({
    "architecture": arch,
    "os": "linux",
    "config": {
        "Cmd": cmd,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    },
    "rootfs": {"type": "layers", "diff_ids": layer_digests},
    "history": [{"created_by": "hack/build-image.sh", "created": "1970-01-01T00:00:00Z"}
                for _ in layers],
    "created": "1970-01-01T00:00:00Z",
})
manifest = js({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": sha(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha(l), "size": len(l)} for l in layers],
})
index = js({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(manifest), "size": len(manifest),
        "platform": {"architecture": arch, "os": "linux"},
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": "latest"},
    }],
})

def blob(d):
    return "blobs/sha256/" + d.split(":", 1)[1]

docker_manifest = js([{"Config": blob(sha(config)), "RepoTags": [name],
                       "Layers": [blob(d) for d in layer_digests]}])

# ---- the outer archive ----
with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as t:
    for d in ("blobs", "blobs/sha256"):
        t.addfile(info(d, tarfile.DIRTYPE, 0o755))
    entries = [
        ("oci-layout", js({"imageLayoutVersion": "1.0.0"})),
        ("index.json", index),
        ("manifest.json", docker_manifest),
        (blob(sha(config)), config),
        (blob(sha(manifest)), manifest),
    ] + [(blob(sha(l)), l) for l in layers]
    for p, b in entries:
        t.addfile(info(p, size=len(b)), io.BytesIO(b))
print("build-image: manifest", sha(manifest), "layer", layer_digest)
PY

mv -f "$tmp" "$OUT"
trap - EXIT
echo "build-image: wrote $OUT ($NAME)"
