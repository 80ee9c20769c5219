//! Progress of a long import on stderr: a real progress bar (indicatif) when stderr is a terminal,
//! else a plain line every [`LINE_EVERY`] rows (for logs and pipes, where a bar's redraws are noise).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Instant;

/// Rows between two plain progress lines.
pub const LINE_EVERY: u64 = 100_000;

/// One file's progress.
pub enum Progress {
    /// On a terminal.
    Bar(ProgressBar),
    /// Elsewhere: a line every [`LINE_EVERY`] rows.
    Lines {
        /// The file, as shown.
        name: String,
        /// When the import began.
        started: Instant,
        /// The row count of the last line shown.
        shown: u64,
    },
}

impl Progress {
    /// Progress for importing `file`: a bar whose length is the file's line count (a CSV or JSON Lines
    /// file has one row a line, bar the header) when stderr is a terminal, else plain lines.
    pub fn for_file(file: &Path) -> Progress {
        let name = file.display().to_string();
        if !std::io::stderr().is_terminal() {
            return Progress::Lines {
                name,
                started: Instant::now(),
                shown: 0,
            };
        }
        let bar = match line_count(file) {
            Some(lines) if is_text(file) => ProgressBar::new(lines.saturating_sub(1)),
            _ => ProgressBar::no_length(),
        };
        let style = ProgressStyle::with_template(
            "{msg} [{bar:40}] {human_pos}/{human_len} rows, {per_sec}, {elapsed} (ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(name);
        Progress::Bar(bar)
    }

    /// `rows` rows read so far.
    pub fn update(&mut self, rows: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(rows),
            Progress::Lines {
                name,
                started,
                shown,
            } => {
                if rows >= *shown + LINE_EVERY {
                    *shown = rows;
                    let secs = started.elapsed().as_secs_f64();
                    eprintln!(
                        "  {name}: {rows} rows read ({:.0} rows/s, {secs:.0} s)",
                        rows as f64 / secs.max(1e-3)
                    );
                }
            }
        }
    }

    /// The import ended.
    pub fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn is_text(file: &Path) -> bool {
    !file
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// Lines in a file (one pass, about a second per GiB), if it can be read.
fn line_count(file: &Path) -> Option<u64> {
    let mut reader = std::fs::File::open(file).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            return Some(lines);
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}
