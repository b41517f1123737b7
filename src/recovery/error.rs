//! What can stop a history or rollback.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{object} is suspended, so a rollback commit would not be applied; resume it first (kubectl gitops resume {short} {name} -n {namespace}), then roll back"
    )]
    Suspended {
        object: String,
        short: &'static str,
        name: String,
        namespace: String,
    },

    #[error(
        "{repository} follows a tag, semver range or commit, not a branch: history and rollback need a branch to read and commit to"
    )]
    NotABranch { repository: String },

    #[error("branch {branch} of {url} has no commits: there is nothing to roll back")]
    EmptyBranch { branch: String, url: String },

    #[error(
        "commit {commit} is not in branch {branch}: give a commit of its history (kubectl gitops history lists them)"
    )]
    UnknownCommit { commit: String, branch: String },

    #[error(
        "commit {commit} is not an ancestor of branch {branch}'s head: a rollback restores an earlier state of the branch; pick a commit from kubectl gitops history"
    )]
    NotAnAncestor { commit: String, branch: String },

    #[error(
        "commit {commit} has no {path}: the Kustomization's folder did not exist then; pick a later commit"
    )]
    PathMissing { path: String, commit: String },

    #[error(
        "{object} is not applied by a Kustomization (no kustomize.toolkit.fluxcd.io/name label), so its manifest has no Git history here"
    )]
    NotFromGit { object: String },

    #[error(
        "no manifest of {object} was found in {folder} on branch {branch}; history and rollback read the file that defines it"
    )]
    ManifestNotFound {
        object: String,
        folder: String,
        branch: String,
    },

    #[error(
        "no earlier commit changed {path}: there is nothing to roll back to; give one with --to"
    )]
    NothingEarlier { path: String },

    #[error(
        "branch {branch} of {url} kept moving while rolling back (someone else is pushing); try again"
    )]
    BranchKeptMoving { branch: String, url: String },
}

impl Error {
    pub fn is_usage(&self) -> bool {
        false
    }
}
