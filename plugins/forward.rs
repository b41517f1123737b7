//! Hands a standalone executable's arguments to the umbrella `kubectl-gitops` installed in the
//! same folder, so `kubectl-gitops-<command>` and the completion helpers behave exactly like the
//! umbrella (same flags, help, output and exit codes) without linking the library: each would
//! otherwise be a full copy of it, and linking twenty of those made `cargo install` slow.
//!
//! Included by every executable in `plugins/` but the umbrella, with `#[path] mod`; it uses only
//! the standard library. Each executable calls one of the entry points below.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// `kubectl-gitops-<command> <args>` runs `kubectl-gitops <command> <args>`.
pub fn command(command: &str) -> ExitCode {
    run_umbrella([OsString::from(command)], user_args(), false)
}

/// `kubectl_complete-gitops <args>` runs `kubectl-gitops __complete <args>`.
pub fn completion() -> ExitCode {
    run_umbrella([OsString::from("__complete")], user_args(), true)
}

/// `kubectl_complete-gitops-<command> <args>` (kubectl passes the words after the command name)
/// runs `kubectl-gitops __complete <command> <args>`, any `__complete` word left out.
pub fn command_completion(command: &str) -> ExitCode {
    let args = user_args().filter(|arg| arg != "__complete");
    run_umbrella(["__complete".into(), command.into()], args, true)
}

fn user_args() -> impl Iterator<Item = OsString> {
    std::env::args_os().skip(1)
}

/// Replaces this process with the umbrella (Unix), or runs it and exits with its exit code
/// (Windows, which cannot replace a process). Returns only when the umbrella cannot be run.
fn run_umbrella(
    leading: impl IntoIterator<Item = OsString>,
    args: impl Iterator<Item = OsString>,
    completing: bool,
) -> ExitCode {
    let umbrella = match umbrella_path() {
        Ok(path) => path,
        Err(why) => return fail(&why, completing),
    };
    let err = run(Command::new(&umbrella).args(leading).args(args));
    fail(
        &format!(
            "{} needs the umbrella executable {} next to it, which cannot be run: {err}; \
             install both with `cargo install --locked --path .` from the kubectl-gitops sources",
            this_name(),
            umbrella.display(),
        ),
        completing,
    )
}

#[cfg(unix)]
fn run(umbrella: &mut Command) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    umbrella.exec()
}

/// Ctrl+C reaches every process of the console: the umbrella handles it, and this parent must
/// wait for it rather than exit first (as `cargo` does for its subcommands). A handler that
/// answers "handled" is not inherited by the umbrella, unlike ignoring Ctrl+C outright.
#[cfg(windows)]
fn run(umbrella: &mut Command) -> std::io::Error {
    unsafe extern "system" fn handled(_event: u32) -> i32 {
        1
    }
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn SetConsoleCtrlHandler(
            handler: Option<unsafe extern "system" fn(u32) -> i32>,
            add: i32,
        ) -> i32;
    }
    // SAFETY: registers a function that touches no state; a failure keeps the default handler.
    unsafe {
        SetConsoleCtrlHandler(Some(handled), 1);
    }
    match umbrella.status() {
        // The umbrella's own exit code (Windows codes do not fit ExitCode's u8).
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => err,
    }
}

/// `kubectl-gitops` (`.exe` on Windows) in this executable's folder, or in the folder of the file
/// it links to where the system reports the link.
fn umbrella_path() -> Result<PathBuf, String> {
    let name = format!("kubectl-gitops{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe().map_err(|err| {
        format!(
            "cannot find the folder of {} ({err}), where it looks for {name}; run \
             `kubectl-gitops` itself (`kubectl gitops ...`) instead",
            this_name()
        )
    })?;
    let beside = exe.with_file_name(&name);
    if !beside.is_file()
        && let Ok(real) = exe.canonicalize()
        && real.with_file_name(&name).is_file()
    {
        return Ok(real.with_file_name(&name));
    }
    Ok(beside)
}

/// This executable's file name, for messages.
fn this_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .map_or_else(
            || "this executable".to_string(),
            |name| OsStr::to_string_lossy(name).into_owned(),
        )
}

/// The error on stderr, exit status 1. A completion helper also ends its answer with Cobra's
/// error directive, so the shell offers nothing instead of waiting for a directive line.
fn fail(message: &str, completing: bool) -> ExitCode {
    if completing {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(b":1\n").and_then(|()| stdout.flush());
    }
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
