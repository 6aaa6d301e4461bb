//! A private apt client: the Debian mirror this machine's apt sources name (read at run time, so no archive
//! host is written here), one suite's package index kept under our own cache, index records, and `.deb`
//! downloads and unpacking. It drives the system's `apt-get`, `apt-cache` and `dpkg-deb` with private
//! directories; the system's apt state is never touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util;

/// Environment variable overriding the Debian mirror read from apt sources.
pub const MIRROR_ENV: &str = "RUSTLAND_DEBIAN_MIRROR";

/// apt with its own state, cache and sources under `root`: one Debian suite (`main` component, amd64) from the
/// mirror this machine's apt sources use. The system's apt configuration and package lists are left untouched.
pub struct PrivateApt {
    root: PathBuf,
    suite: String,
}

impl PrivateApt {
    /// Sets up the private apt directories under `root` for `suite` (e.g. `trixie-backports`). Fails when this
    /// is not a Debian system (no apt-get or dpkg-deb) or no Debian mirror is found.
    pub fn new(root: &Path, suite: &str) -> Result<Self> {
        if util::which("apt-get").is_none() || util::which("dpkg-deb").is_none() {
            bail!("apt-get and dpkg-deb are missing (not a Debian system)");
        }
        for dir in [
            "state/lists/partial",
            "cache/archives/partial",
            "etc/sources.list.d",
            "etc/preferences.d",
            "etc/apt.conf.d",
        ] {
            fs::create_dir_all(root.join(dir))
                .with_context(|| format!("cannot create {}", root.join(dir).display()))?;
        }
        let status = root.join("state/status");
        if !status.exists() {
            fs::write(&status, "")?;
        }
        let mirror = debian_mirror()?;
        let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
        let options = if keyring.is_file() {
            format!("signed-by={}", keyring.display())
        } else {
            println!(
                "apt: warning: {} is missing; the {suite} index is not signature-checked",
                keyring.display()
            );
            "trusted=yes".to_string()
        };
        let sources = format!("deb [{options}] {mirror} {suite} main\n");
        fs::write(root.join("etc/sources.list"), sources)?;
        Ok(Self {
            root: root.to_path_buf(),
            suite: suite.to_string(),
        })
    }

    /// `program` (apt-get, apt-cache) pointed at the private directories.
    fn command(&self, program: &str) -> Command {
        let r = self.root.display();
        let mut cmd = Command::new(program);
        for option in [
            format!("Dir::State={r}/state"),
            format!("Dir::State::status={r}/state/status"),
            format!("Dir::Cache={r}/cache"),
            format!("Dir::Etc::SourceList={r}/etc/sources.list"),
            format!("Dir::Etc::SourceParts={r}/etc/sources.list.d"),
            format!("Dir::Etc::Preferences={r}/etc/preferences"),
            format!("Dir::Etc::PreferencesParts={r}/etc/preferences.d"),
            "APT::Architecture=amd64".to_string(),
            "APT::Architectures::=amd64".to_string(),
            "Acquire::Languages=none".to_string(),
        ] {
            cmd.arg("-o").arg(option);
        }
        if util::is_root() {
            // The private directories are not readable by apt's sandbox user.
            cmd.args(["-o", "APT::Sandbox::User=root"]);
        }
        cmd
    }

    /// Refreshes the suite's package index from the mirror.
    pub fn update(&self) -> Result<()> {
        util::output(self.command("apt-get").args(["-q", "update"]))
            .map(drop)
            .with_context(|| format!("apt-get update of the private {} index failed", self.suite))
    }

    /// Names of the packages in the index that start with `prefix`.
    pub fn package_names(&self, prefix: &str) -> Result<Vec<String>> {
        let names = util::output(self.command("apt-cache").args(["pkgnames", prefix]))?;
        Ok(names.lines().map(str::to_string).collect())
    }

    /// One field of a package's index record (e.g. `Depends`, `Size`).
    pub fn field(&self, package: &str, field: &str) -> Result<String> {
        let record =
            util::output(
                self.command("apt-cache")
                    .args(["show", "--no-all-versions", package]),
            )?;
        record_field(&record, field)
            .with_context(|| format!("package {package} has no {field} field"))
    }

    /// Downloads the `.deb` files of `packages` into the directory `into`.
    pub fn download(&self, packages: &[String], into: &Path) -> Result<()> {
        util::run(
            self.command("apt-get")
                .arg("download")
                .args(packages)
                .current_dir(into),
        )
    }
}

/// Unpacks every `.deb` file in `dir` into the directory `root` (with `dpkg-deb -x`).
pub fn unpack_debs(dir: &Path, root: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for deb in entries {
        let deb = deb?.path();
        if deb.extension().is_some_and(|e| e == "deb") {
            util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(root))?;
        }
    }
    Ok(())
}

