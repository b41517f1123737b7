//! The pod lifecycle stand-in for a Flux install on the test control plane: there is no
//! kubelet, so the real Flux controllers run as host processes that this task starts and stops
//! as the kubelet would start and kill the Pods of their Deployments. Together with the kubelet
//! stand-in (Deployments available while the process answers `/readyz`) it makes a bootstrapped
//! cluster behave like one with Flux running.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};

use super::control_plane::ControlPlane;
use super::flux_controllers::FluxControllers;
use super::kubelet_stand_in::{KubeletStandIn, Readiness};

/// The Deployments whose Pods are the required controllers.
const REQUIRED: [&str; 2] = ["source-controller", "kustomize-controller"];

/// The controllers of one namespace, started and stopped with their Deployments.
pub struct PodLifecycle {
    pub controllers: Arc<Mutex<Option<FluxControllers>>>,
    failure: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
    _kubelet: KubeletStandIn,
}

impl Drop for PodLifecycle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodLifecycle {
    /// Starts playing the Pods of the Flux Deployments in `namespace`, and the kubelet
    /// stand-in for them. Runs on the current tokio runtime until dropped.
    pub fn start(client: kube::Client, plane: Arc<ControlPlane>, namespace: &str) -> PodLifecycle {
        let controllers: Arc<Mutex<Option<FluxControllers>>> = Arc::new(Mutex::new(None));
        let running = controllers.clone();
        let ready: Readiness = Arc::new(move |deployment: &str| {
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .and_then(|c| c.controller(deployment))
                .is_some_and(|c| c.is_ready())
        });
        let kubelet = KubeletStandIn::start(client.clone(), namespace, ready);
        let failure = Arc::new(Mutex::new(None));
        let task = tokio::spawn(pod_lifecycle(
            client,
            plane,
            namespace.to_string(),
            controllers.clone(),
            failure.clone(),
        ));
        PodLifecycle {
            controllers,
            failure,
            task,
            _kubelet: kubelet,
        }
    }

    /// Names of the controllers running now.
    pub fn running(&self) -> Vec<String> {
        self.controllers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.controllers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    }

    /// The controllers' log tails (and why they did not start, if so).
    pub fn logs(&self) -> String {
        let mut text = String::new();
        if let Some(why) = &*self.failure.lock().unwrap_or_else(|p| p.into_inner()) {
            text += &format!("the controllers did not start: {why}\n");
        }
        match &*self.controllers.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(controllers) => text += &controllers.log_tails(40),
            None => text += "(no controller was started)",
        }
        text
    }
}

/// Stands in for the kubelet's part in a Pod's life: once bootstrap has created the
/// controllers' Deployments (after their CRDs, as it applies them), the controllers' host
/// processes start, as Pods would be scheduled and run; when a Deployment is deleted
/// (uninstall), its process is stopped, as its Pods would be killed. Without that, a
/// controller would go on reconciling while uninstall removes its finalizers, and
/// kustomize-controller would prune the objects of a Kustomization being deleted, as no
/// controller of a deleted Deployment does in a cluster. They are started once per cluster.
async fn pod_lifecycle(
    client: kube::Client,
    plane: Arc<ControlPlane>,
    namespace: String,
    controllers: Arc<Mutex<Option<FluxControllers>>>,
    failure: Arc<Mutex<Option<String>>>,
) {
    let api: Api<Deployment> = Api::namespaced(client, &namespace);
    let mut started = false;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let Ok(list) = api.list(&ListParams::default()).await else {
            continue;
        };
        let present: BTreeSet<String> = list
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        if !started {
            if !REQUIRED.iter().all(|name| present.contains(*name)) {
                continue;
            }
            started = true;
            let plane = plane.clone();
            let namespace = namespace.clone();
            let started_set = tokio::task::spawn_blocking(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    plane.wait_flux_crds_established();
                    FluxControllers::start(&plane, &namespace)
                }))
            })
            .await;
            match started_set {
                Ok(Ok(set)) => {
                    *controllers.lock().unwrap_or_else(|p| p.into_inner()) = Some(set);
                }
                Ok(Err(panic)) => {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown failure".into());
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                    return;
                }
                Err(err) => {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(err.to_string());
                    return;
                }
            }
            continue;
        }
        let gone: Vec<String> = controllers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| {
                c.controllers
                    .iter()
                    .map(|c| c.name.clone())
                    .filter(|name| !present.contains(name))
                    .collect()
            })
            .unwrap_or_default();
        for name in gone {
            let controllers = controllers.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(set) = controllers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_mut()
                {
                    set.stop_controller(&name);
                }
            })
            .await;
        }
    }
}
