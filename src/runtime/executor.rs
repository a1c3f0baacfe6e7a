//! How the container's init execs the workload (inside the rootfs, after
//! pivot_root): libcontainer's default executor, except that
//! - a process with no PATH in its environment (`ctr run --rootfs` sets
//!   none) is looked up in a default PATH, as runc does, instead of being
//!   refused;
//! - a missing or non-executable program is refused in runc's words, which
//!   Docker's daemon matches to report exit code 127 or 126;
//! - a terminal gets the spec's consoleSize before the program runs, as
//!   runc sizes its pty (Docker sends consoleSize with `exec -it`; the shim's
//!   own resize comes only after the exec started, too late for a program
//!   that asks at once);
//! - an exec process gets the container's seccomp filter
//!   (`exec_seccomp`), which libcontainer leaves out for execs;
//! - the shim's own binary (`/proc/self/exe`, or any `/proc/PID/exe` that
//!   is the sealed view the helper runs from) is refused as a program, in
//!   runc's words for a missing file: it has no business running in a
//!   container (sealed_exe.rs).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

use super::exec_seccomp::ExecSeccomp;

/// runc's fallback search path.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Default)]
pub struct ShimExecutor {
    /// For an exec: the container's filter, loaded just before execve.
    exec_seccomp: Option<ExecSeccomp>,
}

impl ShimExecutor {
    /// The executor of an exec process that must run under `seccomp`.
    pub fn for_exec(exec_seccomp: Option<ExecSeccomp>) -> Self {
        ShimExecutor { exec_seccomp }
    }
}

fn has_path(spec: &Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.env().as_ref())
        .is_some_and(|env| env.iter().any(|e| e.starts_with("PATH=")))
}

/// Where `name` lives: itself if it has a slash, else the first match in
/// `DEFAULT_PATH` under `root` ("/" inside the container).
pub fn resolve(name: &str, root: &Path) -> Option<PathBuf> {
    resolve_in(name, DEFAULT_PATH, root)
}

/// The same, with the search path `path` (a PATH value).
fn resolve_in(name: &str, path: &str, root: &Path) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(name))
        .find(|p| root.join(p.strip_prefix("/").unwrap_or(p)).is_file())
}

/// Refuses a process whose program is missing or not executable, in runc's
/// words: `exec: "x": executable file not found in $PATH`,
/// `exec: "/x": stat /x: no such file or directory`, `exec: "/x": permission
/// denied`. Docker's daemon (translateContainerdStartErr) looks for these
/// phrases (and the program's name) in the error to set exit code 127 or 126
/// on `docker run` and `docker exec`, as with runc; libcontainer's own
/// wording ("executable 'x' not found in $PATH") makes it report 125/128.
/// Runs inside the container, so paths are the container's.
fn check_program(spec: &Spec, root: &Path) -> Result<(), ExecutorValidationError> {
    let Some(process) = spec.process() else {
        return Ok(()); // libcontainer's validate names this
    };
    let Some(name) = process.args().as_ref().and_then(|a| a.first()) else {
        return Ok(());
    };
    let path = process
        .env()
        .as_ref()
        .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
        .unwrap_or(DEFAULT_PATH);
    let refuse = |why: String| Err(ExecutorValidationError::ArgValidationError(why));
    let Some(program) = resolve_in(name, path, root) else {
        return refuse(format!(
            "exec: {name:?}: executable file not found in $PATH"
        ));
    };
    let at = match program.strip_prefix("/") {
        Ok(inside) => root.join(inside),
        Err(_) => program.clone(), // relative: from the process's cwd
    };
    match std::fs::metadata(&at) {
        Ok(m) if is_this_binary(&m) => refuse(format!(
            "exec: {name:?}: stat {}: no such file or directory",
            program.display()
        )),
        Err(e) => {
            let why = match e.raw_os_error() {
                Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
                None => e.to_string(),
            };
            refuse(format!("exec: {name:?}: stat {}: {why}", program.display()))
        }
        Ok(m) if m.is_dir() || m.permissions().mode() & 0o111 == 0 => {
            refuse(format!("exec: {name:?}: permission denied"))
        }
        Ok(_) => Ok(()),
    }
}

/// Whether `m` is the file this process runs from: the helper's sealed view
/// of the shim binary, which a container could otherwise run through
/// `/proc/self/exe` or another process's `/proc/PID/exe`.
fn is_this_binary(m: &std::fs::Metadata) -> bool {
    std::fs::metadata("/proc/self/exe").is_ok_and(|me| (me.dev(), me.ino()) == (m.dev(), m.ino()))
}

