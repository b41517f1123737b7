//! `bootstrap gitlab --deploy-token-auth` on the real controllers: the GitLab API is the forge
//! STAND-IN (tests/support/forge_stand_in; GitLab cannot run here), and the real
//! source-controller clones over HTTPS through it with the deploy token and `ca.crt` that
//! bootstrap put in the Secret. The stand-in lets a deploy token fetch only while it is not
//! revoked, as GitLab does, so a Ready GitRepository proves the Secret's format and the token.

use crate::bootstrap::assert_synced_by_the_controllers;
use crate::support::forge_stand_in::ForgeStandIn;
use crate::support::{run_async, stderr, stdout};
use crate::{LiveFlux, NS, head};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_deploy_token_auth_is_what_the_source_controller_clones_with() {
    let flux = LiveFlux::start().await;
    let stand_in = ForgeStandIn::gitlab("lab");
    stand_in.add_org("acme");
    let hostname = stand_in.hostname();
    let ca_file = stand_in.ca_file.display().to_string();
    let args = [
        "--owner",
        "acme",
        "--repository",
        "fleet",
        "--deploy-token-auth",
        "--hostname",
        hostname.as_str(),
        "--ca-file",
        ca_file.as_str(),
        "--path",
        "clusters/dev",
    ];
    let mut command = flux.bootstrap_command_on("gitlab", &args, &[]);
    command
        .env_remove("GITLAB_TOKEN")
        .env("GITLAB_TOKEN", &stand_in.token);
    let out = run_async(command).await;
    assert!(
        out.status.success(),
        "bootstrap gitlab:\n{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        flux.logs()
    );
    let token = stand_in
        .repository("acme", "fleet")
        .expect("created")
        .deploy_tokens[0]
        .clone();
    for text in [stdout(&out), stderr(&out)] {
        assert!(
            !text.contains(&stand_in.token),
            "the access token in the output"
        );
        assert!(
            !text.contains(&token.token),
            "the deploy token in the output"
        );
    }
    let source = flux.get("gitrepository", NS, NS).expect("GitRepository");
    assert_eq!(
        source["spec"]["url"],
        format!("https://{}/acme/fleet.git", stand_in.host()).as_str()
    );
    let revision = format!("main@sha1:{}", head(&stand_in.bare_path("acme", "fleet")));
    assert_synced_by_the_controllers(&flux, &revision).await;
}
