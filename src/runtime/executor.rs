//! How the container's init execs the workload (inside the rootfs, after
//! pivot_root): libcontainer's default executor, except that a process with
//! no PATH in its environment (`ctr run --rootfs` sets none) is looked up in
//! a default PATH, as runc does, instead of being refused.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

/// runc's fallback search path.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone)]
pub struct ShimExecutor;

fn has_path(spec: &Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.env().as_ref())
        .is_some_and(|env| env.iter().any(|e| e.starts_with("PATH=")))
}

/// Where `name` lives: itself if it has a slash, else the first match in
/// `DEFAULT_PATH` under `root` ("/" inside the container).
pub fn resolve(name: &str, root: &Path) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    DEFAULT_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| root.join(p.strip_prefix("/").unwrap_or(p)).is_file())
}

impl Executor for ShimExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
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
}
