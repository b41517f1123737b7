//! How a deploy key reaches ssh without ever being written to disk: each Git command over SSH
//! gets a private `ssh-agent` of its own, listening on a socket in a private folder (mode
//! 0700), and the key is handed to it through `ssh-add -` on a pipe. ssh then authenticates
//! through that agent, with the key's public half (public, so harmless on disk) as its
//! `IdentityFile` so that only this key is offered. The agent is stopped and its folder
//! removed when the command ends, when its owner is dropped, or by the interrupt sweep; even
//! after a SIGKILL no key is left on disk (only the folder with the public files), and the
//! agent exits by itself within 10 seconds (see [`ssh_credentials`]).
//!
//! The trusted host keys are public too: they go to ssh as a known_hosts file in the same
//! folder.
//!
//! Windows has no ssh-agent on a socket of our choosing (its agent is one service per user),
//! so there the key goes to ssh as a file in the private folder, removed when git has exited.

use secrecy::{ExposeSecret, SecretString};

#[cfg(unix)]
use super::error::Error;
use super::error::Result;
use super::scratch::ScratchDir;

/// ssh options shared by both ways of handing over the key: only the given host keys are
/// trusted, nothing prompts, nothing is written to the user's files.
const SSH_OPTIONS: &str = "-o IdentitiesOnly=yes -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes -o ConnectTimeout=30";

/// The credentials of one Git command over SSH; dropping it stops the agent and removes the
/// folder.
pub(crate) struct SshCredentials {
    /// GIT_SSH_COMMAND for git.
    pub ssh_command: String,
    /// The agent itself; first, so it is stopped while its id is surely still its own.
    #[cfg(unix)]
    _agent_process: crate::interrupt::TrackedProcess,
    /// The command the agent serves (`cat` on a pipe from this process).
    #[cfg(unix)]
    _agent: crate::interrupt::TrackedChild,
    // Last, so the folder goes after the agent that listens in it.
    _folder: ScratchDir,
}

/// Longest agent socket path: sockaddr_un holds 104 bytes on macOS, 108 on Linux.
#[cfg(unix)]
const MAX_SOCKET_PATH: usize = 100;

