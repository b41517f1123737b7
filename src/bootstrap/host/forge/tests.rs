//! The shared flow's decisions (create or not, replace a key or not, which calls write),
//! driven through an in-memory forge that records each call. The end-to-end tests prove the
//! same flow against a real Gitea (tests/e2e/bootstrap_gitea.rs).

use std::sync::{Arc, Mutex};

use super::*;
use crate::git::{KeyAlgorithm, generate_deploy_key};

/// An in-memory forge: one user, one organisation, its repositories and keys; every call is
/// recorded as "METHOD what".
#[derive(Default, Clone)]
struct InMemoryForge {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    calls: Vec<String>,
    repository: Option<RepositoryInfo>,
    keys: Vec<ForgeKey>,
    teams: Vec<String>,
    next_id: u64,
    refuse_rsa: bool,
    tokens: Vec<ForgeDeployToken>,
}

impl InMemoryForge {
    fn record(&self, call: &str) {
        self.state.lock().unwrap().calls.push(call.to_string());
    }

    fn writes(&self) -> Vec<String> {
        let calls = &self.state.lock().unwrap().calls;
        calls
            .iter()
            .filter(|c| !c.starts_with("GET"))
            .cloned()
            .collect()
    }

    fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

fn done<'a, T: Send + 'a>(value: Result<T>) -> BoxFuture<'a, Result<T>> {
    async move { value }.boxed()
}

impl ForgeApi for InMemoryForge {
    fn kind(&self) -> &'static ForgeKind {
        &GITEA
    }
    fn host(&self) -> String {
        "forge.example".into()
    }
    fn current_user(&self) -> BoxFuture<'_, Result<String>> {
        self.record("GET user");
        done(Ok("alice".into()))
    }
    fn organisation_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.record("GET org");
        done(Ok(name == "platform"))
    }
    fn get_repository<'a>(
        &'a self,
        _repo: &'a RepoRef,
    ) -> BoxFuture<'a, Result<Option<RepositoryInfo>>> {
        self.record("GET repo");
        done(Ok(self.state.lock().unwrap().repository.clone()))
    }
    fn create_repository<'a>(
        &'a self,
        _repo: &'a RepoRef,
        owner: OwnerKind,
        settings: &'a RepositorySettings,
    ) -> BoxFuture<'a, Result<RepositoryInfo>> {
        self.record(&format!(
            "POST repo {owner:?} {}",
            settings.visibility.as_str()
        ));
        let info = RepositoryInfo {
            visibility: settings.visibility,
            default_branch: Some(settings.default_branch.clone()),
            empty: true,
        };
        self.state.lock().unwrap().repository = Some(info.clone());
        done(Ok(info))
    }
    fn update_repository<'a>(
        &'a self,
        _repo: &'a RepoRef,
        settings: &'a RepositorySettings,
    ) -> BoxFuture<'a, Result<()>> {
        self.record(&format!("PATCH repo {}", settings.visibility.as_str()));
        if let Some(info) = self.state.lock().unwrap().repository.as_mut() {
            info.visibility = settings.visibility;
        }
        done(Ok(()))
    }
    fn branch_exists<'a>(
        &'a self,
        _repo: &'a RepoRef,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<bool>> {
        self.record("GET branch");
        done(Ok(branch == "main"))
    }
    fn team_access<'a>(
        &'a self,
        _repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<TeamAccess>> {
        self.record("GET team");
        let state = self.state.lock().unwrap();
        done(Ok(if state.teams.contains(&team.name) {
            TeamAccess::Granted
        } else {
            TeamAccess::Missing
        }))
    }
    fn grant_team<'a>(
        &'a self,
        _repo: &'a RepoRef,
        team: &'a TeamGrant,
    ) -> BoxFuture<'a, Result<()>> {
        self.record("PUT team");
        if team.name == "ghost" {
            return done(Err(Error::Api {
                forge: "Gitea",
                status: 404,
                operation: "PUT team".into(),
                message: "team not found".into(),
            }));
        }
        self.state.lock().unwrap().teams.push(team.name.clone());
        done(Ok(()))
    }
    fn list_deploy_keys<'a>(&'a self, _repo: &'a RepoRef) -> BoxFuture<'a, Result<Vec<ForgeKey>>> {
        self.record("GET keys");
        done(Ok(self.state.lock().unwrap().keys.clone()))
    }
    fn add_deploy_key<'a>(
        &'a self,
        _repo: &'a RepoRef,
        key: &'a NewKey,
    ) -> BoxFuture<'a, Result<ForgeKey>> {
        self.record(&format!("POST key read_only={}", key.read_only));
        let mut state = self.state.lock().unwrap();
        if state.refuse_rsa && key.key.starts_with("ssh-rsa") {
            return done(Err(Error::Api {
                forge: "Gitea",
                status: 422,
                operation: "POST key".into(),
                message: "Invalid key content: key length is not enough: got 2048, needs 3071"
                    .into(),
            }));
        }
        state.next_id += 1;
        let added = ForgeKey {
            id: state.next_id,
            title: key.title.clone(),
            key: format!("{} comment", key.key),
            read_only: key.read_only,
        };
        state.keys.push(added.clone());
        done(Ok(added))
    }
    fn delete_deploy_key<'a>(&'a self, _repo: &'a RepoRef, id: u64) -> BoxFuture<'a, Result<()>> {
        self.record(&format!("DELETE key {id}"));
        self.state.lock().unwrap().keys.retain(|k| k.id != id);
        done(Ok(()))
    }
    fn list_deploy_tokens<'a>(
        &'a self,
        _repo: &'a RepoRef,
    ) -> BoxFuture<'a, Result<Vec<ForgeDeployToken>>> {
        self.record("GET tokens");
        done(Ok(self.state.lock().unwrap().tokens.clone()))
    }
    fn create_deploy_token<'a>(
        &'a self,
        _repo: &'a RepoRef,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(ForgeDeployToken, SecretString)>> {
        self.record("POST token");
        let mut state = self.state.lock().unwrap();
        state.next_id += 1;
        let token = ForgeDeployToken {
            id: state.next_id,
            name: name.to_string(),
            username: format!("deploy-token-{}", state.next_id),
            scopes: vec![DEPLOY_TOKEN_SCOPE.to_string()],
        };
        state.tokens.push(token.clone());
        let secret = SecretString::from(format!("secret-{}", state.next_id));
        done(Ok((token, secret)))
    }
    fn revoke_deploy_token<'a>(&'a self, _repo: &'a RepoRef, id: u64) -> BoxFuture<'a, Result<()>> {
        self.record(&format!("DELETE token {id}"));
        self.state.lock().unwrap().tokens.retain(|t| t.id != id);
        done(Ok(()))
    }
}

