//! Whole-output golden files: a test compares everything a command printed with
//! `tests/testdata/<command>/<case>.golden`, so any change to the output, wanted or not, shows up
//! as a failing test with a line diff.
//!
//! To accept a change, regenerate the files and review them with `git diff`:
//!
//! ```text
//! KUBECTL_GITOPS_UPDATE_GOLDEN=1 cargo test --test <suite> [filter]
//! ```
//!
//! (`<suite>` is `integration`, `lifecycle` or `e2e`; set up the test environment first, see
//! tests/env/prepare.sh.) With the variable set, [`assert_golden`] writes the file instead of
//! comparing, and the test passes.
//!
//! Only what truly changes from one run to the next is normalised, by the small functions
//! below, and always into a visible placeholder (`<age>`, `<port>`, `<timestamp>`, ...) in place
//! of the value, never by dropping lines. Values a test knows exactly (a temporary path, a
//! server's address, the build's commit) are replaced as exact strings; patterns (ages,
//! timestamps) only where a test asks for them.

use std::path::{Path, PathBuf};
use std::process::Output;

/// The environment variable that turns comparisons into (re)writing the golden files.
pub const UPDATE_VARIABLE: &str = "KUBECTL_GITOPS_UPDATE_GOLDEN";

/// The file for `name` (`<command>/<case>`).
pub fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("testdata")
        .join(format!("{name}.golden"))
}

/// Compares `actual` with the golden file `tests/testdata/<name>.golden` (`name` is
/// `<command>/<case>`), or writes it when [`UPDATE_VARIABLE`] is `1`.
pub fn assert_golden(name: &str, actual: &str) {
    assert!(
        name.contains('/') && !name.ends_with(".golden"),
        "golden names are <command>/<case>: {name}"
    );
    let path = golden_path(name);
    if std::env::var(UPDATE_VARIABLE).as_deref() == Ok("1") {
        let folder = path.parent().expect("tests/testdata/<command>");
        std::fs::create_dir_all(folder)
            .unwrap_or_else(|err| panic!("create {}: {err}", folder.display()));
        std::fs::write(&path, actual)
            .unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
        eprintln!("golden: wrote {}", path.display());
        return;
    }
    let regenerate = format!(
        "to accept the new output: {UPDATE_VARIABLE}=1 cargo test --test {} {}",
        this_suite(),
        std::thread::current().name().unwrap_or("<test>")
    );
    let expected = match std::fs::read_to_string(&path) {
        Ok(expected) => expected,
        Err(err) => panic!(
            "golden file {} cannot be read ({err}); {regenerate}\nactual output:\n{actual}",
            path.display()
        ),
    };
    if expected != actual {
        panic!(
            "output differs from {} (- golden, + actual):\n{}\n{regenerate}",
            path.display(),
            line_diff(&expected, actual)
        );
    }
}

/// The test binary's name (`integration`, `lifecycle`, ...), which cargo gives the executable
/// before a hash.
fn this_suite() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let stem = exe.file_stem()?.to_string_lossy().into_owned();
            Some(stem.split('-').next()?.to_string())
        })
        .unwrap_or_else(|| "<suite>".to_string())
}

