//! The GitLab half of the stand-in: what a GitLab server answers under `/api/v4` to the
//! operations bootstrap uses, with bodies shaped as GitLab's REST documentation shows them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ApiRequest, Context, DeployKey, DeployToken, Reply, Repository, normalise_key, now};

pub(super) fn answer(mut cx: Context<'_>, request: &ApiRequest) -> Reply {
    if cx.state.rate_limited > 0 {
        cx.state.rate_limited -= 1;
        let seconds = cx.state.rate_limit_seconds;
        // GitLab's throttle (Rack::Attack) answers in plain text.
        return Reply::text(429, "Retry later\n")
            .header("retry-after", seconds.to_string())
            .header("ratelimit-limit", "2000")
            .header("ratelimit-observed", "2001")
            .header("ratelimit-remaining", "0")
            .header("ratelimit-reset", (now() + seconds).to_string())
            .header("ratelimit-name", "throttle_authenticated_api");
    }
    let token = request
        .headers
        .get("private-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            request
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    if token != Some(cx.shared.token.as_str()) {
        return Reply::json(401, &json!({"message": "401 Unauthorized"}));
    }
    route(&mut cx, request)
}

fn not_found(what: &str) -> Reply {
    Reply::json(404, &json!({"message": format!("404 {what} Not Found")}))
}

fn forbidden() -> Reply {
    Reply::json(403, &json!({"message": "403 Forbidden"}))
}

/// The project of `:id`: a numeric ID or the URL-encoded `namespace/name`.
fn project_of(cx: &mut Context<'_>, id: &str) -> Option<Repository> {
    if let Ok(number) = id.parse::<u64>() {
        return cx.state.repos.iter().find(|r| r.id == number).cloned();
    }
    let (namespace, name) = id.rsplit_once('/')?;
    cx.state.repo(namespace, name).cloned()
}

fn with_project(
    cx: &mut Context<'_>,
    id: &str,
    change: impl FnOnce(&mut Repository),
) -> Option<Repository> {
    let project = project_of(cx, id)?;
    let stored = cx.state.repo(&project.owner, &project.name)?;
    change(stored);
    Some(stored.clone())
}

fn route(cx: &mut Context<'_>, request: &ApiRequest) -> Reply {
    let id = request.param("id");
    match (request.method.as_str(), request.template.as_str()) {
        ("GET", "/user") => Reply::json(200, &user(cx)),
        ("GET", "/groups/{id}") => {
            let found = cx
                .state
                .orgs
                .iter()
                .map(|(path, id)| (path.clone(), *id))
                .chain(
                    cx.state
                        .teams
                        .iter()
                        .map(|((_, path), id)| (path.clone(), *id)),
                )
                .find(|(path, group_id)| {
                    path.eq_ignore_ascii_case(&id) || group_id.to_string() == id
                });
            match found {
                Some((path, group_id)) => Reply::json(200, &group(cx, &path, group_id)),
                None => not_found("Group"),
            }
        }
        ("GET", "/projects/{id}") => match project_of(cx, &id) {
            Some(project) => Reply::json(200, &project_json(cx, &project)),
            None => not_found("Project"),
        },
        ("POST", "/projects") => create(cx, request),
        ("PUT", "/projects/{id}") => {
            let body = request.body.clone();
            match with_project(cx, &id, |p| {
                if let Some(v) = body["visibility"].as_str() {
                    p.visibility = v.into();
                }
                if let Some(b) = body["default_branch"].as_str() {
                    p.default_branch = b.into();
                }
                if let Some(d) = body["description"].as_str() {
                    p.description = d.into();
                }
            }) {
                Some(project) => Reply::json(200, &project_json(cx, &project)),
                None => not_found("Project"),
            }
        }
        ("POST", "/projects/{id}/share") => {
            let group_id = request.body["group_id"].as_u64().unwrap_or_default();
            let Some(((_, path), _)) = cx
                .state
                .teams
                .iter()
                .find(|(_, gid)| **gid == group_id)
                .map(|(k, v)| (k.clone(), *v))
            else {
                return not_found("Group");
            };
            let access = request.body["group_access"].to_string();
            match with_project(cx, &id, |p| {
                p.teams.insert(path, access);
            }) {
                Some(project) => Reply::json(
                    201,
                    &json!({"id": 1, "project_id": project.id, "group_id": group_id, "group_access": request.body["group_access"], "expires_at": null}),
                ),
                None => not_found("Project"),
            }
        }
        ("GET", "/projects/{id}/repository/branches/{branch}") => {
            let branch = request.param("branch");
            let Some(project) = project_of(cx, &id) else {
                return not_found("Project");
            };
            match cx.shared.branch(&project.owner, &project.name, &branch) {
                Some(sha) => Reply::json(
                    200,
                    &json!({"name": branch, "merged": false, "protected": false, "default": branch == project.default_branch, "developers_can_push": false, "developers_can_merge": false, "can_push": true, "web_url": format!("{}/{}/{}/-/tree/{branch}", cx.shared.web(), project.owner, project.name), "commit": {"id": sha, "short_id": &sha[..8.min(sha.len())], "title": "", "message": ""}}),
                ),
                None => not_found("Branch"),
            }
        }
        ("DELETE", "/projects/{id}/share/{group_id}") => {
            let group_id: u64 = request.param("group_id").parse().unwrap_or_default();
            let path = cx
                .state
                .teams
                .iter()
                .find(|(_, gid)| **gid == group_id)
                .map(|((_, path), _)| path.clone());
            let Some(path) = path else {
                return not_found("Group Link");
            };
            match with_project(cx, &id, |p| {
                p.teams.remove(&path);
            }) {
                Some(_) => Reply::empty(204),
                None => not_found("Project"),
            }
        }
        ("GET", "/projects/{id}/deploy_keys") => {
            let admin = cx.state.admin;
            let Some(project) = project_of(cx, &id) else {
                return not_found("Project");
            };
            if !admin {
                return forbidden();
            }
            let items: Vec<Value> = project.keys.iter().map(deploy_key).collect();
            paginated(cx, request, items)
        }
        ("POST", "/projects/{id}/deploy_keys") => {
            let admin = cx.state.admin;
            let Some(project) = project_of(cx, &id) else {
                return not_found("Project");
            };
            if !admin {
                return forbidden();
            }
            let Some(key) = request.body["key"].as_str().and_then(normalise_key) else {
                return Reply::json(400, &json!({"message": {"key": ["is invalid"]}}));
            };
            if project.keys.iter().any(|k| k.key == key) {
                return Reply::json(
                    400,
                    &json!({"message": {"deploy_key.fingerprint_sha256": ["has already been taken"]}}),
                );
            }
            let new = DeployKey {
                id: cx.state.id(),
                title: request.body["title"].as_str().unwrap_or_default().into(),
                key,
                read_only: !request.body["can_push"].as_bool().unwrap_or(false),
            };
            let stored = new.clone();
            with_project(cx, &id, |p| p.keys.push(stored));
            Reply::json(201, &deploy_key(&new))
        }
        ("DELETE", "/projects/{id}/deploy_keys/{key_id}") => {
            let key_id: u64 = request.param("key_id").parse().unwrap_or_default();
            let admin = cx.state.admin;
            match project_of(cx, &id) {
                Some(p) if admin && p.keys.iter().any(|k| k.id == key_id) => {
                    with_project(cx, &id, |p| p.keys.retain(|k| k.id != key_id));
                    Reply::empty(204)
                }
                Some(_) if !admin => forbidden(),
                _ => not_found("Deploy Key"),
            }
        }
        ("GET", "/projects/{id}/deploy_tokens") => {
            let admin = cx.state.admin;
            let Some(project) = project_of(cx, &id) else {
                return not_found("Project");
            };
            if !admin {
                return forbidden();
            }
            let active_only = request.query.get("active").map(String::as_str) == Some("true");
            let items: Vec<Value> = project
                .deploy_tokens
                .iter()
                .filter(|t| !(active_only && t.revoked))
                .map(|t| deploy_token(t, false))
                .collect();
            paginated(cx, request, items)
        }
        ("POST", "/projects/{id}/deploy_tokens") => {
            if !cx.state.admin {
                return forbidden();
            }
            let token_id = cx.state.id();
            let name = request.body["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let token = DeployToken {
                id: token_id,
                username: request.body["username"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("gitlab+deploy-token-{token_id}")),
                name,
                token: format!("gldt-{}", super::super::control_plane::random_hex()),
                scopes: request.body["scopes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
                revoked: false,
            };
            let stored = token.clone();
            match with_project(cx, &id, |p| p.deploy_tokens.push(stored)) {
                Some(_) => Reply::json(201, &deploy_token(&token, true)),
                None => not_found("Project"),
            }
        }
        ("DELETE", "/projects/{id}/deploy_tokens/{token_id}") => {
            // GitLab revokes the token: it stays listed, with `revoked: true`.
            let token_id: u64 = request.param("token_id").parse().unwrap_or_default();
            let admin = cx.state.admin;
            match project_of(cx, &id) {
                Some(_) if !admin => forbidden(),
                Some(p)
                    if p.deploy_tokens
                        .iter()
                        .any(|t| t.id == token_id && !t.revoked) =>
                {
                    with_project(cx, &id, |p| {
                        for t in p.deploy_tokens.iter_mut().filter(|t| t.id == token_id) {
                            t.revoked = true;
                        }
                    });
                    Reply::empty(204)
                }
                _ => not_found("Deploy Token"),
            }
        }
        (method, template) => Reply::json(
            501,
            &json!({"message": format!("the GitLab stand-in does not implement {method} {template}")}),
        ),
    }
}

fn create(cx: &mut Context<'_>, request: &ApiRequest) -> Reply {
    let name = request.body["name"]
        .as_str()
        .or_else(|| request.body["path"].as_str())
        .unwrap_or_default()
        .to_string();
    let namespace = match request.body["namespace_id"].as_u64() {
        Some(namespace_id) => match cx
            .state
            .orgs
            .iter()
            .find(|(_, id)| **id == namespace_id)
            .map(|(path, _)| path.clone())
        {
            Some(path) => path,
            None => return not_found("Namespace"),
        },
        None => cx.state.user.clone(),
    };
    if cx.state.repo(&namespace, &name).is_some() {
        return Reply::json(
            400,
            &json!({"message": {"project_namespace.name": ["has already been taken"], "name": ["has already been taken"], "path": ["has already been taken"]}}),
        );
    }
    let repo = Repository {
        id: cx.state.id(),
        owner: namespace.clone(),
        name: name.clone(),
        visibility: request.body["visibility"]
            .as_str()
            .unwrap_or("private")
            .to_string(),
        default_branch: request.body["default_branch"]
            .as_str()
            .unwrap_or("main")
            .to_string(),
        description: request.body["description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        keys: Vec::new(),
        teams: BTreeMap::new(),
        deploy_tokens: Vec::new(),
    };
    cx.state.repos.push(repo.clone());
    cx.shared.create_bare(&namespace, &name);
    Reply::json(201, &project_json(cx, &repo))
}

/// A list answer with GitLab's offset pagination headers (default 20 a page, at most 100).
fn paginated(cx: &Context<'_>, request: &ApiRequest, items: Vec<Value>) -> Reply {
    let per_page = request.query_number("per_page").unwrap_or(20).clamp(1, 100);
    let page = request.query_number("page").unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let base = format!("{}{}", cx.shared.web(), request.path);
    let link = |n: usize| format!("<{base}?page={n}&per_page={per_page}>");
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link(page - 1)));
    }
    if page < pages {
        links.push(format!("{}; rel=\"next\"", link(page + 1)));
    }
    links.push(format!("{}; rel=\"first\"", link(1)));
    links.push(format!("{}; rel=\"last\"", link(pages)));
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    Reply::json(200, &Value::Array(slice))
        .header("x-page", page.to_string())
        .header("x-per-page", per_page.to_string())
        .header("x-next-page", next)
        .header("x-prev-page", prev)
        .header("x-total", total.to_string())
        .header("x-total-pages", pages.to_string())
        .header("link", links.join(", "))
}

