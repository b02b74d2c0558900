//! `foldbank verify --chain`: every link recomputed from position 1, every signed checkpoint
//! compared with the link at its position and its signature checked, in bounded memory.

use std::collections::VecDeque;
use std::fmt;

use super::checkpoint::{self, Checkpoint, PublicKey};
use super::{Chained, GENESIS, Link};
use crate::db::{Database, query};
use crate::store::{RecordedEvent, StoreError};

/// Events read at a time.
const PAGE: i64 = 2_000;

/// Where the log and its chain part ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The event stored at `position` is not the one its link was made of: changed, or moved
    /// there from another position.
    Modified { position: i64 },
    /// No event is stored at `position`, where the log says one was: deleted.
    Missing { position: i64 },
    /// The event at `position` has no link: written around the service, not by it.
    Unlinked { position: i64 },
}

impl Break {
    pub fn position(&self) -> i64 {
        match self {
            Break::Modified { position } | Break::Missing { position } | Break::Unlinked { position } => {
                *position
            }
        }
    }
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::Modified { position } => write!(
                f,
                "position {position}: the event stored there does not match its link (changed, or moved from another position)"
            ),
            Break::Missing { position } => write!(f, "position {position}: the event is missing (deleted)"),
            Break::Unlinked { position } => write!(
                f,
                "position {position}: the event has no link in the chain (inserted around the service)"
            ),
        }
    }
}

/// What is wrong with a signed checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// Its signature does not verify with the public key: not signed by that key, or its
    /// position or hash changed since.
    Signature,
    /// The link recomputed at its position is not the signed one: the log before it was
    /// rewritten and relinked.
    Hash,
    /// The log ends before its position: events after the head were removed with their links.
    BeyondTheLog,
}

/// A checkpoint that does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCheckpoint {
    pub position: i64,
    pub forgery: Forgery,
}

impl fmt::Display for BadCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let position = self.position;
        match self.forgery {
            Forgery::Signature => write!(
                f,
                "checkpoint at position {position}: the signature does not verify with the public key"
            ),
            Forgery::Hash => write!(
                f,
                "checkpoint at position {position}: the recomputed link differs from the signed one (the log before it was rewritten and relinked)"
            ),
            Forgery::BeyondTheLog => write!(
                f,
                "checkpoint at position {position}: the log ends before it (its newest events were removed)"
            ),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Events whose link was recomputed and matched.
    pub intact: i64,
    /// The last matching link.
    pub head: Link,
    /// The first break, if any; the walk of the links stops there.
    pub broken: Option<Break>,
    /// Checkpoints compared with the recomputed chain (and, with a key, whose signature was
    /// checked).
    pub checkpoints: i64,
    /// Whether the signatures were checked: only with a public key.
    pub signatures_checked: bool,
    /// The checkpoints that do not hold, in position order.
    pub bad_checkpoints: Vec<BadCheckpoint>,
}

impl ChainReport {
    /// Whether the log is exactly what was linked and signed.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none() && self.bad_checkpoints.is_empty()
    }
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.broken {
            None => writeln!(
                f,
                "chain: {} events, every link recomputed and equal; head {} at position {}",
                self.intact, self.head, self.intact
            )?,
            Some(broken) => writeln!(
                f,
                "chain broken at {broken}; the {} events before it are intact",
                self.intact
            )?,
        }
        for bad in &self.bad_checkpoints {
            writeln!(f, "{bad}")?;
        }
        let signatures = if self.signatures_checked {
            "their signatures checked"
        } else {
            "signatures NOT checked (give --public-key or --signing-key-file)"
        };
        write!(
            f,
            "checkpoints: {} compared with the chain, {signatures}; {} do not hold",
            self.checkpoints,
            self.bad_checkpoints.len()
        )
    }
}

/// One event as the walk reads it: the stored event and its stored link.
#[derive(Debug, sqlx::FromRow)]
struct LinkedEvent {
    #[sqlx(flatten)]
    event: RecordedEvent,
    hash: Option<String>,
}