/// Gives the process's terminal (its stdin, the pty slave libcontainer
/// connected) the spec's consoleSize, if it has both.
fn size_terminal(spec: &Spec) {
    let Some(process) = spec.process() else {
        return;
    };
    let Some(size) = process.console_size() else {
        return;
    };
    if process.terminal() != Some(true) || size.width() == 0 || size.height() == 0 {
        return;
    }
    let clamp = |v: u64| v.min(u16::MAX as u64) as u16;
    if let Err(e) = crate::sys::set_winsize(
        std::io::stdin().as_fd(),
        clamp(size.width()),
        clamp(size.height()),
    ) {
        // Not fatal: the shim resizes from outside once the process runs.
        log::debug!("set the terminal's consoleSize: {e}");
    }
}

impl Executor for ShimExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        check_program(spec, Path::new("/"))?;
        if has_path(spec) {
            return DefaultExecutor {}.validate(spec);
        }
        let mut with_path = spec.clone();
        if let Some(mut p) = with_path.process().clone() {
            let mut env = p.env().clone().unwrap_or_default();
            env.push(format!("PATH={DEFAULT_PATH}"));
            p.set_env(Some(env));
            with_path.set_process(Some(p));
        }
        DefaultExecutor {}.validate(&with_path)
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        size_terminal(spec);
        if let Some(seccomp) = &self.exec_seccomp {
            seccomp.apply()?;
        }
        if has_path(spec) {
            return DefaultExecutor {}.exec(spec);
        }
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().clone())
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        let program = resolve(&args[0], Path::new("/"))
            .ok_or_else(|| ExecutorError::Other(format!("executable '{}' not found", args[0])))?;
        let to_c = |s: &str| CString::new(s).map_err(|_| ExecutorError::InvalidArg);
        let program = to_c(&program.to_string_lossy())?;
        let argv = args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<Vec<_>, _>>()?;
        let err = nix::unistd::execv(&program, &argv).unwrap_err();
        Err(ExecutorError::Other(format!("exec {:?}: {err}", args[0])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_in_the_default_path_inside_the_root() {
        let root = std::env::temp_dir().join(format!("shim-exec-{}", std::process::id()));
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), "").unwrap();
        std::fs::write(root.join("bin/tool"), "").unwrap();
        // /usr/bin comes before /bin in the default PATH
        assert_eq!(resolve("tool", &root), Some(PathBuf::from("/usr/bin/tool")));
        assert_eq!(resolve("missing", &root), None);
        assert_eq!(resolve("/abs/x", &root), Some(PathBuf::from("/abs/x")));
        std::fs::remove_dir_all(root).unwrap();
    }

    fn spec_running(args: &[&str], env: &[&str]) -> Spec {
        let mut spec = Spec::default();
        let mut p = spec.process().clone().unwrap();
        p.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
        p.set_env(Some(env.iter().map(|s| s.to_string()).collect()));
        spec.set_process(Some(p));
        spec
    }

    fn refusal(spec: &Spec, root: &Path) -> String {
        match check_program(spec, root) {
            Err(ExecutorValidationError::ArgValidationError(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_or_unusable_program_is_refused_in_runcs_words() {
        let root = std::env::temp_dir().join(format!("shim-check-{}", std::process::id()));
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("opt/dir")).unwrap();
        std::fs::write(root.join("bin/tool"), "").unwrap();
        std::fs::set_permissions(
            root.join("bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(root.join("bin/data"), "").unwrap();
        std::fs::set_permissions(
            root.join("bin/data"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let path = ["PATH=/bin"];
        assert!(check_program(&spec_running(&["tool"], &path), &root).is_ok());
        assert!(check_program(&spec_running(&["/bin/tool"], &[]), &root).is_ok());
        assert_eq!(
            refusal(&spec_running(&["nosuch"], &path), &root),
            r#"exec: "nosuch": executable file not found in $PATH"#
        );
        assert_eq!(
            refusal(&spec_running(&["/no/such"], &path), &root),
            r#"exec: "/no/such": stat /no/such: no such file or directory"#
        );
        assert_eq!(
            refusal(&spec_running(&["/bin/data"], &path), &root),
            r#"exec: "/bin/data": permission denied"#
        );
        assert_eq!(
            refusal(&spec_running(&["/opt/dir"], &path), &root),
            r#"exec: "/opt/dir": permission denied"#
        );
        // No PATH in the environment: runc's default one (tool is in /bin).
        assert!(check_program(&spec_running(&["tool"], &[]), &root).is_ok());
        // The binary this process runs from, by its /proc link.
        assert_eq!(
            refusal(
                &spec_running(&["/proc/self/exe", "-v"], &path),
                Path::new("/")
            ),
            r#"exec: "/proc/self/exe": stat /proc/self/exe: no such file or directory"#
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
