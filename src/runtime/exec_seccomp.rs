//! Exec processes (`ctr task exec`, `docker exec`, CRI ExecSync) under the
//! container's seccomp profile, as runc runs them.
//!
//! libcontainer 0.7 rebuilds the spec's `linux` section for an exec
//! (`TenantContainerBuilder::adapt_spec_for_tenant`) without the seccomp
//! profile, so on its own it would start execs unfiltered: a `docker exec`
//! could call what the container's profile denies. The shim's executor loads
//! the container's filter itself, as the last step before execve.
//!
//! Loading a filter needs either no_new_privs or CAP_SYS_ADMIN, and
//! libcontainer has already dropped the process's capabilities when the
//! executor runs. So for a process without no_new_privs whose capabilities
//! lack CAP_SYS_ADMIN, the helper widens the process spec it hands to
//! libcontainer by CAP_SYS_ADMIN and CAP_SETPCAP (bounding, permitted,
//! effective; never inheritable or ambient), and the executor, once the
//! filter is loaded, drops the capabilities to the process's own sets. That
//! is runc's order too (setns_init_linux.go: without NoNewPrivileges the
//! filter is loaded before finalizeNamespace drops capabilities), so the
//! profile has to allow capset and prctl, as it must for runc.

use oci_spec::runtime::{Capability, LinuxCapabilities, LinuxSeccomp, Process, Spec};

use libcontainer::workload::ExecutorError;

/// Capabilities an exec keeps through libcontainer's drop so that it can
/// load the filter (SYS_ADMIN) and then shrink its bounding set (SETPCAP).
const KEPT_FOR_LOADING: [Capability; 2] = [Capability::SysAdmin, Capability::Setpcap];

/// The filter an exec process must run under, and the capabilities to drop
/// to once it is loaded (when the process spec was widened to load it).
#[derive(Clone, Debug)]
pub struct ExecSeccomp {
    filter: LinuxSeccomp,
    restore: Option<LinuxCapabilities>,
}

impl ExecSeccomp {
    /// Whether the process spec was widened (and must be written back for
    /// libcontainer to read).
    pub fn widened(&self) -> bool {
        self.restore.is_some()
    }

    /// Loads the filter, then drops to the process's own capabilities.
    /// Runs in the exec process, inside the container, just before execve.
    pub fn apply(&self) -> Result<(), ExecutorError> {
        match libcontainer::seccomp::initialize_seccomp(&self.filter) {
            Ok(None) => {}
            // prepare() refuses notify profiles, so no listener fd can come.
            Ok(Some(_)) => {
                return Err(ExecutorError::Other(
                    "seccomp returned a notify fd for an exec process".into(),
                ))
            }
            Err(e) => {
                return Err(ExecutorError::Other(format!(
                    "load the container's seccomp profile: {}",
                    crate::error::chain(&e)
                )))
            }
        }
        if let Some(caps) = &self.restore {
            libcontainer::capabilities::drop_privileges(
                caps,
                &libcontainer::syscall::linux::LinuxSyscall,
            )
            .map_err(|e| {
                ExecutorError::Other(format!(
                    "drop the capabilities kept to load seccomp: {}",
                    crate::error::chain(&e)
                ))
            })?;
        }
        Ok(())
    }
}

