//! How far a replay of the whole log has come, for the commands an operator waits on
//! (`foldbank rebuild`, `foldbank verify`).
//!
//! On a terminal: a bar with the events replayed, events per second and the time left
//! (indicatif, drawn on standard error, so standard output keeps only the command's answer).
//! Elsewhere (a CI log, a pipe): a log line every few seconds with the same numbers.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a line is logged when no bar can be drawn.
const LINE_EVERY: Duration = Duration::from_secs(5);

const TEMPLATE: &str =
    "{msg} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} events ({per_sec}, {eta} left)";

/// The progress of a replay; see the module docs.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    what: &'static str,
    /// Log lines instead of the bar.
    lines: bool,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// A bar on standard error when it is a terminal, log lines otherwise; `what` names the
    /// replay (`"rebuild"`, `"verify"`).
    pub fn on_stderr(what: &'static str) -> Self {
        let bar = ProgressBar::new(0);
        let lines = bar.is_hidden();
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style);
        }
        bar.set_message(what);
        Progress::with_bar(bar, what, lines)
    }

    /// Log lines every few seconds, never a bar: for a replay inside the running service.
    pub fn in_log(what: &'static str) -> Self {
        Progress::with_bar(ProgressBar::hidden(), what, true)
    }

    /// Shows nothing: for tests and for callers that report in their own way.
    pub fn hidden() -> Self {
        Progress::with_bar(ProgressBar::hidden(), "replay", false)
    }

    fn with_bar(bar: ProgressBar, what: &'static str, lines: bool) -> Self {
        let now = Instant::now();
        Progress {
            bar,
            what,
            lines,
            started: now,
            last_line: now,
        }
    }

    /// The replay goes up to `head` (which may grow while it runs).
    pub(crate) fn aim_at(&mut self, head: i64) {
        let head = u64::try_from(head).unwrap_or(0);
        if head > self.bar.length().unwrap_or(0) {
            self.bar.set_length(head);
        }
    }

    /// The replay has reached the event at `position`.
    pub(crate) fn reached(&mut self, position: i64) {
        self.aim_at(position);
        self.bar.set_position(u64::try_from(position).unwrap_or(0));
        if self.lines && self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            self.log_line();
        }
    }

    /// The replay is done.
    pub(crate) fn finish(&mut self) {
        self.bar.finish_and_clear();
        if self.lines {
            self.log_line();
        }
    }

    fn log_line(&self) {
        let done = self.bar.position();
        let total = self.bar.length().unwrap_or(done);
        let seconds = self.started.elapsed().as_secs_f64();
        let per_second = if seconds > 0.0 { done as f64 / seconds } else { 0.0 };
        let left = if per_second > 0.0 {
            total.saturating_sub(done) as f64 / per_second
        } else {
            0.0
        };
        tracing::info!(
            replay = self.what,
            events = done,
            of = total,
            per_second = per_second.round(),
            seconds_left = left.round(),
            "replaying the log"
        );
    }
}
