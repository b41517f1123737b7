//! What the benchmarks share: waiting for a measured child process, medians, and the Flux
//! objects they seed. Included by each benchmark with `#[path = "common/mod.rs"] mod common;`.
#![allow(dead_code)] // each benchmark uses a different part

use std::process::Child;
use std::time::{Duration, Instant};

use kube::api::DynamicObject;
use kubectl_gitops::flux::FluxKind;

/// What the kernel says about one finished child: its exit code (-1 when a signal ended it),
/// peak RSS of its largest process, and its CPU time (user + system).
pub struct Finished {
    pub code: i32,
    pub wall: Duration,
    pub peak_kib: i64,
    pub cpu: Duration,
}

/// Reaps `child` with wait4, which, unlike `Child::wait`, also reports peak RSS and CPU time.
/// `started` is when it was spawned.
pub fn wait_measured(child: Child, started: Instant) -> Finished {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid pointers.
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert!(waited > 0, "wait4 failed for pid {}", child.id());
    // The child is reaped; dropping the handle does not wait again.
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Finished {
        code,
        wall,
        peak_kib: usage.ru_maxrss,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
    }
}

/// The middle value (the upper one of an even count).
pub fn median<T: PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.swap_remove(values.len() / 2)
}

/// A Flux object of `kind` as the benchmarks seed them: a Kustomization of `repo-0`, a
/// GitRepository, or a HelmRelease of the `podinfo` chart.
pub fn flux_object(kind: &FluxKind, namespace: &str, name: &str, suspend: bool) -> DynamicObject {
    let spec = match kind.kind {
        "Kustomization" => {
            serde_json::json!({"interval": "10m", "path": "./apps", "prune": true, "suspend": suspend,
            "sourceRef": {"kind": "GitRepository", "name": "repo-0"}})
        }
        "GitRepository" => {
            serde_json::json!({"interval": "1m", "url": "https://example.invalid/r.git", "ref": {"branch": "main"}, "suspend": suspend})
        }
        _ => {
            serde_json::json!({"interval": "10m", "suspend": suspend, "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}})
        }
    };
    serde_json::from_value(serde_json::json!({
        "apiVersion": kind.api_resource().api_version, "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace}, "spec": spec
    }))
    .expect("object")
}