fn user(cx: &Context<'_>) -> Value {
    let name = &cx.state.user;
    json!({
        "id": cx.state.user_id,
        "username": name,
        "name": name,
        "state": "active",
        "locked": false,
        "avatar_url": "https://secure.gravatar.com/avatar/00000000000000000000000000000000?s=80&d=identicon",
        "web_url": format!("{}/{name}", cx.shared.web()),
        "created_at": "2024-01-15T09:30:00.000Z",
        "bio": "",
        "location": "",
        "public_email": null,
        "linkedin": "",
        "twitter": "",
        "website_url": "",
        "organization": "",
        "job_title": "",
        "bot": false,
        "last_sign_in_at": "2026-11-30T08:00:00.000Z",
        "confirmed_at": "2024-01-15T09:30:00.000Z",
        "last_activity_on": "2026-12-01",
        "email": format!("{name}@example.com"),
        "theme_id": 3,
        "color_scheme_id": 1,
        "projects_limit": 100000,
        "can_create_group": true,
        "can_create_project": true,
        "two_factor_enabled": false,
        "external": false,
        "private_profile": false,
        "is_admin": false
    })
}

fn group(cx: &Context<'_>, path: &str, id: u64) -> Value {
    json!({
        "id": id,
        "web_url": format!("{}/groups/{path}", cx.shared.web()),
        "name": path,
        "path": path,
        "description": "",
        "visibility": "private",
        "share_with_group_lock": false,
        "require_two_factor_authentication": false,
        "project_creation_level": "developer",
        "subgroup_creation_level": "maintainer",
        "lfs_enabled": true,
        "default_branch": null,
        "request_access_enabled": true,
        "full_name": path,
        "full_path": path,
        "created_at": "2024-01-15T09:30:00.000Z",
        "parent_id": null,
        "shared_with_groups": [],
        "projects": []
    })
}

