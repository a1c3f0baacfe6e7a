use std::path::PathBuf;

fn main() {
    revision();
    libcontainer_version();
    protos();
    layout();
}

/// Lays out the functions a serving shim runs first and densely
/// (hack/layout.sh writes the list; docs/performance.md says why). lld
/// places them in the file's order; names the build no longer has are
/// skipped quietly, so a stale list costs memory, never a build. Only lld
/// knows `--symbol-ordering-file`: the list is applied where rustc links
/// with its own lld by default (x86_64-unknown-linux-gnu since Rust 1.90)
/// and no other linker was asked for; elsewhere the build goes without it
/// (a warning says so) and the binary is only less dense.
fn layout() {
    let order = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
        .join("hack/layout/serving.order");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=RUSTFLAGS");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    if !order.exists() {
        return;
    }
    if let Err(why) = links_with_lld() {
        println!("cargo:warning=link order not applied ({why}): the serving shim's code is less dense (docs/performance.md)");
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// Whether the final link goes through lld: rustc's default linker on
/// x86_64-unknown-linux-gnu from 1.90 on, unless the flags pick another or
/// the toolchain ships no lld of its own (distributions' rustc, Debian's
/// among them, link with cc and the system's ld, which refuses the option).
fn links_with_lld() -> Result<(), String> {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" {
        return Err(format!("{target} links with the system linker"));
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker")
        || std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
    {
        return Err("another linker was chosen".into());
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(&rustc)
        .arg("-V")
        .output()
        .map_err(|e| format!("rustc -V: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let minor: u32 = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if minor < 90 {
        return Err(format!("{} links with cc, not rust-lld", text.trim()));
    }
    let sysroot = std::process::Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("rustc --print sysroot: {e}"))?;
    let lld = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib")
        .join(&target)
        .join("bin/gcc-ld/ld.lld");
    if !lld.exists() {
        return Err(format!(
            "{} has no lld of its own ({} is missing), so it links with cc",
            text.trim(),
            lld.display()
        ));
    }
    Ok(())
}

/// Records the libcontainer version Cargo.lock pins, for `-info`'s
/// annotations.
fn libcontainer_version() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"libcontainer\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LIBCONTAINER_VERSION={version}");
}

// Records the git revision for `containerd-shim-rust-v2 -v`.
fn revision() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let rev = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SHIM_REVISION={rev}");
    // Rerun when HEAD moves. Ask git where its files are: in a worktree
    // `.git` is a file, and a watched path that does not exist makes cargo
    // rerun this script (and relink the shim) on every build.
    let (Some(dir), Some(common)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) else {
        return;
    };
    let (dir, common) = (PathBuf::from(dir), PathBuf::from(common));
    for watched in [
        dir.join("HEAD"),
        common.join("refs/heads"),
        common.join("packed-refs"),
    ] {
        if watched.exists() {
            println!("cargo:rerun-if-changed={}", watched.display());
        }
    }
}

/// The protocol definitions in protos/ that containerd-shim-protos lacks,
/// generated into $OUT_DIR/protos/<name>.rs for src/options.rs to include.
const PROTOS: [&str; 2] = ["protos/runctypes.proto", "protos/runtimeoptions.proto"];

fn protos() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("protos");
    std::fs::create_dir_all(&out).expect("create $OUT_DIR/protos");
    protobuf_codegen::Codegen::new()
        // The pure Rust parser: building needs no protoc.
        .pure()
        .include("protos")
        .inputs(PROTOS)
        .customize(protobuf_codegen::Customize::default().gen_mod_rs(false))
        .out_dir(&out)
        .run_from_script();
    // `include!` cannot take a file with inner attributes (rust-lang/rust#18810):
    // drop the generated `#![...]` and `//!` lines; src/options.rs puts the
    // allows on the enclosing module instead.
    for proto in PROTOS {
        let stem = std::path::Path::new(proto).file_stem().unwrap();
        let path = out.join(stem).with_extension("rs");
        let text = std::fs::read_to_string(&path).expect("read generated code");
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("#!") && !l.starts_with("//!"))
            .collect();
        std::fs::write(&path, kept.join("\n")).expect("write generated code");
        println!("cargo:rerun-if-changed={proto}");
    }
}
