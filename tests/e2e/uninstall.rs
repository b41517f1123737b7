//! Scenario 6: `uninstall` of a live, bootstrapped Flux whose controllers put their finalizers
//! on every object: nothing of Flux remains, and nothing hangs.

use std::time::{Duration, Instant};

use crate::bootstrap::bootstrapped;
use crate::support::{stderr, stdout};
use crate::{NS, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_of_a_live_installation_leaves_nothing_and_hangs_on_nothing() {
    let b = bootstrapped().await;
    let flux = &b.flux;
    // The real controllers have put their finalizers on the sync objects.
    for kind in ["gitrepository", "kustomization"] {
        let object = flux.get(kind, NS, NS).expect("sync object");
        assert_eq!(
            object["metadata"]["finalizers"],
            serde_json::json!(["finalizers.fluxcd.io"]),
            "{kind}"
        );
    }

    let started = Instant::now();
    let out = flux.gitops(&["uninstall", "--yes"]).await;
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        flux.logs()
    );
    eprintln!("uninstall took {took:?}");
    assert!(took < Duration::from_secs(120), "uninstall took {took:?}");

    // The kubelet's part: the controllers' processes stopped with their Deployments.
    eventually(flux, "controllers stopped", Duration::from_secs(30), || {
        flux.running().is_empty()
    })
    .await;
    // The namespace controller finishes the deletion uninstall asked for: nothing holds it.
    eventually(flux, "namespace deleted", Duration::from_secs(90), || {
        flux.names(&["namespace", NS]).is_empty()
    })
    .await;
    assert_eq!(
        flux.names(&["crd", "-l", "app.kubernetes.io/part-of=flux"]),
        Vec::<String>::new()
    );
    for kind in ["clusterrole", "clusterrolebinding"] {
        assert_eq!(
            flux.names(&[kind, "-l", "app.kubernetes.io/part-of=flux"]),
            Vec::<String>::new(),
            "{kind}"
        );
    }
}
