//! The GitHub half of the stand-in: what github.com (or GitHub Enterprise under `/api/v3`)
//! answers to the operations bootstrap uses, with the state of [`super::State`]. Bodies start
//! from the examples of GitHub's own description, with the stand-in's values written over them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ApiRequest, Context, DeployKey, Reply, Repository, normalise_key, now};

const DOCS: &str = "https://docs.github.com/rest";

pub(super) fn answer(mut cx: Context<'_>, request: &ApiRequest) -> Reply {
    // GitHub refuses requests without a User-Agent.
    if !request.headers.contains_key(http::header::USER_AGENT) {
        return with_headers(
            Reply::text(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n",
            ),
            &cx,
        );
    }
    if cx.state.rate_limited > 0 {
        cx.state.rate_limited -= 1;
        let reset = now() + cx.state.rate_limit_seconds;
        return Reply::json(
            403,
            &json!({
                "message": format!("API rate limit exceeded for user ID {}. If you reach out to GitHub Support for help, please include the request ID 0C43:3B2F:1A5E8E:1B6C2D:6750A1B2.", cx.state.user_id),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403"
            }),
        )
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-used", "5000")
        .header("x-ratelimit-reset", reset.to_string())
        .header("x-ratelimit-resource", "core")
        .header("x-github-request-id", "0C43:3B2F:1A5E8E:1B6C2D:6750A1B2");
    }
    let token = request
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    if token != Some(cx.shared.token.as_str()) {
        return with_headers(
            Reply::json(
                401,
                &json!({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}),
            ),
            &cx,
        );
    }
    let reply = route(&mut cx, request);
    with_headers(reply, &cx)
}

/// The headers every GitHub API answer has.
fn with_headers(reply: Reply, cx: &Context<'_>) -> Reply {
    let used = cx.state.requests.len();
    reply
        .header("x-github-api-version-selected", "2022-11-28")
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", (5000 - used.min(5000)).to_string())
        .header("x-ratelimit-used", used.to_string())
        .header("x-ratelimit-reset", (now() + 3600).to_string())
        .header("x-ratelimit-resource", "core")
        .header("x-github-request-id", "0C43:3B2F:1A5E8E:1B6C2D:6750A1B2")
}

fn not_found(documentation: &str) -> Reply {
    Reply::json(
        404,
        &json!({"message": "Not Found", "documentation_url": format!("https://docs.github.com/rest/{documentation}"), "status": "404"}),
    )
}