/// Value of `field` in a deb822 record (continuation lines joined; the name is case-insensitive).
pub fn record_field(record: &str, field: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in record.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((key, rest)) = line.split_once(':') {
            if key.eq_ignore_ascii_case(field) {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}

/// The Debian archive URI used by this machine's apt sources (or
/// `$RUSTLAND_DEBIAN_MIRROR`).
fn debian_mirror() -> Result<String> {
    if let Ok(mirror) = std::env::var(MIRROR_ENV) {
        if !mirror.is_empty() {
            return Ok(mirror);
        }
    }
    let mut sources = Vec::new();
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut parts: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        parts.sort();
        files.extend(parts);
    }
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => sources.extend(parse_deb822_sources(&text)),
            Some("list") => sources.extend(parse_one_line_sources(&text)),
            _ if file.file_name().is_some_and(|n| n == "sources.list") => {
                sources.extend(parse_one_line_sources(&text))
            }
            _ => {}
        }
    }
    pick_mirror(&sources).with_context(|| {
        format!(
            "no Debian archive found in /etc/apt/sources.list{{,.d/*}}; \
             set ${MIRROR_ENV} to a Debian mirror URI"
        )
    })
}

/// One `deb` source: a URI with its suites and components.
#[derive(Debug, PartialEq)]
struct Source {
    uri: String,
    suites: Vec<String>,
    components: Vec<String>,
}

/// The `deb` sources of a deb822 `.sources` file (comments and `Enabled: no` entries skipped).
fn parse_deb822_sources(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n") {
        let record: String = paragraph
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let get = |key: &str| record_field(&record, key).unwrap_or_default();
        let words = |key: &str| -> Vec<String> {
            get(key).split_whitespace().map(str::to_string).collect()
        };
        if !words("Types").iter().any(|t| t == "deb") || get("Enabled").eq_ignore_ascii_case("no") {
            continue;
        }
        for uri in words("URIs") {
            out.push(Source {
                uri,
                suites: words("Suites"),
                components: words("Components"),
            });
        }
    }
    out
}

/// The `deb` lines of a one-line-style `sources.list` file.
fn parse_one_line_sources(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let rest = line.strip_prefix("deb ")?.trim_start();
            // Skip an options block: `[signed-by=... arch=...]`.
            let rest = if rest.starts_with('[') {
                rest.split_once(']')?.1
            } else {
                rest
            };
            let mut words = rest.split_whitespace();
            let uri = words.next()?.to_string();
            let suite = words.next()?.to_string();
            Some(Source {
                uri,
                suites: vec![suite],
                components: words.map(str::to_string).collect(),
            })
        })
        .collect()
}

/// The first source that looks like the main Debian archive: a plain suite
/// (not security, not a flat `./` repository) with the `main` component.
fn pick_mirror(sources: &[Source]) -> Option<String> {
    let debian_like = |s: &&Source| {
        s.components.iter().any(|c| c == "main")
            && s.suites
                .iter()
                .any(|suite| !suite.contains('/') && !suite.contains("security"))
            && !s.uri.contains("security")
    };
    let ends_in_debian = |s: &&Source| s.uri.trim_end_matches('/').ends_with("/debian");
    sources
        .iter()
        .filter(debian_like)
        .find(ends_in_debian)
        .or_else(|| sources.iter().find(debian_like))
        .map(|s| s.uri.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "\
Types: deb
# http://snapshot.example.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
";

    #[test]
    fn deb822_sources_yield_the_archive_not_security() {
        let sources = parse_deb822_sources(DEB822);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(
            pick_mirror(&sources).as_deref(),
            Some("http://mirror.example.org/debian")
        );
    }

    #[test]
    fn security_only_sources_yield_nothing() {
        let text = DEB822.split("\n\n").nth(1).unwrap();
        assert_eq!(pick_mirror(&parse_deb822_sources(text)), None);
    }

    #[test]
    fn disabled_deb822_entries_are_ignored() {
        let text = "Types: deb\nURIs: http://a.example/debian\nSuites: trixie\nComponents: main\nEnabled: no\n";
        assert!(parse_deb822_sources(text).is_empty());
    }

    #[test]
    fn one_line_sources_with_options() {
        let text = "# comment\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://a.example/debian/ bookworm main contrib\n\
                    deb-src http://a.example/debian bookworm main\n\
                    deb https://repo.example/apt stable-x main\n";
        let sources = parse_one_line_sources(text);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].uri, "http://a.example/debian/");
        assert_eq!(
            pick_mirror(&sources).as_deref(),
            Some("http://a.example/debian")
        );
    }

    #[test]
    fn record_fields_with_continuations() {
        let record = "Package: a\nDepends: x,\n y\nSize: 12\n";
        assert_eq!(record_field(record, "depends").as_deref(), Some("x, y"));
        assert_eq!(record_field(record, "Size").as_deref(), Some("12"));
        assert_eq!(record_field(record, "Missing"), None);
    }
}
