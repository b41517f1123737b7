//! The forge API stand-in itself (tests/support/forge_stand_in): that it refuses what the
//! published API descriptions do not allow, paginates, limits and authenticates like the real
//! forges, and that its repositories are real Git repositories reached with the token.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::forge_stand_in::ForgeStandIn;
use crate::support::processes::temp_dir;
use crate::support::{run, stderr};

fn client(stand_in: &ForgeStandIn) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(&stand_in.ca_file).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .user_agent("stand-in-test")
        .build()
        .unwrap()
}

async fn github(
    stand_in: &ForgeStandIn,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client(stand_in)
        .request(
            method.parse().unwrap(),
            format!("{}{path}", stand_in.hostname()),
        )
        .bearer_auth(&stand_in.token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

async fn gitlab(
    stand_in: &ForgeStandIn,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client(stand_in)
        .request(
            method.parse().unwrap(),
            format!("{}/api/v4{path}", stand_in.hostname()),
        )
        .header("Private-Token", &stand_in.token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> T {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn github_stand_in_refuses_what_the_openapi_description_does_not_allow() {
    let stand_in = ForgeStandIn::github("octo");
    // A misspelt body field, an undeclared query parameter, a method the path lacks.
    let out = github(
        &stand_in,
        "POST",
        "/user/repos",
        Some(json!({"name": "r", "privat": true})),
    )
    .await;
    assert_eq!(out.status(), 400);
    let out = github(&stand_in, "GET", "/repos/octo/r/keys?perpage=100", None).await;
    assert_eq!(out.status(), 400);
    let out = github(&stand_in, "PUT", "/repos/octo/r/keys", None).await;
    assert_eq!(out.status(), 400);
    let out = github(
        &stand_in,
        "POST",
        "/repos/octo/r/keys",
        Some(json!({"title": "t", "read_only": "yes"})),
    )
    .await;
    assert_eq!(out.status(), 400);
    let invalid = stand_in.take_invalid_requests();
    assert_eq!(invalid.len(), 4, "{invalid:#?}");
    assert!(invalid[0].contains("privat"), "{}", invalid[0]);
    assert!(
        invalid[1].contains("\"perpage\" is not in the description"),
        "{}",
        invalid[1]
    );
    assert!(
        invalid[2].contains("has no PUT operation"),
        "{}",
        invalid[2]
    );
    assert!(
        invalid[3].contains("\"key\" is a required property") && invalid[3].contains("read_only"),
        "{}",
        invalid[3]
    );
}

#[tokio::test]
async fn github_stand_in_answers_like_github() {
    let stand_in = ForgeStandIn::github("octo");
    let out = github(&stand_in, "GET", "/user", None).await;
    assert_eq!(out.status(), 200);
    let user: Value = json(out).await;
    assert_eq!(
        (user["login"].as_str(), user["type"].as_str()),
        (Some("octo"), Some("User"))
    );

    let out = github(
        &stand_in,
        "POST",
        "/user/repos",
        Some(json!({"name": "fleet", "private": true, "auto_init": false})),
    )
    .await;
    assert_eq!(out.status(), 201);
    let repo: Value = json(out).await;
    assert_eq!(repo["full_name"], "octo/fleet");
    assert_eq!(repo["private"], true);
    assert_eq!(
        repo["clone_url"],
        format!("https://{}/octo/fleet.git", stand_in.host())
    );

    // 105 keys: two pages of 100, with GitHub's Link header.
    stand_in.add_other_deploy_keys("octo", "fleet", 105);
    let out = github(
        &stand_in,
        "GET",
        "/repos/octo/fleet/keys?per_page=100",
        None,
    )
    .await;
    let link = out.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(
        link,
        format!(
            "<{0}/repos/octo/fleet/keys?per_page=100&page=2>; rel=\"next\", <{0}/repos/octo/fleet/keys?per_page=100&page=2>; rel=\"last\"",
            stand_in.hostname()
        )
    );
    assert_eq!(json::<Vec<Value>>(out).await.len(), 100);
    let out = github(
        &stand_in,
        "GET",
        "/repos/octo/fleet/keys?per_page=100&page=2",
        None,
    )
    .await;
    assert_eq!(json::<Vec<Value>>(out).await.len(), 5);

    // Without admin rights GitHub hides the keys endpoint: 404.
    stand_in.set_admin(false);
    let out = github(&stand_in, "GET", "/repos/octo/fleet/keys", None).await;
    assert_eq!(out.status(), 404);
    stand_in.set_admin(true);

    // Rate limited: 403 with x-ratelimit-remaining 0 and the reset time.
    stand_in.rate_limit_next(1, 2);
    let out = github(&stand_in, "GET", "/user", None).await;
    assert_eq!(out.status(), 403);
    assert_eq!(out.headers()["x-ratelimit-remaining"], "0");

    // A bad token: 401 Bad credentials.
    let out = client(&stand_in)
        .get(format!("{}/user", stand_in.hostname()))
        .bearer_auth("ghp_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 401);
    assert_eq!(json::<Value>(out).await["message"], "Bad credentials");

    // The repository is real Git: push with the token, not without it.
    let work = temp_dir("stand-in-git-");
    let git = |args: &[&str]| {
        run(Command::new("git")
            .current_dir(&work)
            .env("GIT_SSL_CAINFO", &stand_in.ca_file)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("HOME", &work)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args))
    };
    assert!(git(&["init", "-q", "-b", "main"]).status.success());
    assert!(
        git(&["commit", "-q", "--allow-empty", "-m", "first"])
            .status
            .success()
    );
    let refused = git(&[
        "push",
        &format!("https://octo:wrong@{}/octo/fleet.git", stand_in.host()),
        "main",
    ]);
    assert!(!refused.status.success());
    let pushed = git(&[
        "push",
        &format!(
            "https://octo:{}@{}/octo/fleet.git",
            stand_in.token,
            stand_in.host()
        ),
        "main",
    ]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let head = run(Command::new("git")
        .arg("--git-dir")
        .arg(stand_in.bare_path("octo", "fleet"))
        .args(["log", "--format=%s", "main"]));
    assert_eq!(String::from_utf8_lossy(&head.stdout), "first\n");

    assert_eq!(
        stand_in.requests()[..3],
        [
            "GET /api/v3/user",
            "POST /api/v3/user/repos",
            "GET /api/v3/repos/octo/fleet/keys?per_page=100"
        ]
    );
}

#[tokio::test]
async fn gitlab_stand_in_checks_the_documented_shapes_and_paginates() {
    let stand_in = ForgeStandIn::gitlab("lab");
    stand_in.add_org("team-a");
    let out = gitlab(
        &stand_in,
        "POST",
        "/projects",
        Some(json!({"name": "fleet", "visibility": "secret"})),
    )
    .await;
    assert_eq!(out.status(), 400);
    let invalid = stand_in.take_invalid_requests();
    assert!(
        invalid.len() == 1 && invalid[0].contains("secret"),
        "{invalid:#?}"
    );

    let group: Value = json(gitlab(&stand_in, "GET", "/groups/team-a", None).await).await;
    let out = gitlab(
        &stand_in,
        "POST",
        "/projects",
        Some(json!({"name": "fleet", "namespace_id": group["id"], "visibility": "private"})),
    )
    .await;
    assert_eq!(out.status(), 201);
    let project: Value = json(out).await;
    assert_eq!(project["path_with_namespace"], "team-a/fleet");
    assert_eq!(project["empty_repo"], true);
    assert_eq!(project["default_branch"], Value::Null);
    let out = gitlab(&stand_in, "GET", "/projects/team-a%2Ffleet", None).await;
    assert_eq!(json::<Value>(out).await["id"], project["id"]);

    stand_in.add_other_deploy_keys("team-a", "fleet", 25);
    let out = gitlab(
        &stand_in,
        "GET",
        "/projects/team-a%2Ffleet/deploy_keys",
        None,
    )
    .await;
    assert_eq!(
        [
            "x-page",
            "x-per-page",
            "x-next-page",
            "x-total",
            "x-total-pages"
        ]
        .map(|h| out.headers()[h].to_str().unwrap().to_string()),
        ["1", "20", "2", "25", "2"]
    );
    assert_eq!(json::<Vec<Value>>(out).await.len(), 20);

    stand_in.rate_limit_next(1, 1);
    let out = gitlab(&stand_in, "GET", "/user", None).await;
    assert_eq!(out.status(), 429);
    assert_eq!(out.headers()["retry-after"], "1");
    let out = client(&stand_in)
        .get(format!("{}/api/v4/user", stand_in.hostname()))
        .header("Private-Token", "glpat-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 401);
    assert_eq!(json::<Value>(out).await["message"], "401 Unauthorized");
}