/// How long the agent may take to create its socket.
#[cfg(unix)]
const AGENT_START: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts a private agent holding `private_key` (see the module documentation).
#[cfg(unix)]
pub(crate) fn ssh_credentials(
    private_key: &SecretString,
    known_hosts: &str,
) -> Result<SshCredentials> {
    use std::process::{Command, Stdio};

    use crate::interrupt::{Terminal, TrackedChild, TrackedProcess};

    let public_key = public_key_line(private_key)?;
    let mut folder = ScratchDir::in_temp("kubectl-gitops-ssh-")?;
    let mut socket = folder.path().join("agent");
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        // A long TMPDIR: the socket's folder goes to /tmp instead (still private).
        folder = ScratchDir::create(std::path::Path::new("/tmp"), "kubectl-gitops-ssh-")?;
        socket = folder.path().join("agent");
    }
    let public_file = folder.write_private("identity.pub", format!("{public_key}\n").as_bytes())?;
    let known_hosts_file = folder.write_private("known_hosts", known_hosts.as_bytes())?;

    let failed = |cause: String| Error::SshAgent { cause };
    // `ssh-agent <command>` runs the command in its place and the agent in a child process,
    // which exits within 10 seconds of the command. The command ends in `cat` reading a pipe
    // from this process: if the plugin dies, even by SIGKILL, the pipe closes, cat ends, and
    // the agent with it (a death signal cannot do it: the kernel drops it for set-group-ID
    // programs, as Debian's ssh-agent is). The agent calls setsid(), so it leaves the
    // command's process group: the command first prints the agent's process id
    // (SSH_AGENT_PID), by which it is stopped at once when its work is done or interrupted.
    let mut agent_command = Command::new("ssh-agent");
    agent_command
        .arg("-a")
        .arg(&socket)
        .args(["sh", "-c", "echo \"$SSH_AGENT_PID\"; exec cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("LC_ALL", "C");
    let mut agent = TrackedChild::spawn(&mut agent_command, Terminal::NotNeeded)
        .map_err(|err| failed(format!("cannot run ssh-agent: {err}")))?;
    let mut first_line = String::new();
    if let Some(stdout) = agent.child().and_then(|child| child.stdout.take()) {
        use std::io::BufRead;
        // An error leaves the line empty, refused just below.
        let _ = std::io::BufReader::new(stdout).read_line(&mut first_line);
    }
    let agent_pid: u32 = first_line
        .trim()
        .parse()
        .map_err(|_| failed("ssh-agent did not start (no SSH_AGENT_PID)".to_string()))?;
    let agent_process =
        TrackedProcess::track(agent_pid).map_err(|err| failed(format!("ssh-agent: {err}")))?;
    let started = std::time::Instant::now();
    while !socket.exists() {
        let exited = agent
            .child()
            .and_then(|child| child.try_wait().ok().flatten());
        if let Some(status) = exited {
            return Err(failed(format!(
                "ssh-agent exited with {status} before listening"
            )));
        }
        if started.elapsed() > AGENT_START {
            return Err(failed("ssh-agent did not create its socket".to_string()));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    let mut add = Command::new("ssh-add");
    add.arg("-q")
        .arg("-")
        .env("SSH_AUTH_SOCK", &socket)
        .env("LC_ALL", "C")
        .env_remove("SSH_ASKPASS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut adding = TrackedChild::spawn(&mut add, Terminal::NotNeeded)
        .map_err(|err| failed(format!("cannot run ssh-add: {err}")))?;
    let mut key = private_key.expose_secret().to_string();
    if !key.ends_with('\n') {
        key.push('\n'); // ssh-add refuses a key without its final newline
    }
    if let Some(mut stdin) = adding.child().and_then(|child| child.stdin.take()) {
        use std::io::Write;
        // A write error shows as ssh-add's failure below.
        let _ = stdin.write_all(key.as_bytes());
    }
    let output = adding
        .wait_with_output()
        .map_err(|err| failed(format!("ssh-add: {err}")))?;
    if !output.status.success() {
        return Err(failed(format!(
            "ssh-add refused the key: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }

    let ssh_command = format!(
        "ssh -o IdentityAgent={} -o IdentityFile={} -o UserKnownHostsFile={} {SSH_OPTIONS}",
        ssh_quote(&socket.to_string_lossy()),
        ssh_quote(&public_file.to_string_lossy()),
        ssh_quote(&known_hosts_file.to_string_lossy()),
    );
    Ok(SshCredentials {
        ssh_command,
        _agent_process: agent_process,
        _agent: agent,
        _folder: folder,
    })
}

/// Windows: the key as a private file (see the module documentation).
#[cfg(not(unix))]
pub(crate) fn ssh_credentials(
    private_key: &SecretString,
    known_hosts: &str,
) -> Result<SshCredentials> {
    let folder = ScratchDir::in_temp("kubectl-gitops-ssh-")?;
    let mut key = private_key.expose_secret().to_string();
    if !key.ends_with('\n') {
        key.push('\n'); // ssh refuses a key file without its final newline
    }
    let key_file = folder.write_private("identity", key.as_bytes())?;
    let known_hosts_file = folder.write_private("known_hosts", known_hosts.as_bytes())?;
    let ssh_command = format!(
        "ssh -o IdentityAgent=none -o IdentityFile={} -o UserKnownHostsFile={} {SSH_OPTIONS}",
        ssh_quote(&key_file.to_string_lossy()),
        ssh_quote(&known_hosts_file.to_string_lossy()),
    );
    Ok(SshCredentials {
        ssh_command,
        _folder: folder,
    })
}

/// `<type> <base64>` of the private key's public half.
#[cfg(unix)]
fn public_key_line(private_key: &SecretString) -> Result<String> {
    let unusable = |err: ssh_key::Error| Error::SshAgent {
        cause: format!("the private key cannot be read: {err}"),
    };
    let key = ssh_key::PrivateKey::from_openssh(private_key.expose_secret().trim_start())
        .map_err(unusable)?;
    let mut public = key.public_key().clone();
    public.set_comment("");
    Ok(public.to_openssh().map_err(unusable)?.trim().to_string())
}

/// Single-quotes `text` for `sh -c` (git runs GIT_SSH_COMMAND through the shell).
pub(crate) fn ssh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_agent_holds_the_key_and_nothing_of_it_is_on_disk() {
        let key = crate::git::generate_deploy_key(crate::git::KeyAlgorithm::Ed25519).unwrap();
        let credentials = ssh_credentials(&key.private_key, "").unwrap();
        let socket = credentials
            .ssh_command
            .split("IdentityAgent='")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap()
            .to_string();
        let folder = std::path::Path::new(&socket)
            .parent()
            .unwrap()
            .to_path_buf();
        // The agent lists exactly our key.
        let listed = std::process::Command::new("ssh-add")
            .arg("-L")
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .unwrap();
        assert!(listed.status.success());
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert_eq!(
            listed
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
            key.public_key
        );
        // No file in the folder holds any line of the private key.
        let secret = key.private_key.expose_secret().to_string();
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let content = std::fs::read(&path).unwrap_or_default();
            let content = String::from_utf8_lossy(&content);
            for line in secret
                .lines()
                .filter(|l| l.len() > 16 && !l.starts_with("---"))
            {
                assert!(!content.contains(line), "{} holds the key", path.display());
            }
        }
        drop(credentials);
        assert!(!folder.exists(), "the agent's folder is removed");
        // No process serves that socket any more (Linux lists them in /proc).
        let serving = || {
            std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|process| std::fs::read(process.path().join("cmdline")).ok())
                .any(|cmdline| String::from_utf8_lossy(&cmdline).contains(socket.as_str()))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while serving() {
            assert!(
                std::time::Instant::now() < deadline,
                "ssh-agent outlives its owner"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