fn route(cx: &mut Context<'_>, request: &ApiRequest) -> Reply {
    let owner = request.param("owner");
    let repo = request.param("repo");
    let org = request.param("org");
    match (request.method.as_str(), request.template.as_str()) {
        ("GET", "/user") => {
            let user = cx.state.user.clone();
            let id = cx.state.user_id;
            Reply::json(
                200,
                &account(cx, "users/get-authenticated", &user, id, "User"),
            )
        }
        ("GET", "/orgs/{org}") => match cx.state.orgs.get(&org).copied() {
            Some(id) => Reply::json(200, &account(cx, "orgs/get", &org, id, "Organization")),
            None => not_found("orgs/orgs#get-an-organization"),
        },
        ("GET", "/repos/{owner}/{repo}") => match cx.state.repo(&owner, &repo).cloned() {
            Some(found) => Reply::json(200, &repository(cx, "repos/get", &found)),
            None => not_found("repos/repos#get-a-repository"),
        },
        ("POST", "/user/repos") => {
            let user = cx.state.user.clone();
            create(cx, request, &user, "repos/create-for-authenticated-user")
        }
        ("POST", "/orgs/{org}/repos") => {
            if !cx.state.orgs.contains_key(&org) {
                return not_found("repos/repos#create-an-organization-repository");
            }
            create(cx, request, &org, "repos/create-in-org")
        }
        ("PATCH", "/repos/{owner}/{repo}") => {
            let Some(found) = cx.state.repo(&owner, &repo) else {
                return not_found("repos/repos#update-a-repository");
            };
            if let Some(private) = request.body["private"].as_bool() {
                found.visibility = if private { "private" } else { "public" }.into();
            }
            if let Some(visibility) = request.body["visibility"].as_str() {
                found.visibility = visibility.into();
            }
            if let Some(branch) = request.body["default_branch"].as_str() {
                found.default_branch = branch.into();
            }
            let found = found.clone();
            Reply::json(200, &repository(cx, "repos/update", &found))
        }
        ("GET", "/repos/{owner}/{repo}/branches/{branch}") => {
            let branch = request.param("branch");
            let Some(found) = cx.state.repo(&owner, &repo).cloned() else {
                return not_found("branches/branches#get-a-branch");
            };
            match cx.shared.branch(&found.owner, &found.name, &branch) {
                Some(sha) => {
                    let mut body = example(
                        cx,
                        "repos/get-branch",
                        "200",
                        &[("octocat/Hello-World", &format!("{owner}/{repo}"))],
                    );
                    body["name"] = json!(branch);
                    body["commit"]["sha"] = json!(sha);
                    body["protected"] = json!(false);
                    Reply::json(200, &body)
                }
                None => Reply::json(
                    404,
                    &json!({"message": "Branch not found", "documentation_url": "https://docs.github.com/rest/branches/branches#get-a-branch", "status": "404"}),
                ),
            }
        }
        ("GET", "/repos/{owner}/{repo}/branches") => {
            let Some(found) = cx.state.repo(&owner, &repo).cloned() else {
                return not_found("branches/branches#list-branches");
            };
            let per_page = request.query_number("per_page").unwrap_or(30).clamp(1, 100);
            let items: Vec<Value> = cx
                .shared
                .branches(&found.owner, &found.name)
                .into_iter()
                .take(per_page)
                .map(|name| {
                    let sha = cx.shared.branch(&found.owner, &found.name, &name).unwrap_or_default();
                    json!({"name": name, "commit": {"sha": sha, "url": format!("{}/repos/{owner}/{repo}/commits/{sha}", api_base(cx))}, "protected": false})
                })
                .collect();
            Reply::json(200, &Value::Array(items))
        }
        ("GET", "/repos/{owner}/{repo}/keys") => {
            if !cx.state.admin {
                return not_found("deploy-keys/deploy-keys#list-deploy-keys");
            }
            let Some(found) = cx.state.repo(&owner, &repo).cloned() else {
                return not_found("deploy-keys/deploy-keys#list-deploy-keys");
            };
            let per_page = request.query_number("per_page").unwrap_or(30).clamp(1, 100);
            let page = request.query_number("page").unwrap_or(1).max(1);
            let pages = found.keys.len().div_ceil(per_page).max(1);
            let items: Vec<Value> = found
                .keys
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|k| deploy_key(cx, &found, k))
                .collect();
            let mut reply = Reply::json(200, &Value::Array(items));
            let link = |n: usize| {
                format!(
                    "<{}{}?per_page={per_page}&page={n}>",
                    api_base(cx),
                    request.path.trim_start_matches("/api/v3")
                )
            };
            let mut links = Vec::new();
            if page > 1 {
                links.push(format!("{}; rel=\"prev\"", link(page - 1)));
            }
            if page < pages {
                links.push(format!("{}; rel=\"next\"", link(page + 1)));
                links.push(format!("{}; rel=\"last\"", link(pages)));
            }
            if page > 1 {
                links.push(format!("{}; rel=\"first\"", link(1)));
            }
            if !links.is_empty() {
                reply = reply.header("link", links.join(", "));
            }
            reply
        }
        ("POST", "/repos/{owner}/{repo}/keys") => {
            if !cx.state.admin {
                return not_found("deploy-keys/deploy-keys#create-a-deploy-key");
            }
            let Some(key) = request.body["key"].as_str().and_then(normalise_key) else {
                return validation_failed(
                    "PublicKey",
                    "key",
                    "key is invalid. You must supply a key in OpenSSH public key format",
                );
            };
            let in_use = cx
                .state
                .repos
                .iter()
                .any(|r| r.keys.iter().any(|k| k.key == key));
            if in_use {
                return validation_failed("PublicKey", "key", "key is already in use");
            }
            let id = cx.state.id();
            let title = request.body["title"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let new = DeployKey {
                id,
                title,
                key,
                read_only: request.body["read_only"].as_bool().unwrap_or(false),
            };
            let Some(found) = cx.state.repo(&owner, &repo) else {
                return not_found("deploy-keys/deploy-keys#create-a-deploy-key");
            };
            found.keys.push(new.clone());
            let found = found.clone();
            Reply::json(201, &deploy_key(cx, &found, &new))
        }
        ("DELETE", "/repos/{owner}/{repo}/keys/{key_id}") => {
            let id: u64 = request.param("key_id").parse().unwrap_or_default();
            let admin = cx.state.admin;
            match cx.state.repo(&owner, &repo) {
                Some(found) if admin && found.keys.iter().any(|k| k.id == id) => {
                    found.keys.retain(|k| k.id != id);
                    Reply::empty(204)
                }
                _ => not_found("deploy-keys/deploy-keys#delete-a-deploy-key"),
            }
        }
        ("GET", "/repos/{owner}/{repo}/teams") => {
            let Some(found) = cx.state.repo(&owner, &repo).cloned() else {
                return not_found("repos/repos#list-repository-teams");
            };
            let items: Vec<Value> = found
                .teams
                .iter()
                .map(|(slug, permission)| {
                    let id = cx
                        .state
                        .teams
                        .get(&(found.owner.clone(), slug.clone()))
                        .copied()
                        .unwrap_or_default();
                    let mut team = example(cx, "repos/list-teams", "200", &[])
                        .as_array()
                        .and_then(|a| a.first().cloned())
                        .unwrap_or_else(|| json!({}));
                    team["id"] = json!(id);
                    team["slug"] = json!(slug);
                    team["name"] = json!(slug);
                    team["permission"] = json!(permission);
                    team
                })
                .collect();
            Reply::json(200, &Value::Array(items))
        }
        ("GET", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}") => {
            let team = request.param("team_slug");
            if !cx.state.teams.contains_key(&(org.clone(), team.clone())) {
                return not_found("teams/teams#check-team-permissions-for-a-repository");
            }
            let Some(found) = cx.state.repo(&owner, &repo).cloned() else {
                return not_found("teams/teams#check-team-permissions-for-a-repository");
            };
            let Some(permission) = found.teams.get(&team).cloned() else {
                return not_found("teams/teams#check-team-permissions-for-a-repository");
            };
            let wants_repository = request
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/vnd.github.v3.repository+json"));
            if !wants_repository {
                return Reply::empty(204);
            }
            let mut body = repository(cx, "teams/check-permissions-for-repo-in-org", &found);
            body["role_name"] = json!(permission);
            body["permissions"] = permissions(&permission);
            Reply::json(200, &body)
        }
        ("PUT", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}") => {
            let team = request.param("team_slug");
            if !cx.state.teams.contains_key(&(org.clone(), team.clone())) {
                return not_found("teams/teams#add-or-update-team-repository-permissions");
            }
            let permission = request.body["permission"]
                .as_str()
                .unwrap_or("push")
                .to_string();
            match cx.state.repo(&owner, &repo) {
                Some(found) => {
                    found.teams.insert(team, permission);
                    Reply::empty(204)
                }
                None => not_found("teams/teams#add-or-update-team-repository-permissions"),
            }
        }
        (method, template) => Reply::json(
            501,
            &json!({"message": format!("the GitHub stand-in does not implement {method} {template}")}),
        ),
    }
}