fn settings(owner: &str, kind: OwnerKind) -> ForgeSettings {
    ForgeSettings {
        repository: RepoRef {
            owner: owner.into(),
            name: "fleet".into(),
        },
        owner: kind,
        visibility: Visibility::Private,
        branch: "main".into(),
        teams: vec![],
        read_write_key: false,
        reconcile: false,
    }
}

/// A host over the in-memory forge (a clone shares its state), so a test can look at its
/// calls afterwards.
fn host(forge: &InMemoryForge, settings: ForgeSettings) -> ForgeHost {
    ForgeHost::new(
        Box::new(forge.clone()),
        (GITEA.endpoints)("https://forge.example").unwrap(),
        settings,
        SecretString::from("t0ken"),
        None,
    )
}

fn grant(key: &crate::git::DeployKey) -> KeyGrant<'_> {
    KeyGrant {
        title: "flux-system-main-flux-system-clusters/a".into(),
        key,
        access: KeyAccess::ReadOnly,
    }
}

#[tokio::test]
async fn a_missing_repository_is_created_and_a_rerun_only_reads() {
    let forge = InMemoryForge::default();
    let mut wanted = settings("platform", OwnerKind::Organisation);
    wanted.teams = vec![
        parse_team("dev").unwrap(),
        parse_team("ghost:admin").unwrap(),
    ];
    let host = host(&forge, wanted.clone());
    let (ui, captured) = Ui::capture();
    assert_eq!(
        host.ensure_repository(&ui).await.unwrap(),
        Repository::Created
    );
    let key = generate_deploy_key(KeyAlgorithm::Ecdsa).unwrap();
    host.authorize_deploy_key(grant(&key), &ui).await.unwrap();
    assert_eq!(
        forge.calls(),
        [
            "GET repo",
            "GET org",
            "POST repo Organisation private",
            "GET team",
            "PUT team",
            "GET team",
            "PUT team",
            "GET keys",
            "POST key read_only=true",
        ]
    );
    assert!(
        captured
            .stderr()
            .contains("failed to grant admin permissions to team ghost"),
        "a team failure is a warning: {}",
        captured.stderr()
    );

    // The same flags again, with the Secret's key kept: reads only (the failing team is tried
    // again, as flux does).
    let writes_before = forge.writes().len();
    let host = self::host(&forge, wanted);
    host.ensure_repository(&ui).await.unwrap();
    host.check_kept_key(
        "flux-system-main-flux-system-clusters/a".into(),
        key.public_key.clone(),
        &ui,
    )
    .await
    .unwrap();
    assert_eq!(forge.writes()[writes_before..], ["PUT team"]);
}

