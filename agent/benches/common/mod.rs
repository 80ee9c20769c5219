//! Shared by the agent's benches: their command-line arguments, the ORL photos beside the repository
//! (`../shared/faces/orl`, used in place, never copied in), the committed model manifest, and a
//! deterministic random source for synthetic frames.

#![allow(dead_code)] // each bench uses a different part

use std::path::{Path, PathBuf};
use std::str::FromStr;
use wardwatch_agent::vision::manifest::Manifest;

/// A bench's arguments after `--`: flags, flags with a value, and positional arguments.
pub struct BenchArgs {
    args: Vec<String>,
    /// Flags that take the next argument as their value.
    valued: &'static [&'static str],
}

impl BenchArgs {
    /// The process's arguments; `valued` names the flags that take a value.
    pub fn from_env(valued: &'static [&'static str]) -> BenchArgs {
        BenchArgs {
            // cargo bench passes `--bench` to harness-less benches; it is not ours.
            args: std::env::args()
                .skip(1)
                .filter(|a| a != "--bench")
                .collect(),
            valued,
        }
    }

    /// Whether `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.args.iter().any(|a| a == flag)
    }

    /// The value after `flag`, parsed; an error names the flag when the value is missing or malformed.
    pub fn value<T: FromStr>(&self, flag: &str) -> anyhow::Result<Option<T>> {
        let Some(i) = self.args.iter().position(|a| a == flag) else {
            return Ok(None);
        };
        let raw = self
            .args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        raw.parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{flag} {raw}: not a valid value"))
    }

    /// Arguments that are neither flags nor flag values.
    fn positional(&self) -> impl Iterator<Item = &str> {
        self.args.iter().enumerate().filter_map(|(i, a)| {
            let after_valued = i > 0 && self.valued.contains(&self.args[i - 1].as_str());
            (!a.starts_with('-') && !after_valued).then_some(a.as_str())
        })
    }

    /// The first positional argument that is a number (a count of runs, say).
    pub fn number<T: FromStr>(&self) -> Option<T> {
        self.positional().find_map(|a| a.parse().ok())
    }

    /// The ORL folder: the first positional argument that is not a number, else the one beside the
    /// repository; an error when it does not hold ORL.
    pub fn orl_dir(&self) -> anyhow::Result<PathBuf> {
        let orl = self
            .positional()
            .find(|a| a.parse::<f64>().is_err())
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("../shared/faces/orl"));
        anyhow::ensure!(
            orl.join("s1/1.pgm").exists(),
            "{} does not hold ORL (s1/1.pgm …)",
            orl.display()
        );
        Ok(orl)
    }
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The committed model manifest.
pub fn manifest() -> anyhow::Result<Manifest> {
    Ok(Manifest::load(&repo_root().join("models/manifest.toml"))?)
}

/// A deterministic xorshift, for jitter and textures that are the same on every run.
pub struct Rng(pub u32);

impl Rng {
    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 8) as f32 / (1u32 << 24) as f32
    }
}
