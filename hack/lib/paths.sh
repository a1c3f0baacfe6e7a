# Where cargo puts the release binaries: .cargo/config.toml builds for the
# host's triple (for the static link), so they are under target/<triple>/.
# Usage: source hack/lib/paths.sh; then "$SHIM_RELEASE_DIR" (needs REPO).
SHIM_RELEASE_DIR="$REPO/target/$(rustc -vV | sed -n 's/^host: //p')/release"
