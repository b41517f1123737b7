//! Any command, not only bootstrap, ends on SIGINT and SIGTERM through the plugin's interrupt
//! handling: exit 130 or 143 and the one interruption line (tests/lifecycle/interrupts.rs
//! interrupts bootstrap in each of its phases).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::support::control_plane::control_plane;
use crate::support::{fresh_namespace, plugin_command};

#[test]
fn a_watch_ends_on_sigint_and_sigterm_with_the_interruption_line() {
    control_plane().install_flux_crds();
    let ns = fresh_namespace("interrupt-watch");
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let mut command = plugin_command(control_plane(), &["status", "-w", "-n", &ns]);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start status -w");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        // The empty namespace's line says the watch has started.
        let mut first = String::new();
        stderr.read_line(&mut first).expect("read stderr");
        assert_eq!(first, format!("No Flux objects found in namespace {ns}.\n"));
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().expect("wait for status -w");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read stderr");
        assert_eq!(status.code(), Some(code), "signal {signal}: {rest}");
        assert_eq!(
            rest, "interrupted while running status; nothing was changed\n",
            "signal {signal}"
        );
    }
}
