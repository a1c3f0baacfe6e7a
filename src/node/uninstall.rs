//! `containerd-shim-rust-v2 uninstall [--config PATH] [--prefix DIR]
//! [--handler NAME] [--dry-run]`: undoes `install`.
//!
//! - `<prefix>/containerd-shim-rust-v2` is removed (running shims keep
//!   their open binary; drain the node first so containerd needs no new one).
//! - The config: the handler table is removed (a table of that name with
//!   another runtime_type is refused: not ours). Then the rule for giving
//!   back the original byte for byte: if installing into one of the
//!   `<config>.bak-*` backups (newest first) gives exactly the current file,
//!   nothing else changed since that install, so the backup itself is put
//!   back (which also undoes a `version` key or a `runc` entry `install`
//!   added) and deleted; if installing into nothing gives the current file,
//!   `install` created it, and it is removed. Otherwise the file changed
//!   since: only the handler table goes (with the tables that held it when
//!   they are left empty and had no header of their own), and the backups
//!   are kept.

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
    uninstall(&target, &mut std::io::stdout().lock()).map_err(|e| e.to_string())
}

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{ let _ = writeln!($out, $($arg)*); }};
}

/// What becomes of the config file.
enum Outcome {
    Unchanged,
    /// A backup that is the current file minus the install.
    Restore {
        backup: std::path::PathBuf,
        text: String,
    },
    /// `install` created the file and nothing was added since.
    Remove,
    /// Only the handler table removed.
    Edit(String),
}

pub fn uninstall(t: &Target, out: &mut dyn Write) -> Result<(), NodeError> {
    let shim = t.shim_path();
    let shim_present = match std::fs::symlink_metadata(&shim) {
        Ok(m) if m.is_file() => true,
        Ok(_) => {
            return Err(NodeError::config(
                &shim,
                "is not a regular file: not removing it",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(NodeError::io(&shim, "stat", e)),
    };

    let current = config_file::read(&t.config)?;
    let outcome = match &current {
        None => Outcome::Unchanged,
        Some(text) => plan(t, text)?,
    };
    let current_text = current.as_deref().unwrap_or("");

    if t.dry_run {
        if shim_present {
            say!(out, "binary: would remove {}", shim.display());
        } else {
            say!(out, "binary: {} is not there", shim.display());
        }
        let a = super::install::label(t, "a", true);
        match &outcome {
            Outcome::Unchanged => say!(
                out,
                "config: no handler {:?} in {}",
                t.handler,
                t.config.display()
            ),
            Outcome::Restore { backup, .. } => say!(
                out,
                "config: would restore {} from {}",
                t.config.display(),
                backup.display()
            ),
            Outcome::Remove => say!(
                out,
                "config: would remove {} (install created it)",
                t.config.display()
            ),
            Outcome::Edit(_) => say!(out, "config: would remove the handler table"),
        }
        // The diff from what is there to what would be: the restored
        // backup, nothing (the file removed), or the file without the table.
        let after = match &outcome {
            Outcome::Unchanged => None,
            Outcome::Restore { text, .. } | Outcome::Edit(text) => {
                Some((text.as_str(), super::install::label(t, "b", true)))
            }
            Outcome::Remove => Some(("", "/dev/null".to_string())),
        };
        if let Some((text, b)) = after {
            let _ = out.write_all(line_diff::unified(current_text, text, &a, &b).as_bytes());
        }
        say!(out, "dry run: nothing was changed");
        return Ok(());
    }

    if shim_present {
        std::fs::remove_file(&shim).map_err(|e| NodeError::io(&shim, "remove", e))?;
        say!(out, "binary: removed {}", shim.display());
    } else {
        say!(out, "binary: {} is not there", shim.display());
    }
    let changed = match outcome {
        Outcome::Unchanged => {
            say!(
                out,
                "config: no handler {:?} in {}",
                t.handler,
                t.config.display()
            );
            false
        }
        Outcome::Restore { backup, text } => {
            config_file::write_atomic(&t.config, text.as_bytes(), false)?;
            std::fs::remove_file(&backup)
                .map_err(|e| NodeError::io(&backup, "remove the restored backup", e))?;
            say!(
                out,
                "config: restored {} byte for byte from {} (nothing else had changed since install); removed the backup",
                t.config.display(),
                backup.display()
            );
            true
        }
        Outcome::Remove => {
            std::fs::remove_file(&t.config).map_err(|e| NodeError::io(&t.config, "remove", e))?;
            say!(
                out,
                "config: removed {} (install had created it; nothing else was added)",
                t.config.display()
            );
            true
        }
        Outcome::Edit(text) => {
            config_file::write_atomic(&t.config, text.as_bytes(), false)?;
            let kept = config_file::backups(&t.config)?;
            say!(
                out,
                "config: removed the handler {:?} only (the file has other changes since install){}",
                t.handler,
                if kept.is_empty() {
                    String::new()
                } else {
                    format!("; backups kept: {}", kept.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))
                }
            );
            true
        }
    };
    if !shim_present && !changed {
        say!(out, "nothing to change");
    } else if changed {
        say!(
            out,
            "restart containerd to drop the handler: {}",
            host_containerd::restart_hint()
        );
    }
    Ok(())
}

fn plan(t: &Target, text: &str) -> Result<Outcome, NodeError> {
    let removed = containerd_config::remove_handler(text, &t.config, &t.handler)?;
    if !removed.changed() {
        return Ok(Outcome::Unchanged);
    }
    let version = Some(removed.version);
    for backup in config_file::backups(&t.config)? {
        let Some(old) = config_file::read(&backup)? else {
            continue;
        };
        // A backup that is not a config this handler can be added to says
        // nothing about this install.
        let Ok(reinstalled) = containerd_config::add_handler(&old, &t.config, &t.handler, version)
        else {
            continue;
        };
        if reinstalled.changed() && reinstalled.text == text {
            return Ok(Outcome::Restore { backup, text: old });
        }
    }
    let fresh = containerd_config::skeleton(removed.version);
    let created = containerd_config::add_handler(&fresh, &t.config, &t.handler, version)?;
    if created.text == text {
        return Ok(Outcome::Remove);
    }
    Ok(Outcome::Edit(removed.text))
}
