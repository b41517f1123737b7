//! Installation through krew: the release script (`krew-manifest/release.sh`) builds the
//! linux/amd64 archive with the release profile and writes the manifest; the real krew installs
//! it into a temporary KREW_ROOT, the real kubectl runs the installed plugin against the test
//! control plane, krew uninstalls it; krew-index's `validate-krew-manifest` accepts the manifest.
//!
//! Offline, krew installs only from `--manifest` and `--archive` with `--no-update-index`; the
//! validator downloads each platform's `uri`, so for it the archive is served on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::processes::temp_dir;
use crate::support::{control_plane, plugin_exe, run, stderr, stdout};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const REPO: &str = "kubectl-gitops/kubectl-gitops";
/// The limit for the linux/amd64 archive.
const MAX_ARCHIVE_BYTES: u64 = 12 * 1000 * 1000;

fn release_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("krew-manifest/release.sh")
}

fn archive_name(platform: &str) -> String {
    format!(
        "kubectl-gitops_{VERSION}_{}.tar.gz",
        platform.replace('/', "_")
    )
}

/// Runs the release script; panics with its output when it fails.
fn run_release(args: &[&str]) -> Output {
    let out = run(Command::new("bash").arg(release_script()).args(args));
    assert!(
        out.status.success(),
        "release.sh {args:?} failed:\n{}",
        stderr(&out)
    );
    out
}

struct Release {
    dist: PathBuf,
    manifest: PathBuf,
    archive: PathBuf,
}

/// The release archive for this machine, built once per test binary by the release script
/// exactly as a maintainer runs it, with `--local-only` (only linux/amd64 can be built here).
fn local_release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let dir = temp_dir("krew-release-");
        let dist = dir.join("dist");
        let manifest = dir.join("gitops.yaml");
        run_release(&[
            "--local-only",
            "--dist",
            dist.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--repo",
            REPO,
            VERSION,
        ]);
        let archive = dist.join(archive_name("linux/amd64"));
        assert!(archive.is_file(), "no {}", archive.display());
        Release {
            dist,
            manifest,
            archive,
        }
    })
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn read_yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// PATH for krew runs: krew's bin folder first, then kubectl-krew and kubectl; nothing of
/// this package's build folder.
fn krew_path(krew_root: &Path) -> String {
    let assets = &control_plane().assets;
    std::env::join_paths([
        krew_root.join("bin"),
        assets.krew_dir.clone(),
        assets.bin_dir.clone(),
        PathBuf::from("/usr/bin"),
        PathBuf::from("/bin"),
    ])
    .unwrap()
    .to_string_lossy()
    .into_owned()
}