/// Everything a finished command showed: its exit status, stdout and stderr, as one text for
/// a golden file.
pub fn transcript(output: &Output) -> String {
    let status = match output.status.code() {
        Some(code) => code.to_string(),
        None => "killed by a signal".to_string(),
    };
    format!(
        "exit status: {status}\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

/// Replaces every occurrence of a value the test knows (a temporary folder, a namespace, a
/// URL) with `placeholder`.
pub fn replace_value(text: &str, value: &str, placeholder: &str) -> String {
    assert!(!value.is_empty(), "nothing to replace with {placeholder}");
    text.replace(value, placeholder)
}

/// Replaces the facts `build.rs` records and the crate's version, which change with every
/// commit and release: `<crate-version>`, `<commit>`, `<rustc-version>`, `<target>`.
///
/// A YAML value of its own line (`gitCommit: "6093278"`) loses its quotes first: YAML quotes a
/// commit that would otherwise read as a number (all digits, or like `12e45`), so whether the
/// quotes are there depends on the commit, not on the output's shape.
pub fn build_facts(text: &str) -> String {
    let mut text = text.to_string();
    for (value, placeholder) in [
        (env!("KUBECTL_GITOPS_GIT_COMMIT"), "<commit>"),
        (env!("KUBECTL_GITOPS_RUSTC_VERSION"), "<rustc-version>"),
        (env!("KUBECTL_GITOPS_TARGET"), "<target>"),
        (env!("CARGO_PKG_VERSION"), "<crate-version>"),
    ] {
        text = text.replace(&format!(": \"{value}\"\n"), &format!(": {value}\n"));
        text = replace_value(&text, value, placeholder);
    }
    text
}

/// Replaces the port of a loopback address (`127.0.0.1:38211`), which the test environment
/// picks at random: `127.0.0.1:<port>`.
pub fn loopback_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    const HOST: &str = "127.0.0.1:";
    while let Some(at) = rest.find(HOST) {
        let after = &rest[at + HOST.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + HOST.len()]);
        if digits > 0 {
            out.push_str("<port>");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Replaces ages as `status` prints them (`7s`, `3m`, `2h`, `5d`, words on their own) with
/// `<age>`, keeping table columns aligned: the placeholder takes the room of the age and as
/// much of the padding after it as it needs. For tables only: other text has durations that do
/// not vary (`interval 10m`).
pub fn ages(text: &str) -> String {
    let is_age = |word: &str| {
        let digits = word.trim_end_matches(['s', 'm', 'h', 'd']);
        word.len() == digits.len() + 1
            && !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
    };
    replace_words(text, is_age, "<age>")
}

/// Replaces RFC 3339 timestamps (`2026-12-03T05:54:53Z`, with fractions or an offset) with
/// `<timestamp>`, keeping columns aligned as [`ages`] does.
pub fn timestamps(text: &str) -> String {
    replace_words(
        text,
        |word| {
            word.len() >= 20
                && word.as_bytes()[10] == b'T'
                && word.parse::<jiff::Timestamp>().is_ok()
        },
        "<timestamp>",
    )
}

/// Replaces the time a command measured itself, in seconds with one decimal (`(0.4s)` after
/// `reconcile`'s result), with `<elapsed>`.
pub fn elapsed_seconds(text: &str) -> String {
    replace_words(
        text,
        |word| {
            word.strip_suffix('s')
                .and_then(|number| number.split_once('.'))
                .is_some_and(|(whole, fraction)| {
                    !whole.is_empty()
                        && fraction.len() == 1
                        && (whole.to_string() + fraction)
                            .chars()
                            .all(|c| c.is_ascii_digit())
                })
        },
        "<elapsed>",
    )
}

/// Replaces each space-separated word for which `matches` holds (punctuation around it aside)
/// with `placeholder`, which eats into the spaces after the word so that the next column stays
/// where it was.
fn replace_words(text: &str, matches: impl Fn(&str) -> bool, placeholder: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let mut rest = body;
        while !rest.is_empty() {
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            out.push_str(&rest[..spaces]);
            rest = &rest[spaces..];
            let word_len = rest.find(' ').unwrap_or(rest.len());
            let word = &rest[..word_len];
            rest = &rest[word_len..];
            // Punctuation around a value (`5s,` `(0.4s)`) stays.
            let after = word.trim_end_matches([',', ';', ')', '"', '.']);
            let value = after.trim_start_matches(['(', '"']);
            if !matches(value) {
                out.push_str(word);
                continue;
            }
            out.push_str(&after[..after.len() - value.len()]);
            out.push_str(placeholder);
            out.push_str(&word[after.len()..]);
            // Keep the next column in place while there is padding to take, always leaving
            // one space between words.
            let padding = rest.len() - rest.trim_start_matches(' ').len();
            let wanted = placeholder.len().saturating_sub(value.len());
            if padding > 1 && !rest[padding..].is_empty() {
                rest = &rest[wanted.min(padding - 1)..];
            }
        }
        out.push_str(newline);
    }
    out
}

/// A line diff of two texts for a failure message: `-` lines only in `expected`, `+` lines only
/// in `actual`, a few unchanged lines around each change, and `@@ line N` where a change starts.
pub fn line_diff(expected: &str, actual: &str) -> String {
    const CONTEXT: usize = 3;
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let mut edits = diff_lines(&old, &new);
    if expected.ends_with('\n') != actual.ends_with('\n') {
        edits.push(Edit::Note("(the texts differ in the newline at the end)"));
    }
    let changed: Vec<usize> = edits
        .iter()
        .enumerate()
        .filter(|(_, edit)| !matches!(edit, Edit::Same(..)))
        .map(|(at, _)| at)
        .collect();
    let near_change = |at: usize| changed.iter().any(|&c| c.abs_diff(at) <= CONTEXT);
    let mut out = String::new();
    let mut shown_last = false;
    for (at, edit) in edits.iter().enumerate() {
        if !near_change(at) {
            shown_last = false;
            continue;
        }
        if !shown_last {
            out += &format!("@@ line {}\n", edit.new_line());
        }
        shown_last = true;
        match edit {
            Edit::Same(_, line) => out += &format!("  {line}\n"),
            Edit::Removed(_, line) => out += &format!("- {line}\n"),
            Edit::Added(_, line) => out += &format!("+ {line}\n"),
            Edit::Note(note) => out += &format!("{note}\n"),
        }
    }
    out
}

/// One step from the expected lines to the actual ones; the number is the 1-based line in the
/// actual text where the step happens.
enum Edit<'a> {
    Same(usize, &'a str),
    Removed(usize, &'a str),
    Added(usize, &'a str),
    Note(&'static str),
}

impl Edit<'_> {
    fn new_line(&self) -> usize {
        match self {
            Edit::Same(line, _) | Edit::Removed(line, _) | Edit::Added(line, _) => *line,
            Edit::Note(_) => 0,
        }
    }
}

/// The edits from `old` to `new`, fewest first: the common start and end as they are, the middle
/// by Myers' shortest-edit search, which stays fast while the texts differ in a few lines even
/// when they are long (the bootstrap manifests). Past [`MAX_EDITS`] the middle is shown as all
/// removed, then all added.
fn diff_lines<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Edit<'a>> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_mid, new_mid) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    let mut edits: Vec<Edit<'a>> = new[..prefix]
        .iter()
        .enumerate()
        .map(|(at, line)| Edit::Same(at + 1, line))
        .collect();
    let first = prefix + 1;
    match shortest_edit(old_mid, new_mid) {
        Some(middle) => edits.extend(middle.into_iter().map(|edit| match edit {
            Edit::Same(at, line) => Edit::Same(first + at, line),
            Edit::Removed(at, line) => Edit::Removed(first + at, line),
            Edit::Added(at, line) => Edit::Added(first + at, line),
            note => note,
        })),
        None => {
            edits.extend(old_mid.iter().map(|line| Edit::Removed(first, line)));
            edits.extend(
                new_mid
                    .iter()
                    .enumerate()
                    .map(|(at, line)| Edit::Added(first + at, line)),
            );
        }
    }
    let tail_start = new.len() - suffix;
    edits.extend(
        new[tail_start..]
            .iter()
            .enumerate()
            .map(|(at, line)| Edit::Same(tail_start + at + 1, line)),
    );
    edits
}

/// How many removed plus added lines [`shortest_edit`] looks for before giving up.
const MAX_EDITS: usize = 2000;

/// Myers' search for the fewest removals and additions that turn `old` into `new`, with line
/// numbers counted from 0 in `new`; None past [`MAX_EDITS`]. `furthest[k]` is how far along
/// `old` the best path ending on diagonal `k` (old index minus new index) got; one copy per
/// round is kept to walk back along the path.
fn shortest_edit<'a>(old: &[&'a str], new: &[&'a str]) -> Option<Vec<Edit<'a>>> {
    let (n, m) = (old.len() as isize, new.len() as isize);
    let limit = (n + m).min(MAX_EDITS as isize);
    let offset = limit + 1;
    let mut furthest = vec![0isize; 2 * offset as usize + 1];
    let at = |k: isize| (k + offset) as usize;
    // rounds[d]: `furthest` on diagonals -d-1..=d+1 before round d.
    let mut rounds: Vec<Vec<isize>> = Vec::new();
    let mut found = false;
    for d in 0..=limit {
        rounds.push(furthest[at(-d - 1)..=at(d + 1)].to_vec());
        for k in (-d..=d).step_by(2) {
            let from_above = k == -d || (k != d && furthest[at(k - 1)] < furthest[at(k + 1)]);
            let mut x = if from_above {
                furthest[at(k + 1)]
            } else {
                furthest[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && old[x as usize] == new[y as usize] {
                x += 1;
                y += 1;
            }
            furthest[at(k)] = x;
            if x >= n && y >= m {
                found = true;
                break;
            }
        }
        if found {
            break;
        }
    }
    if !found {
        return None;
    }
    let mut edits = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, round) in rounds.iter().enumerate().rev() {
        let d = d as isize;
        let before = |k: isize| round[(k + d + 1) as usize];
        let k = x - y;
        let previous_k = if k == -d || (k != d && before(k - 1) < before(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let previous_x = before(previous_k);
        let previous_y = previous_x - previous_k;
        while x > previous_x && y > previous_y {
            x -= 1;
            y -= 1;
            edits.push(Edit::Same(y as usize, new[y as usize]));
        }
        if d > 0 {
            if x == previous_x {
                edits.push(Edit::Added(previous_y as usize, new[previous_y as usize]));
            } else {
                edits.push(Edit::Removed(y as usize, old[previous_x as usize]));
            }
        }
        (x, y) = (previous_x, previous_y);
    }
    edits.reverse();
    Some(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_become_placeholders_and_columns_stay_aligned() {
        let table = "NAME   AGE   READY\nks/a   5s    True\nks/b   12m   False\n";
        assert_eq!(
            ages(table),
            "NAME   AGE   READY\nks/a   <age> True\nks/b   <age> False\n"
        );
        assert_eq!(ages("a 5s"), "a <age>");
        assert_eq!(ages("5x s 10 m5"), "5x s 10 m5");
    }

    #[test]
    fn timestamps_and_ports_become_placeholders() {
        assert_eq!(
            timestamps("at 2026-12-03T05:54:53Z, then"),
            "at <timestamp>, then"
        );
        assert_eq!(
            loopback_ports("https://127.0.0.1:38211/x and 127.0.0.1:"),
            "https://127.0.0.1:<port>/x and 127.0.0.1:"
        );
    }

    #[test]
    fn elapsed_seconds_become_placeholders() {
        assert_eq!(
            elapsed_seconds("applied revision main (12.3s)\nwithin 2s, 1.5.2s"),
            "applied revision main (<elapsed>)\nwithin 2s, 1.5.2s"
        );
    }

    #[test]
    fn the_diff_of_long_texts_shows_only_the_changes() {
        let old: Vec<String> = (0..20_000).map(|i| format!("line {i}")).collect();
        let mut new = old.clone();
        new[10] = "changed".into();
        new.remove(15_000);
        new.insert(19_000, "inserted".into());
        let diff = line_diff(&(old.join("\n") + "\n"), &(new.join("\n") + "\n"));
        let changes: Vec<&str> = diff
            .lines()
            .filter(|l| l.starts_with("- ") || l.starts_with("+ "))
            .collect();
        assert_eq!(
            changes,
            ["- line 10", "+ changed", "- line 15000", "+ inserted"]
        );
        assert_eq!(diff.matches("@@").count(), 3, "{diff}");
    }

    #[test]
    fn the_diff_shows_changed_lines_with_context() {
        let diff = line_diff("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n");
        assert_eq!(diff, "@@ line 2\n  b\n  c\n  d\n- e\n+ E\n  f\n  g\n  h\n");
    }
}