fn create(cx: &mut Context<'_>, request: &ApiRequest, owner: &str, operation: &str) -> Reply {
    let name = request.body["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if cx.state.repo(owner, &name).is_some() {
        return validation_failed("Repository", "name", "name already exists on this account");
    }
    let visibility = match (
        request.body["visibility"].as_str(),
        request.body["private"].as_bool(),
    ) {
        (Some(v), _) => v.to_string(),
        (None, Some(true)) => "private".into(),
        _ => "public".into(),
    };
    let id = cx.state.id();
    let repo = Repository {
        id,
        owner: owner.to_string(),
        name: name.clone(),
        visibility,
        // New repositories get the account's default branch name, main unless changed.
        default_branch: "main".into(),
        description: request.body["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        keys: Vec::new(),
        teams: BTreeMap::new(),
        deploy_tokens: Vec::new(),
    };
    cx.state.repos.push(repo.clone());
    cx.shared.create_bare(owner, &name);
    Reply::json(201, &repository(cx, operation, &repo))
}

fn validation_failed(resource: &str, field: &str, message: &str) -> Reply {
    Reply::json(
        422,
        &json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": "custom", "field": field, "message": message}],
            "documentation_url": DOCS,
            "status": "422"
        }),
    )
}

fn api_base(cx: &Context<'_>) -> String {
    format!("{}/api/v3", cx.shared.web())
}