/// The real kubectl as a krew user runs it.
fn kubectl(krew_root: &Path, home: &Path, args: &[&str]) -> Output {
    run(Command::new(control_plane().assets.kubectl())
        .env_clear()
        .env("PATH", krew_path(krew_root))
        .env("HOME", home)
        .env("KREW_ROOT", krew_root)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .stdin(std::process::Stdio::null())
        .args(args))
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

#[test]
fn release_archive_and_manifest_are_what_krew_index_expects() {
    let release = local_release();
    let size = std::fs::metadata(&release.archive).unwrap().len();
    println!("{}: {size} bytes", release.archive.display());
    assert!(
        size <= MAX_ARCHIVE_BYTES,
        "{} is {size} bytes, over {MAX_ARCHIVE_BYTES}",
        release.archive.display()
    );
    let listing = run(Command::new("tar").arg("-tzf").arg(&release.archive));
    assert_ok(&listing, "tar -tzf");
    assert_eq!(
        stdout(&listing).lines().collect::<Vec<_>>(),
        vec!["kubectl-gitops", "LICENSE", "README.md"]
    );

    let manifest = read_yaml(&release.manifest);
    assert_eq!(
        manifest["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "gitops");
    let spec = &manifest["spec"];
    assert_eq!(spec["version"], format!("v{VERSION}"));
    assert_eq!(spec["homepage"], format!("https://github.com/{REPO}"));
    let short = spec["shortDescription"].as_str().unwrap();
    assert!(!short.contains('\n') && !short.is_empty(), "{short:?}");
    assert!(spec["description"].as_str().unwrap().len() > 100);
    assert!(
        spec["caveats"]
            .as_str()
            .unwrap()
            .contains("kubectl_complete-gitops")
    );
    let platforms = spec["platforms"].as_array().unwrap();
    assert_eq!(
        platforms.len(),
        1,
        "--local-only lists the archive built here"
    );
    let platform = &platforms[0];
    assert_eq!(platform["selector"]["matchLabels"]["os"], "linux");
    assert_eq!(platform["selector"]["matchLabels"]["arch"], "amd64");
    assert_eq!(
        platform["uri"],
        format!(
            "https://github.com/{REPO}/releases/download/v{VERSION}/{}",
            archive_name("linux/amd64")
        )
    );
    let sha = platform["sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64
            && sha
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{sha}"
    );
    assert_eq!(sha, sha256(&release.archive));
    assert_eq!(platform["bin"], "kubectl-gitops");

    let checksums = std::fs::read_to_string(
        release
            .dist
            .join(format!("kubectl-gitops_{VERSION}_checksums.txt")),
    )
    .unwrap();
    assert_eq!(
        checksums,
        format!("{sha}  {}\n", archive_name("linux/amd64"))
    );
}

#[test]
fn krew_installs_the_plugin_and_kubectl_runs_it_against_the_cluster() {
    let release = local_release();
    let plane = control_plane();
    let krew_root = temp_dir("krew-root-");
    let home = temp_dir("krew-home-");
    let kubeconfig = plane.kubeconfig.to_str().unwrap();

    let install = kubectl(
        &krew_root,
        &home,
        &[
            "krew",
            "install",
            &format!("--manifest={}", release.manifest.display()),
            &format!("--archive={}", release.archive.display()),
            "--no-update-index",
        ],
    );
    assert_ok(&install, "kubectl krew install");
    println!(
        "kubectl krew install:\n{}{}",
        stdout(&install),
        stderr(&install)
    );
    assert!(
        stderr(&install).contains("Installed plugin: gitops"),
        "{}",
        stderr(&install)
    );
    let installed = krew_root.join("bin/kubectl-gitops");
    assert!(installed.exists(), "{} missing", installed.display());
    // `list` and `uninstall` want a plugin index; offline, an empty local one stands in for
    // the krew-index clone (`kubectl krew update` would fetch it from GitHub).
    let index = krew_root.join("index/default");
    let init = run(Command::new("git").args(["init", "-q"]).arg(&index));
    assert_ok(&init, "git init (the stand-in plugin index)");
    let list = kubectl(&krew_root, &home, &["krew", "list"]);
    assert_ok(&list, "kubectl krew list");
    assert!(
        // krew names plugins installed from a manifest file `detached/<name>`.
        stdout(&list)
            .lines()
            .any(|line| line.trim() == "detached/gitops"),
        "{}",
        stdout(&list)
    );
    let receipt = krew_root.join("receipts/gitops.yaml");
    assert_eq!(
        read_yaml(&receipt)["spec"]["version"],
        format!("v{VERSION}"),
        "{}",
        receipt.display()
    );

    // The krew-installed plugin against the test control plane, through the real kubectl.
    let version = kubectl(
        &krew_root,
        &home,
        &["gitops", "version", "--kubeconfig", kubeconfig],
    );
    assert_ok(&version, "kubectl gitops version");
    println!("kubectl gitops version:\n{}", stdout(&version));
    let text = stdout(&version);
    assert!(
        text.starts_with(&format!("kubectl-gitops: v{VERSION}")),
        "{text}"
    );
    assert!(
        text.contains(&plane.assets.k8s_version),
        "server version {} missing: {text}",
        plane.assets.k8s_version
    );
    let client = kubectl(
        &krew_root,
        &home,
        &["gitops", "version", "--client", "-o", "json"],
    );
    assert_ok(&client, "kubectl gitops version --client");
    let report: serde_json::Value = serde_json::from_str(&stdout(&client)).unwrap();
    assert!(report.to_string().contains(VERSION), "{}", stdout(&client));

    // `status` behaves exactly as the plugin built here, in a namespace of this test's own
    // (other tests change objects in theirs meanwhile, so -A would race them).
    let ns = crate::support::fresh_namespace("krew-status");
    crate::flux_objects::create(&[crate::flux_objects::kustomization(
        &ns,
        "apps",
        serde_json::json!({}),
    )]);
    let status = kubectl(
        &krew_root,
        &home,
        &["gitops", "status", "-n", &ns, "--kubeconfig", kubeconfig],
    );
    let direct = run(Command::new(plugin_exe("kubectl-gitops"))
        .env_clear()
        .env("HOME", &home)
        .args(["status", "-n", &ns, "--kubeconfig", kubeconfig]));
    println!(
        "kubectl gitops status -n {ns}: exit {:?}\n{}{}",
        status.status.code(),
        stdout(&status),
        stderr(&status)
    );
    assert_eq!(status.status.code(), direct.status.code());
    // Ages tick between the two runs (0s, 1s): compared as placeholders.
    let ages = crate::support::golden::ages;
    assert_eq!(ages(&stdout(&status)), ages(&stdout(&direct)));
    assert_eq!(stderr(&status), stderr(&direct));
    assert!(!stderr(&status).contains("panicked"), "{}", stderr(&status));

    // The completion helper as the manifest's caveats tell krew users to create it.
    let caveats = read_yaml(&release.manifest)["spec"]["caveats"]
        .as_str()
        .unwrap()
        .to_string();
    let commands: Vec<&str> = caveats
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("printf '#!/bin/sh"))
        .take_while(|line| line.starts_with("  "))
        .collect();
    assert!(
        commands.len() >= 3,
        "no helper commands in caveats:\n{caveats}"
    );
    let script = commands.join("\n");
    let shim = run(Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("KREW_ROOT", &krew_root)
        .env("HOME", &home));
    assert_ok(&shim, &format!("the caveats' commands:\n{script}"));
    let complete = kubectl(&krew_root, &home, &["__complete", "gitops", "rec"]);
    assert_ok(&complete, "kubectl __complete gitops rec");
    let lines: Vec<String> = stdout(&complete).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&complete));
    assert!(lines[0].starts_with("reconcile\t"), "{lines:?}");
    assert_eq!(lines[1], ":4");

    let uninstall = kubectl(&krew_root, &home, &["krew", "uninstall", "gitops"]);
    assert_ok(&uninstall, "kubectl krew uninstall gitops");
    assert!(
        !installed.exists() && installed.symlink_metadata().is_err(),
        "{} still there after uninstall",
        installed.display()
    );
    assert!(!krew_root.join("store/gitops").exists());
    assert!(!receipt.exists());
    let gone = kubectl(&krew_root, &home, &["gitops", "version", "--client"]);
    assert!(!gone.status.success(), "{}", stdout(&gone));
}

