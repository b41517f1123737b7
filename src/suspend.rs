//! `suspend` and `resume`: Flux's `spec.suspend` switch. Resuming also requests a reconcile
//! and waits for it, because a resumed object is only useful once it has caught up.

use jiff::Timestamp;

use crate::connection::Connection;
use crate::discovery::FluxApis;
use crate::error::Result;
use crate::objects::FluxObject;
use crate::reconcile::{
    Options, Outcome, Progress, REQUESTED_AT, Report, merge_patch, new_token, wait,
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
    let started = std::time::Instant::now();
    let served = apis.require(object.kind)?;
    let token = new_token();
    let since = Timestamp::now();
    let patch = serde_json::json!({
        "metadata": {"annotations": {REQUESTED_AT: token}},
        "spec": {"suspend": false}
    });
    progress(&format!(
        "► resuming {} in namespace {}",
        object.display_name(),
        object.namespace()
    ));
    merge_patch(
        connection,
        served,
        object.namespace(),
        object.name(),
        &patch,
    )
    .await?;
    let outcome = if options.wait && object.kind.reconcilable {
        progress(&format!(
            "◎ waiting for {} to reconcile",
            object.display_name()
        ));
        wait(connection, object, served, &token, since, options.timeout).await?
    } else {
        Outcome::Requested
    };
    Ok(Report {
        kind: object.kind.kind,
        name: object.name().to_string(),
        namespace: object.namespace().to_string(),
        outcome,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        source: None,
    })
}
