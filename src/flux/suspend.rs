//! `suspend` and `resume`: Flux's `spec.suspend` switch. Resuming also requests a reconcile
//! and waits for it, because a resumed object is only useful once it has caught up.
//!
//! See docs/reconcile.md.

use futures::future::join_all;

use crate::cluster::connection::Connection;
use crate::cluster::explain::Tell;
use crate::error::Result;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{FluxObject, Selection};
use crate::flux::reconcile::{
    Options, Progress, Report, explained_batch, merge_patch, new_token, request_and_wait,
    request_patch,
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

/// Suspends every selected object at once; one result per object, in order.
pub async fn suspend_all(
    connection: &Connection,
    apis: &FluxApis,
    selection: &Selection,
) -> Vec<Result<()>> {
    join_all(
        selection
            .objects
            .iter()
            .map(|object| suspend(connection, apis, object)),
    )
    .await
}

/// Resumes every selected object at once (see [`resume`]); one result per object, in order.
pub async fn resume_all(
    connection: &Connection,
    apis: &FluxApis,
    selection: &Selection,
    options: &Options,
    progress: Progress<'_>,
    tell: Tell<'_>,
) -> Vec<Result<Report>> {
    let batch = join_all(
        selection
            .objects
            .iter()
            .map(|object| resume(connection, apis, object, options, progress)),
    );
    explained_batch(connection, &selection.objects, options, tell, batch).await
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