/// Serves the files of `dir` over HTTP on loopback, for as long as the test binary runs.
fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let name = path.trim_start_matches('/');
                let mut stream = &stream;
                match std::fs::read(dir.join(name)) {
                    Ok(body) if !name.contains('/') && !name.is_empty() => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(&body);
                    }
                    _ => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                }
            });
        }
    });
    address
}

fn validate(manifest: &Path) -> Output {
    let krew_root = temp_dir("krew-validate-");
    run(Command::new(
        control_plane()
            .assets
            .krew_dir
            .join("validate-krew-manifest"),
    )
    .env("PATH", krew_path(&krew_root))
    .env("TMPDIR", temp_dir("krew-validate-tmp-"))
    .arg("-manifest")
    .arg(manifest))
}

#[test]
fn validate_krew_manifest_accepts_the_manifest_and_rejects_a_wrong_checksum() {
    let release = local_release();
    // The same manifest, downloading from loopback instead of GitHub (offline here).
    let base_url = serve(release.dist.clone());
    let manifest = temp_dir("krew-validate-manifest-").join("gitops.yaml");
    run_release(&[
        "--manifest-only",
        "--local-only",
        "--dist",
        release.dist.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
        "--repo",
        REPO,
        "--base-url",
        &base_url,
        VERSION,
    ]);
    let text = std::fs::read_to_string(&manifest).unwrap();
    let original = std::fs::read_to_string(&release.manifest).unwrap();
    assert_eq!(
        text.replace(
            &base_url,
            &format!("https://github.com/{REPO}/releases/download/v{VERSION}")
        ),
        original,
        "only the download address differs"
    );

    let out = validate(&manifest);
    println!("validate-krew-manifest:\n{}{}", stdout(&out), stderr(&out));
    assert_ok(&out, "validate-krew-manifest");

    // The validator really installs: a wrong checksum fails it.
    let sha = sha256(&release.archive);
    let wrong = temp_dir("krew-validate-wrong-").join("gitops.yaml");
    std::fs::write(&wrong, text.replace(&sha, &"0".repeat(64))).unwrap();
    let out = validate(&wrong);
    assert!(
        !out.status.success(),
        "a wrong sha256 passed:\n{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("checksum") || stderr(&out).contains("sha256"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn release_script_lists_every_platform_and_refuses_partial_releases() {
    // Stand-in executables, packed for every platform as the release workflow packs the
    // binaries it cross-builds: this checks the manifest writer, not the binaries.
    let dir = temp_dir("krew-all-platforms-");
    let dist = dir.join("dist");
    let exe = dir.join("stand-in");
    std::fs::write(&exe, "#!/bin/sh\necho stand-in\n").unwrap();
    let platforms = [
        "linux/amd64",
        "linux/arm64",
        "darwin/amd64",
        "darwin/arm64",
        "windows/amd64",
    ];
    let manifest = dir.join("gitops.yaml");
    let common = [
        "--dist",
        dist.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
        "--repo",
        REPO,
    ];
    for platform in &platforms[..4] {
        run_release(
            &[
                &common[..],
                &[
                    "--pack-only",
                    "--binary",
                    exe.to_str().unwrap(),
                    "--platform",
                    platform,
                    VERSION,
                ],
            ]
            .concat(),
        );
    }
    // One archive missing: refused, naming it, unless asked for a local manifest.
    let refused = run(Command::new("bash")
        .arg(release_script())
        .args(common)
        .args(["--manifest-only", VERSION]));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("windows/amd64") && stderr(&refused).contains("--local-only"),
        "{}",
        stderr(&refused)
    );
    assert!(!manifest.exists());

    run_release(
        &[
            &common[..],
            &[
                "--pack-only",
                "--binary",
                exe.to_str().unwrap(),
                "--platform",
                "windows/amd64",
                VERSION,
            ],
        ]
        .concat(),
    );
    run_release(&[&common[..], &["--manifest-only", VERSION]].concat());
    let spec = read_yaml(&manifest)["spec"].clone();
    let listed = spec["platforms"].as_array().unwrap();
    assert_eq!(listed.len(), 5);
    for (platform, entry) in platforms.iter().zip(listed) {
        let (os, arch) = platform.split_once('/').unwrap();
        assert_eq!(entry["selector"]["matchLabels"]["os"], os);
        assert_eq!(entry["selector"]["matchLabels"]["arch"], arch);
        assert_eq!(entry["sha256"], sha256(&dist.join(archive_name(platform))));
        let bin = if os == "windows" {
            "kubectl-gitops.exe"
        } else {
            "kubectl-gitops"
        };
        assert_eq!(entry["bin"], bin);
        assert!(
            entry["uri"]
                .as_str()
                .unwrap()
                .ends_with(&archive_name(platform)),
            "{}",
            entry["uri"]
        );
        let listing = run(Command::new("tar")
            .arg("-tzf")
            .arg(dist.join(archive_name(platform))));
        assert!(
            stdout(&listing).lines().any(|l| l == bin),
            "{}",
            stdout(&listing)
        );
    }

    // A version other than Cargo.toml's is refused: the binary would report another.
    let mismatch = run(Command::new("bash")
        .arg(release_script())
        .args(common)
        .args(["--manifest-only", "--local-only", "99.0.0"]));
    assert!(!mismatch.status.success());
    assert!(
        stderr(&mismatch).contains("Cargo.toml"),
        "{}",
        stderr(&mismatch)
    );
}