/// Recomputes every link from position 1 and compares it with the stored one, and every
/// checkpoint with the link at its position, a page at a time (memory does not grow with the
/// log). The walk of the links stops at the first break; checkpoints after it are still
/// checked for their signature. `reached` hears each position checked.
pub async fn verify(
    database: &Database,
    key: Option<&PublicKey>,
    mut reached: impl FnMut(i64),
) -> Result<ChainReport, StoreError> {
    let mut checkpoints = Checkpoints::new(database);
    let mut report = ChainReport {
        intact: 0,
        head: GENESIS,
        broken: None,
        checkpoints: 0,
        signatures_checked: key.is_some(),
        bad_checkpoints: Vec::new(),
    };
    let mut after = 0;
    'walk: loop {
        let page: Vec<LinkedEvent> = query(format!(
            "SELECT global_position, stream_type, stream_id, stream_version, event_id, event_type, \
             schema_version, payload, metadata, occurred_at, recorded_at, hash FROM events \
             WHERE global_position > $1 ORDER BY global_position LIMIT {PAGE}"
        ))
        .bind(after)
        .fetch_all(database)
        .await?;
        let Some(last) = page.last() else { break };
        after = last.event.global_position;
        let full = i64::try_from(page.len()).unwrap_or(i64::MAX) == PAGE;
        for LinkedEvent { event, hash } in page {
            let position = report.intact + 1;
            let broken = if event.global_position != position {
                Some(Break::Missing { position })
            } else {
                let recomputed = report.head.then(&Chained::from(&event));
                match hash.as_deref().map(Link::from_hex) {
                    None => Some(Break::Unlinked { position }),
                    Some(stored) if stored != Some(recomputed) => Some(Break::Modified { position }),
                    Some(_) => {
                        report.head = recomputed;
                        None
                    }
                }
            };
            if broken.is_some() {
                report.broken = broken;
                break 'walk;
            }
            report.intact = position;
            while let Some(checkpoint) = checkpoints.next_at_most(position).await? {
                report.check(
                    &checkpoint,
                    key,
                    Some(report.head).filter(|_| checkpoint.position == position),
                );
            }
            reached(position);
        }
        if !full {
            break;
        }
    }
    // Checkpoints the walk did not reach: beyond the log, or after its break.
    while let Some(checkpoint) = checkpoints.next_at_most(i64::MAX).await? {
        report.check(&checkpoint, key, None);
    }
    Ok(report)
}

impl ChainReport {
    /// Checks one checkpoint: its signature (with a key), and its hash against `link`, the
    /// recomputed link at its position (`None` where the walk did not reach it).
    fn check(&mut self, checkpoint: &Checkpoint, key: Option<&PublicKey>, link: Option<Link>) {
        self.checkpoints += 1;
        let forgery = if key.is_some_and(|key| !key.verifies(checkpoint)) {
            Some(Forgery::Signature)
        } else {
            match link {
                Some(link) if checkpoint.hash != link.to_hex() => Some(Forgery::Hash),
                Some(_) => None,
                // After a break nothing more can be said of its hash; past the log's end of an
                // intact chain, the events it signed are gone.
                None if self.broken.is_none() => Some(Forgery::BeyondTheLog),
                None => None,
            }
        };
        if let Some(forgery) = forgery {
            self.bad_checkpoints.push(BadCheckpoint {
                position: checkpoint.position,
                forgery,
            });
        }
    }
}

/// The stored checkpoints, read a page at a time in position order.
struct Checkpoints<'a> {
    database: &'a Database,
    page: VecDeque<Checkpoint>,
    after: i64,
    exhausted: bool,
}

impl<'a> Checkpoints<'a> {
    fn new(database: &'a Database) -> Self {
        Checkpoints {
            database,
            page: VecDeque::new(),
            after: 0,
            exhausted: false,
        }
    }

    /// The next checkpoint if its position is at most `position`.
    async fn next_at_most(&mut self, position: i64) -> Result<Option<Checkpoint>, sqlx::Error> {
        if self.page.is_empty() && !self.exhausted {
            let page = checkpoint::page(self.database, self.after, 500).await?;
            match page.last() {
                None => self.exhausted = true,
                Some(last) => self.after = last.position,
            }
            self.page.extend(page);
        }
        Ok(self
            .page
            .front()
            .is_some_and(|next| next.position <= position)
            .then(|| self.page.pop_front())
            .flatten())
    }
}