/// The description's example for `operation`, with GitHub's addresses and example names
/// replaced by the stand-in's.
fn example(cx: &Context<'_>, operation: &str, status: &str, replace: &[(&str, &str)]) -> Value {
    let example = cx
        .shared
        .description
        .response_example(operation, status)
        .unwrap_or_else(|| json!({}));
    let mut text = serde_json::to_string(&example).unwrap_or_default();
    text = text.replace("https://api.github.com", &api_base(cx));
    text = text.replace("https://github.com", &cx.shared.web());
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap_or(example)
}

fn account(cx: &Context<'_>, operation: &str, login: &str, id: u64, kind: &str) -> Value {
    let from = if kind == "User" { "octocat" } else { "github" };
    let mut body = example(cx, operation, "200", &[(from, login)]);
    body["login"] = json!(login);
    body["id"] = json!(id);
    if kind == "User" {
        body["type"] = json!("User");
    }
    body
}

fn permissions(permission: &str) -> Value {
    let rank = ["pull", "triage", "push", "maintain", "admin"]
        .iter()
        .position(|p| *p == permission)
        .unwrap_or(0);
    json!({
        "pull": true,
        "triage": rank >= 1,
        "push": rank >= 2,
        "maintain": rank >= 3,
        "admin": rank >= 4,
    })
}

fn repository(cx: &Context<'_>, operation: &str, repo: &Repository) -> Value {
    let full_name = format!("{}/{}", repo.owner, repo.name);
    let status = if operation.starts_with("repos/create") {
        "201"
    } else {
        "200"
    };
    let mut body = example(
        cx,
        operation,
        status,
        &[
            ("octocat/Hello-World", &full_name),
            ("Hello-World", &repo.name),
        ],
    );
    let is_org = cx.state.orgs.contains_key(&repo.owner);
    let empty = cx.shared.is_empty(&repo.owner, &repo.name);
    body["id"] = json!(repo.id);
    body["name"] = json!(repo.name);
    body["full_name"] = json!(full_name);
    body["owner"]["login"] = json!(repo.owner);
    body["owner"]["type"] = json!(if is_org { "Organization" } else { "User" });
    body["private"] = json!(repo.visibility != "public");
    body["visibility"] = json!(repo.visibility);
    body["description"] = if repo.description.is_empty() {
        Value::Null
    } else {
        json!(repo.description)
    };
    body["default_branch"] = json!(repo.default_branch);
    body["html_url"] = json!(format!("{}/{full_name}", cx.shared.web()));
    body["clone_url"] = json!(format!("{}/{full_name}.git", cx.shared.web()));
    body["git_url"] = json!(format!(
        "git://127.0.0.1:{}/{full_name}.git",
        cx.shared.port
    ));
    body["ssh_url"] = json!(format!("git@127.0.0.1:{full_name}.git"));
    body["size"] = json!(if empty { 0 } else { 1 });
    body["fork"] = json!(false);
    body["archived"] = json!(false);
    body["permissions"] = permissions(if cx.state.admin { "admin" } else { "push" });
    body
}

fn deploy_key(cx: &Context<'_>, repo: &Repository, key: &DeployKey) -> Value {
    let mut body = example(cx, "repos/create-deploy-key", "201", &[]);
    body["id"] = json!(key.id);
    body["key"] = json!(key.key);
    body["title"] = json!(key.title);
    body["read_only"] = json!(key.read_only);
    body["url"] = json!(format!(
        "{}/repos/{}/{}/keys/{}",
        api_base(cx),
        repo.owner,
        repo.name,
        key.id
    ));
    body["added_by"] = json!(cx.state.user);
    body["last_used"] = Value::Null;
    body
}