#[test]
fn krew_release_bot_template_is_the_manifest_text() {
    let out = temp_dir("krew-template-").join(".krew.yaml");
    run_release(&["--write-template", "--manifest", out.to_str().unwrap()]);
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("krew-manifest/.krew.yaml");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&committed).unwrap(),
        "krew-manifest/.krew.yaml is stale: run krew-manifest/release.sh --write-template"
    );
    // What krew-release-bot renders must be a manifest: the template expressions sit in
    // places that keep the YAML shape.
    let text = std::fs::read_to_string(&committed).unwrap();
    assert_eq!(text.matches("addURIAndSha").count(), 5);
    let rendered = text
        .lines()
        .map(|line| {
            if line.contains("addURIAndSha") {
                format!(
                    "    uri: https://example.invalid/a.tar.gz\n    sha256: {}",
                    "a".repeat(64)
                )
            } else {
                line.replace("{{ .TagName }}", "v0.0.0")
                    .replace("{{ .PluginOwner }}", "owner")
                    .replace("{{ .PluginRepo }}", "repo")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!rendered.contains("{{"), "{rendered}");
    let manifest: serde_json::Value = serde_saphyr::from_str(&rendered).unwrap();
    assert_eq!(manifest["spec"]["platforms"].as_array().unwrap().len(), 5);
    assert_eq!(manifest["spec"]["version"], "v0.0.0");
}
