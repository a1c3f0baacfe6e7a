//! `containerd-shim-rust-v2 install [--config PATH] [--prefix DIR]
//! [--handler NAME] [--dry-run]`: puts this binary next to containerd and
//! registers the CRI runtime handler in containerd's config.
//!
//! - The binary (`/proc/self/exe`) is copied to `<prefix>/containerd-shim-rust-v2`
//!   through a temp file and a rename, mode 0755, unless it is there already
//!   byte for byte.
//! - The config's format comes from its `version` key; containerd's version
//!   (`containerd --version`) decides it only for a file without one (and
//!   without plugins) or for a missing file, which is then created with just
//!   `version` and the handler (containerd's defaults for the rest).
//! - The old config is backed up to `<config>.bak-<UTC time>` before it is
//!   replaced; a run that changes nothing writes nothing (no backup either).
//! - `--dry-run` prints what would change, the config as a unified diff, and
//!   changes nothing. containerd is never restarted: the command to do it is
//!   printed.

use std::io::Write;

use super::config_file;
use super::containerd_config;
use super::error::NodeError;
use super::host_containerd;
use super::line_diff;
use super::target::Target;
use crate::cli::NodeFlags;

pub fn run(flags: &NodeFlags) -> Result<(), String> {
    let target = Target::resolve(flags).map_err(|e| e.to_string())?;
    install(&target, &mut std::io::stdout().lock()).map_err(|e| e.to_string())
}

/// Writes to stdout are best effort: a closed stdout must not stop an
/// install half-way.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{ let _ = writeln!($out, $($arg)*); }};
}

pub fn install(t: &Target, out: &mut dyn Write) -> Result<(), NodeError> {
    let fallback = t.containerd.as_ref().ok().and_then(|c| c.config_version());
    match &t.containerd {
        Ok(c) => say!(out, "containerd: {} ({})", c.version, c.binary.display()),
        Err(why) => say!(
            out,
            "containerd: unknown ({why}); the config's own `version` decides its format"
        ),
    }
    let current = config_file::read(&t.config)?;
    let (before, edited) = match &current {
        Some(text) => (
            text.as_str(),
            containerd_config::add_handler(text, &t.config, &t.handler, fallback)?,
        ),
        None => {
            let version = fallback.ok_or_else(|| {
                NodeError::config(
                    &t.config,
                    format!(
                        "does not exist, and without containerd ({}) the format (version 2 for 1.x, \
                         3 for 2.0-2.2, 4 for 2.3) cannot be chosen: create it (`containerd config default > {}`) or \
                         put containerd on PATH",
                        t.containerd.as_ref().err().map_or("", |s| s.as_str()),
                        t.config.display()
                    ),
                )
            })?;
            let skeleton = containerd_config::skeleton(version);
            (
                "",
                containerd_config::add_handler(&skeleton, &t.config, &t.handler, Some(version))?,
            )
        }
    };
    if let Ok(c) = &t.containerd {
        if !c.reads(edited.version) {
            let (major, minor) = edited.version.oldest_reader();
            return Err(NodeError::config(
                &t.config,
                format!(
                    "is a version {} config, which containerd {} cannot read: \
                     it needs containerd {major}.{minor} or later, or a version {} config",
                    edited.version.number(),
                    c.version,
                    c.config_version().map_or(2, |v| v.number()),
                ),
            ));
        }
    }
    say!(
        out,
        "config: {} (version {})",
        t.config.display(),
        edited.version.number()
    );

    let shim = t.shim_path();
    let binary_current = config_file::same_contents(&t.self_exe, &shim)?;
    let config_changes = edited.changed() || current.is_none();
    if t.dry_run {
        if binary_current {
            say!(out, "binary: {} is up to date", shim.display());
        } else {
            say!(
                out,
                "binary: would copy {} to {} (mode 0755)",
                exe_name(t),
                shim.display()
            );
        }
        if current.is_none() {
            say!(
                out,
                "config: {} does not exist: would create a minimal version {} config",
                t.config.display(),
                edited.version.number()
            );
        }
        if config_changes {
            let _ = out.write_all(
                line_diff::unified(
                    before,
                    &edited.text,
                    &label(t, "a", current.is_some()),
                    &label(t, "b", true),
                )
                .as_bytes(),
            );
        } else {
            say!(out, "config: the handler {:?} is there already", t.handler);
        }
        say!(out, "dry run: nothing was changed");
        return Ok(());
    }

    if binary_current {
        say!(out, "binary: {} is up to date", shim.display());
    } else {
        config_file::install_binary(&t.self_exe, &shim)?;
        say!(
            out,
            "binary: installed {} as {} (mode 0755)",
            exe_name(t),
            shim.display()
        );
    }
    if current.is_none() {
        if let Some(dir) = t.config.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, "create directory", e))?;
        }
        config_file::write_atomic(&t.config, edited.text.as_bytes(), false)?;
        say!(
            out,
            "config: {} did not exist: created a minimal version {} config (the format of containerd {}), \
             containerd's defaults apply to everything else",
            t.config.display(),
            edited.version.number(),
            t.containerd.as_ref().map_or("?", |c| c.version.as_str())
        );
    } else if edited.changed() {
        let backup = config_file::backup(&t.config, before)?;
        config_file::write_atomic(&t.config, edited.text.as_bytes(), false)?;
        say!(
            out,
            "config: backed up the old file to {}",
            backup.display()
        );
    }
    for change in &edited.changes {
        say!(out, "config: {change}");
    }
    if !config_changes {
        say!(out, "config: the handler {:?} is there already", t.handler);
    }
    if let Ok(doc) = containerd_config::parse(&edited.text, &t.config) {
        for id in containerd_config::disabled_cri_plugins(&doc, edited.version) {
            say!(
                out,
                "warning: `disabled_plugins` lists {id:?}: the CRI plugin is off, so no handler is used \
                 until it is removed from that list"
            );
        }
    }
    if binary_current && !config_changes {
        say!(out, "nothing to change");
    } else if config_changes {
        say!(
            out,
            "restart containerd to load the handler: {}",
            host_containerd::restart_hint()
        );
    }
    Ok(())
}