/// What an exec of `process` in a container with `spec` needs: nothing when
/// the container has no seccomp profile. Widens `process`'s capabilities
/// when loading the filter needs CAP_SYS_ADMIN the process would not have.
pub fn prepare(spec: &Spec, process: &mut Process) -> Result<Option<ExecSeccomp>, String> {
    let Some(filter) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok(None);
    };
    if libcontainer::seccomp::is_notify(&filter) {
        // The notify fd would have to reach the profile's listener, which
        // the helper does not do for execs; running unfiltered is no option.
        return Err(
            "exec in a container whose seccomp profile uses SCMP_ACT_NOTIFY is not supported"
                .into(),
        );
    }
    let needs_widening = process.no_new_privileges() != Some(true)
        && process.capabilities().as_ref().is_some_and(|caps| {
            !caps
                .effective()
                .as_ref()
                .is_some_and(|e| e.contains(&Capability::SysAdmin))
        });
    if !needs_widening {
        return Ok(Some(ExecSeccomp {
            filter,
            restore: None,
        }));
    }
    let original = process.capabilities().clone().unwrap_or_default();
    let mut widened = original.clone();
    let with_kept = |set: &Option<_>| {
        let mut set: std::collections::HashSet<Capability> = set.clone().unwrap_or_default();
        set.extend(KEPT_FOR_LOADING);
        Some(set)
    };
    widened
        .set_bounding(with_kept(original.bounding()))
        .set_permitted(with_kept(original.permitted()))
        .set_effective(with_kept(original.effective()));
    process.set_capabilities(Some(widened));
    Ok(Some(ExecSeccomp {
        filter,
        restore: Some(original),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBuilder, LinuxCapabilitiesBuilder, LinuxSeccompAction, LinuxSeccompBuilder,
        LinuxSyscallBuilder, ProcessBuilder,
    };
    use std::collections::HashSet;

    fn spec_with(action: Option<LinuxSeccompAction>) -> Spec {
        let mut spec = Spec::default();
        let mut linux = LinuxBuilder::default().build().unwrap();
        if let Some(action) = action {
            let rule = LinuxSyscallBuilder::default()
                .names(vec!["unshare".to_string()])
                .action(action)
                .build()
                .unwrap();
            linux.set_seccomp(Some(
                LinuxSeccompBuilder::default()
                    .default_action(LinuxSeccompAction::ScmpActAllow)
                    .syscalls(vec![rule])
                    .build()
                    .unwrap(),
            ));
        }
        spec.set_linux(Some(linux));
        spec
    }

    fn caps(list: &[Capability]) -> HashSet<Capability> {
        list.iter().copied().collect()
    }

    fn process(nnp: Option<bool>, effective: &[Capability]) -> Process {
        let set = caps(effective);
        let mut p = ProcessBuilder::default()
            .capabilities(
                LinuxCapabilitiesBuilder::default()
                    .bounding(set.clone())
                    .effective(set.clone())
                    .permitted(set.clone())
                    .inheritable(set.clone())
                    .ambient(HashSet::new())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        p.set_no_new_privileges(nnp);
        p
    }

    const DOCKER_LIKE: [Capability; 3] = [Capability::Chown, Capability::Kill, Capability::NetRaw];

    #[test]
    fn no_profile_means_nothing_to_do_and_no_change() {
        let mut p = process(None, &DOCKER_LIKE);
        let before = p.clone();
        assert!(prepare(&spec_with(None), &mut p).unwrap().is_none());
        assert_eq!(p, before);
    }

    #[test]
    fn without_no_new_privs_the_process_keeps_sys_admin_until_the_filter_is_loaded() {
        let mut p = process(None, &DOCKER_LIKE);
        let before = p.capabilities().clone().unwrap();
        let s = prepare(&spec_with(Some(LinuxSeccompAction::ScmpActErrno)), &mut p)
            .unwrap()
            .unwrap();
        assert!(s.widened());
        assert_eq!(s.restore.as_ref(), Some(&before));
        let widened = p.capabilities().clone().unwrap();
        let mut expected = caps(&DOCKER_LIKE);
        expected.extend(KEPT_FOR_LOADING);
        assert_eq!(widened.bounding().as_ref(), Some(&expected));
        assert_eq!(widened.permitted().as_ref(), Some(&expected));
        assert_eq!(widened.effective().as_ref(), Some(&expected));
        // Never handed on through execve.
        assert_eq!(widened.inheritable(), before.inheritable());
        assert_eq!(widened.ambient(), before.ambient());
    }

    #[test]
    fn no_widening_with_no_new_privs_or_sys_admin_or_no_capability_drop() {
        let profile = spec_with(Some(LinuxSeccompAction::ScmpActErrno));
        let mut with_admin = DOCKER_LIKE.to_vec();
        with_admin.push(Capability::SysAdmin);
        let mut no_caps = process(None, &[]);
        no_caps.set_capabilities(None);
        for mut p in [
            process(Some(true), &DOCKER_LIKE),
            process(None, &with_admin),
            process(Some(false), &with_admin),
            no_caps,
        ] {
            let before = p.clone();
            let s = prepare(&profile, &mut p).unwrap().unwrap();
            assert!(!s.widened());
            assert_eq!(p, before);
        }
        // no_new_privs explicitly false still needs CAP_SYS_ADMIN.
        let mut p = process(Some(false), &DOCKER_LIKE);
        assert!(prepare(&profile, &mut p).unwrap().unwrap().widened());
    }

    #[test]
    fn a_notify_profile_is_refused_by_name() {
        let mut p = process(None, &DOCKER_LIKE);
        let before = p.clone();
        let err = prepare(&spec_with(Some(LinuxSeccompAction::ScmpActNotify)), &mut p).unwrap_err();
        assert!(err.contains("SCMP_ACT_NOTIFY"), "{err}");
        assert_eq!(p, before);
    }
}