#[tokio::test]
async fn a_key_of_other_access_or_content_is_replaced() {
    let forge = InMemoryForge::default();
    let (ui, _) = Ui::capture();
    let key = generate_deploy_key(KeyAlgorithm::Ed25519).unwrap();
    host(&forge, settings("platform", OwnerKind::Organisation))
        .authorize_deploy_key(grant(&key), &ui)
        .await
        .unwrap();
    let mut read_write = settings("platform", OwnerKind::Organisation);
    read_write.read_write_key = true;
    let host_rw = host(&forge, read_write);
    assert_eq!(host_rw.key_access(), KeyAccess::ReadWrite);
    host_rw
        .check_kept_key(grant(&key).title, key.public_key.clone(), &ui)
        .await
        .unwrap();
    let other = generate_deploy_key(KeyAlgorithm::Ed25519).unwrap();
    host_rw
        .authorize_deploy_key(grant(&other), &ui)
        .await
        .unwrap();
    assert_eq!(
        forge.writes(),
        [
            "POST key read_only=true",
            "DELETE key 1",
            "POST key read_only=false",
            "DELETE key 2",
            "POST key read_only=false",
        ]
    );
    let title = "flux-system-main-flux-system-clusters/a";
    assert_eq!(
        host_rw.changes(),
        [
            format!("replaced deploy key \"{title}\" (read-write)"),
            format!("replaced deploy key \"{title}\" (read-write)"),
        ]
    );
    let keys = forge.state.lock().unwrap().keys.clone();
    assert_eq!(keys.len(), 1);
    assert!(same_key(&keys[0].key, &other.public_key));
}

#[tokio::test]
async fn owners_are_checked_before_creating() {
    let forge = InMemoryForge::default();
    let (ui, _) = Ui::capture();
    let err = host(&forge, settings("bob", OwnerKind::User))
        .ensure_repository(&ui)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the owner \"bob\" is not the user of the token (\"alice\"): with --personal the repository belongs to the token's user; pass --owner=alice, or drop --personal if \"bob\" is an organisation"
    );
    let err = host(&forge, settings("nowhere", OwnerKind::Organisation))
        .ensure_repository(&ui)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Gitea organisation \"nowhere\" does not exist at forge.example, or the token's user cannot see it: create it (or ask to join it), or pass --personal for a repository of the token's user"
    );
    assert!(forge.writes().is_empty());
    let created = host(&forge, settings("alice", OwnerKind::User))
        .ensure_repository(&ui)
        .await
        .unwrap();
    assert_eq!(created, Repository::Created);
    assert_eq!(forge.writes(), ["POST repo User private"]);
}

#[tokio::test]
async fn a_repository_with_history_needs_the_branch() {
    let forge = InMemoryForge::default();
    forge.state.lock().unwrap().repository = Some(RepositoryInfo {
        visibility: Visibility::Private,
        default_branch: Some("master".into()),
        empty: false,
    });
    let (ui, _) = Ui::capture();
    let mut on_trunk = settings("platform", OwnerKind::Organisation);
    on_trunk.branch = "trunk".into();
    let err = host(&forge, on_trunk)
        .ensure_repository(&ui)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "repository platform/fleet is not empty and has no branch \"trunk\" (its default branch is \"master\"): pass --branch=master, or create the branch \"trunk\" first"
    );
    // main exists (as a non-default branch): fine, and --reconcile makes it the default.
    let mut reconcile = settings("platform", OwnerKind::Organisation);
    reconcile.reconcile = true;
    reconcile.visibility = Visibility::Public;
    host(&forge, reconcile)
        .ensure_repository(&ui)
        .await
        .unwrap();
    assert_eq!(forge.writes(), ["PATCH repo public"]);
}