/// The running binary's path (what /proc/self/exe points at).
fn exe_name(t: &Target) -> String {
    std::fs::read_link(&t.self_exe)
        .unwrap_or_else(|_| t.self_exe.clone())
        .display()
        .to_string()
}

/// `a/etc/containerd/config.toml`, or /dev/null for a file that is absent.
pub fn label(t: &Target, side: &str, exists: bool) -> String {
    if exists {
        format!("{side}{}", absolute(&t.config))
    } else {
        "/dev/null".to_string()
    }
}

fn absolute(p: &std::path::Path) -> String {
    let s = p.display().to_string();
    if s.starts_with('/') {
        s
    } else {
        format!("/{s}")
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::node::uninstall::uninstall;

    const DEFAULT_1_7: &str =
        include_str!("../../tests/fixtures/containerd-config/default-1.7.24.toml");
    const DEFAULT_2_1: &str =
        include_str!("../../tests/fixtures/containerd-config/default-2.1.9.toml");

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("inst-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn target(dir: &Path, containerd_major: Option<u32>, dry_run: bool) -> Target {
        Target {
            config: dir.join("etc/config.toml"),
            prefix: dir.join("bin"),
            handler: "rust-inst".into(),
            dry_run,
            containerd: containerd_major
                .map(|major| super::super::host_containerd::Containerd {
                    binary: PathBuf::from("/usr/bin/containerd"),
                    version: if major == 1 { "1.9.0" } else { "2.1.9" }.to_string(),
                    major,
                })
                .ok_or_else(|| "no containerd on PATH".to_string()),
            // The test binary stands in for the shim: any file will do.
            self_exe: PathBuf::from("/proc/self/exe"),
        }
    }

    fn run(f: fn(&Target, &mut dyn Write) -> Result<(), NodeError>, t: &Target) -> String {
        let mut out = vec![];
        f(t, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn install_twice_then_uninstall_gives_the_original_back() {
        let d = scratch("cycle");
        let t = target(&d, Some(1), false);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(&t.config, DEFAULT_1_7).unwrap();

        let out = run(install, &t);
        assert!(out.contains("binary: installed"), "{out}");
        assert!(out.contains("config: backed up the old file to"), "{out}");
        assert!(
            out.contains("runtimes.rust-inst] with runtime_type"),
            "{out}"
        );
        assert!(out.contains("restart containerd"), "{out}");
        let installed = std::fs::read(&t.config).unwrap();
        assert!(config_file::same_contents(&t.self_exe, &t.shim_path()).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.shim_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
        let after_first = files(&d.join("etc"));
        assert_eq!(after_first.len(), 2, "{after_first:?}");

        let out = run(install, &t);
        assert!(out.ends_with("nothing to change\n"), "{out}");
        assert_eq!(
            std::fs::read(&t.config).unwrap(),
            installed,
            "second install changed the file"
        );
        assert_eq!(
            files(&d.join("etc")),
            after_first,
            "second install made a backup"
        );

        let out = run(uninstall, &t);
        assert!(out.contains("restored"), "{out}");
        assert_eq!(std::fs::read_to_string(&t.config).unwrap(), DEFAULT_1_7);
        assert_eq!(
            files(&d.join("etc")),
            vec!["config.toml"],
            "backup not removed"
        );
        assert!(!t.shim_path().exists());
        let out = run(uninstall, &t);
        assert!(out.ends_with("nothing to change\n"), "{out}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dry_run_changes_nothing_and_shows_the_diff() {
        let d = scratch("dry");
        let t = target(&d, Some(2), true);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(&t.config, DEFAULT_2_1).unwrap();
        let out = run(install, &t);
        assert!(out.contains("binary: would copy"), "{out}");
        assert!(
            out.contains(
                "+        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.rust-inst]\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("+          runtime_type = 'io.containerd.rust.v2'\n"),
            "{out}"
        );
        assert!(out.ends_with("dry run: nothing was changed\n"), "{out}");
        assert_eq!(std::fs::read_to_string(&t.config).unwrap(), DEFAULT_2_1);
        assert_eq!(files(&d.join("etc")), vec!["config.toml"]);
        assert!(!d.join("bin").exists());

        // uninstall --dry-run after a real install: the same.
        run(
            install,
            &Target {
                dry_run: false,
                ..t.clone()
            },
        );
        let installed = std::fs::read(&t.config).unwrap();
        let out = run(uninstall, &t);
        assert!(out.contains("would restore"), "{out}");
        assert!(
            out.contains("-          runtime_type = 'io.containerd.rust.v2'\n"),
            "{out}"
        );
        assert_eq!(std::fs::read(&t.config).unwrap(), installed);
        assert!(t.shim_path().exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_config_is_created_for_containerd_and_removed_again() {
        let d = scratch("missing");
        let t = target(&d, Some(2), false);
        let out = run(install, &t);
        assert!(
            out.contains("did not exist: created a minimal version 3 config"),
            "{out}"
        );
        let text = std::fs::read_to_string(&t.config).unwrap();
        assert!(text.contains("version = 3\n"), "{text}");
        assert!(text.contains("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.rust-inst]\nruntime_type = \"io.containerd.rust.v2\"\n"), "{text}");
        let out = run(uninstall, &t);
        assert!(out.contains("install had created it"), "{out}");
        assert!(!t.config.exists());

        // Without containerd there is no telling which format to create.
        let e = install(&target(&d, None, false), &mut vec![])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not exist, and without containerd (no containerd on PATH)"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_changed_after_install_keeps_the_change_and_the_backup() {
        let d = scratch("changed");
        let t = target(&d, Some(1), false);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(&t.config, DEFAULT_1_7).unwrap();
        run(install, &t);
        let edited = std::fs::read_to_string(&t.config)
            .unwrap()
            .replace("oom_score = 0", "oom_score = -999 # changed by hand");
        std::fs::write(&t.config, &edited).unwrap();
        let out = run(uninstall, &t);
        assert!(
            out.contains("removed the handler \"rust-inst\" only"),
            "{out}"
        );
        assert!(out.contains("backups kept: "), "{out}");
        assert_eq!(
            std::fs::read_to_string(&t.config).unwrap(),
            DEFAULT_1_7.replace("oom_score = 0", "oom_score = -999 # changed by hand")
        );
        assert_eq!(files(&d.join("etc")).len(), 2);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_version_3_config_for_containerd_1_is_refused() {
        let d = scratch("mismatch");
        let t = target(&d, Some(1), false);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(&t.config, DEFAULT_2_1).unwrap();
        let e = install(&t, &mut vec![]).unwrap_err().to_string();
        assert!(
            e.contains("version 3 config, which containerd 1.9.0 cannot read"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&t.config).unwrap(), DEFAULT_2_1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
