//! `suspend` and `resume`: Flux's `spec.suspend` switch. Resuming also requests a reconcile
//! and waits for it, because a resumed object is only useful once it has caught up.
//!
//! See docs/reconcile.md.

use crate::cluster::connection::Connection;
use crate::error::Result;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::FluxObject;
use crate::flux::reconcile::{
    Options, Progress, Report, merge_patch, new_token, request_and_wait, request_patch,
};

/// Sets `spec.suspend: true`.
pub async fn suspend(connection: &Connection, apis: &FluxApis, object: &FluxObject) -> Result<()> {
    let served = apis.require(object.kind)?;
    let patch = serde_json::json!({"spec": {"suspend": true}});
    merge_patch(
        connection,
        served,
        object.namespace(),
        object.name(),
        &patch,
    )
    .await?;
    Ok(())
}

/// Sets `spec.suspend: false` and requests a reconcile in the same patch, then waits for it
/// unless `options.wait` is false.
pub async fn resume(
    connection: &Connection,
    apis: &FluxApis,
    object: &FluxObject,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Report> {
    let served = apis.require(object.kind)?;
    let token = new_token();
    let mut patch = request_patch(&token, &[]);
    patch["spec"] = serde_json::json!({"suspend": false});
    progress(&format!(
        "► resuming {} in namespace {}",
        object.display_name(),
        object.namespace()
    ));
    request_and_wait(
        connection, served, object, &patch, &token, options, progress,
    )
    .await
}
