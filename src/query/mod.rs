//! Queries over the log itself rather than a read model: time travel ([`AccountHistory`],
//! the write model folded up to an instant) and the audit trail and event feed
//! ([`EventLog`]). The read models' queries sit beside their folds, in
//! [`crate::projection`].

mod history;
mod log;

pub use history::{AccountHistory, Folded, PointInTime};
pub use log::{EventLog, EventPage, LogPage};