fn project_json(cx: &Context<'_>, project: &Repository) -> Value {
    let full_path = format!("{}/{}", project.owner, project.name);
    let empty = cx.shared.is_empty(&project.owner, &project.name);
    let is_group = cx.state.orgs.contains_key(&project.owner);
    let namespace_id = cx
        .state
        .orgs
        .get(&project.owner)
        .copied()
        .unwrap_or(cx.state.user_id);
    let shared: Vec<Value> = project
        .teams
        .iter()
        .map(|(path, access)| {
            let id = cx
                .state
                .teams
                .iter()
                .find(|((_, p), _)| p == path)
                .map(|(_, id)| *id)
                .unwrap_or_default();
            json!({"group_id": id, "group_name": path, "group_full_path": path, "group_access_level": access.parse::<u64>().unwrap_or(30), "expires_at": null})
        })
        .collect();
    json!({
        "id": project.id,
        "description": if project.description.is_empty() { Value::Null } else { json!(project.description) },
        "name": project.name,
        "name_with_namespace": format!("{} / {}", project.owner, project.name),
        "path": project.name,
        "path_with_namespace": full_path,
        "created_at": "2026-12-03T10:00:00.000Z",
        // GitLab reports no default branch until the first push.
        "default_branch": if empty { Value::Null } else { json!(project.default_branch) },
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": format!("git@127.0.0.1:{full_path}.git"),
        "http_url_to_repo": format!("{}/{full_path}.git", cx.shared.web()),
        "web_url": format!("{}/{full_path}", cx.shared.web()),
        "readme_url": null,
        "forks_count": 0,
        "avatar_url": null,
        "star_count": 0,
        "last_activity_at": "2026-12-03T10:00:00.000Z",
        "namespace": {
            "id": namespace_id,
            "name": project.owner,
            "path": project.owner,
            "kind": if is_group { "group" } else { "user" },
            "full_path": project.owner,
            "parent_id": null,
            "avatar_url": null,
            "web_url": format!("{}/{}", cx.shared.web(), project.owner)
        },
        "container_registry_image_prefix": format!("registry.example.com/{full_path}"),
        "empty_repo": empty,
        "archived": false,
        "visibility": project.visibility,
        "shared_with_groups": shared,
        "permissions": {"project_access": {"access_level": if cx.state.admin { 50 } else { 30 }, "notification_level": 3}, "group_access": null}
    })
}

fn deploy_key(key: &DeployKey) -> Value {
    json!({
        "id": key.id,
        "title": key.title,
        "key": key.key,
        "fingerprint_sha256": "SHA256:Rk9STEFOREVNT1NUQU5EMElORk9SR0lUTEFCMDAwMDA",
        "created_at": "2026-12-03T10:00:00.000Z",
        "expires_at": null,
        "can_push": !key.read_only
    })
}

fn deploy_token(token: &DeployToken, with_secret: bool) -> Value {
    let mut body = json!({
        "id": token.id,
        "name": token.name,
        "username": token.username,
        "expires_at": null,
        "revoked": token.revoked,
        "expired": false,
        "scopes": token.scopes
    });
    if with_secret {
        body["token"] = json!(token.token);
    }
    body
}