#[tokio::test]
async fn a_key_refused_by_policy_says_why_and_what_to_use() {
    let forge = InMemoryForge::default();
    forge.state.lock().unwrap().refuse_rsa = true;
    let (ui, _) = Ui::capture();
    let key = generate_deploy_key(KeyAlgorithm::Rsa).unwrap();
    let err = host(&forge, settings("platform", OwnerKind::Organisation))
        .authorize_deploy_key(grant(&key), &ui)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Gitea refused the deploy key for platform/fleet: Invalid key content: key length is not enough: got 2048, needs 3071; the server's key policy rejects this RSA key (Gitea requires RSA keys of at least 3072 bits, and a generated RSA key has 2048): use --ssh-key-algorithm=ecdsa (the default) or ed25519"
    );
}

#[test]
fn teams_default_to_maintain() {
    assert_eq!(
        parse_team("dev").unwrap(),
        TeamGrant {
            name: "dev".into(),
            permission: "maintain".into()
        }
    );
    assert_eq!(parse_team("ops:admin").unwrap().permission, "admin");
    assert!(parse_team(":admin").is_err());
    assert!(parse_team("ops:").is_err());
}

#[test]
fn keys_compare_without_comments() {
    assert!(same_key("ssh-ed25519 AAAA x@y", "ssh-ed25519 AAAA\n"));
    assert!(!same_key("ssh-ed25519 AAAA", "ssh-ed25519 AAAB"));
}

/// `--deploy-token-auth`: the Secret's token is kept while the forge lists it under the name
/// with the scope; a revoked one, one of another scope, or a Secret without credentials gets a
/// new token (the old ones of that name revoked first).
#[tokio::test]
async fn a_deploy_token_is_kept_while_the_secret_holds_it() {
    use secrecy::ExposeSecret;
    let forge = InMemoryForge::default();
    let (ui, _) = Ui::capture();
    let host = host(&forge, settings("platform", OwnerKind::Organisation));
    let name = "flux-system-main-flux-system-clusters/a";
    let (user, secret) = host.sync_token(name.into(), None, &ui).await.unwrap();
    assert_eq!(
        (user.as_str(), secret.expose_secret()),
        ("deploy-token-1", "secret-1")
    );

    // The Secret holds it: kept, no write.
    let kept = (user.clone(), secret.clone());
    let (again, _) = host.sync_token(name.into(), Some(kept), &ui).await.unwrap();
    assert_eq!(again, user);
    assert_eq!(forge.writes(), ["POST token"]);

    // Another cluster folder's token of the same user name does not count.
    let other = host
        .sync_token(
            "flux-system-main-flux-system-clusters/b".into(),
            Some((user.clone(), secret.clone())),
            &ui,
        )
        .await
        .unwrap();
    assert_eq!(other.0, "deploy-token-2");

    // Revoked on the forge (no longer listed): a new one, nothing to revoke.
    forge.state.lock().unwrap().tokens.retain(|t| t.id != 1);
    let (new, _) = host
        .sync_token(name.into(), Some((user.clone(), secret.clone())), &ui)
        .await
        .unwrap();
    assert_eq!(new, "deploy-token-3");

    // Listed with another scope (made by hand): revoked and replaced.
    forge.state.lock().unwrap().tokens[1].scopes = vec!["read_registry".into()];
    let (replaced, _) = host
        .sync_token(name.into(), Some((new, secret)), &ui)
        .await
        .unwrap();
    assert_eq!(replaced, "deploy-token-4");
    assert_eq!(
        forge.writes(),
        [
            "POST token",
            "POST token",
            "POST token",
            "DELETE token 3",
            "POST token"
        ]
    );
    assert_eq!(
        host.changes().last().unwrap(),
        &format!("replaced deploy token \"{name}\" (user deploy-token-4, scope read_repository)")
    );
}

#[tokio::test]
async fn forges_without_deploy_tokens_say_so() {
    // The trait's default, which Gitea and GitHub keep (no request is sent).
    let gitea = super::gitea::connect(ClientOptions {
        endpoints: &(GITEA.endpoints)("https://forge.example").unwrap(),
        token: &SecretString::from("t"),
        ca_file: None,
        timeout: std::time::Duration::from_secs(1),
    })
    .unwrap();
    let repo = RepoRef {
        owner: "o".into(),
        name: "r".into(),
    };
    let err = gitea.list_deploy_tokens(&repo).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Gitea has no project deploy tokens (GitLab has): use --token-auth to sync with the access token, or a deploy key (the default)"
    );
}
