# Where cargo puts the release binaries: .cargo/config.toml builds for the
# host's triple (for the static link), so they are under target/<triple>/.
# A SHIM_RELEASE_DIR already set wins (the cgroup v2 node, hack/uml/, has no
# rustc on its PATH).
# Usage: source hack/lib/paths.sh; then "$SHIM_RELEASE_DIR" (needs REPO).
SHIM_RELEASE_DIR=${SHIM_RELEASE_DIR:-"$REPO/target/$(rustc -vV | sed -n 's/^host: //p')/release"}
