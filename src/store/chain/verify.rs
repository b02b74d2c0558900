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
///
/// `published` are checkpoints kept outside the database (saved from `GET /chain`): checked
/// the same way, so that a rewrite whose forger also deleted the stored checkpoints still
/// shows.
pub async fn verify(
    database: &Database,
    key: Option<&PublicKey>,
    published: Vec<Checkpoint>,
    mut reached: impl FnMut(i64),
) -> Result<ChainReport, StoreError> {
    // Only the checkpoints stored before the walk begins: each signs events committed before
    // it, which the walk will read. One signed meanwhile by a running service may sign events
    // appended after the walk read the log's end, and would seem to be past it.
    let newest = checkpoint::last(database)
        .await?
        .map_or(0, |newest| newest.position);
    let mut checkpoints = Checkpoints::new(database, newest, published);
    let mut report = ChainReport {
        intact: 0,
        head: GENESIS,
        broken: None,
        checkpoints: 0,
        signatures_checked: key.is_some(),
        bad_checkpoints: Vec::new(),
    };
    let mut walk = Walk::from(database, (0, GENESIS));
    loop {
        match walk.next().await? {
            Step::End => break,
            Step::Broken(broken) => {
                report.broken = Some(broken);
                break;
            }
            Step::Linked(position, link) => {
                (report.intact, report.head) = (position, link);
                while let Some(checkpoint) = checkpoints.next_at_most(position).await? {
                    report.check(
                        &checkpoint,
                        key,
                        Some(link).filter(|_| checkpoint.position == position),
                    );
                }
                reached(position);
            }
        }
    }
    // Checkpoints the walk did not reach: beyond the log, or after its break.
    while let Some(checkpoint) = checkpoints.next_at_most(i64::MAX).await? {
        report.check(&checkpoint, key, None);
    }
    Ok(report)
}

/// Whether the stored links from `from` (a position and the link there, trusted) up to
/// `to` are those recomputed from it: the first break, if any (an end of the log before `to`
/// is a missing event).
pub async fn first_break_between(
    database: &Database,
    from: (i64, Link),
    to: i64,
) -> Result<Option<Break>, StoreError> {
    let mut walk = Walk::from(database, from);
    let mut reached = from.0;
    while reached < to {
        match walk.next().await? {
            Step::Linked(position, _) => reached = position,
            Step::Broken(broken) => return Ok(Some(broken)),
            Step::End => {
                return Ok(Some(Break::Missing {
                    position: reached + 1,
                }));
            }
        }
    }
    Ok(None)
}

/// One step of a [`Walk`].
enum Step {
    /// The event at this position matches its link, this one.
    Linked(i64, Link),
    Broken(Break),
    /// No event after the last one.
    End,
}

/// The log read in position order a page at a time, each link recomputed from the one before.
struct Walk<'a> {
    database: &'a Database,
    /// The last position matched and its link.
    at: (i64, Link),
    page: VecDeque<LinkedEvent>,
    exhausted: bool,
}

impl<'a> Walk<'a> {
    fn from(database: &'a Database, at: (i64, Link)) -> Self {
        Walk {
            database,
            at,
            page: VecDeque::new(),
            exhausted: false,
        }
    }

    async fn next(&mut self) -> Result<Step, sqlx::Error> {
        if self.page.is_empty() && !self.exhausted {
            let page: Vec<LinkedEvent> = query(format!(
                "SELECT global_position, stream_type, stream_id, stream_version, event_id, event_type, \
                 schema_version, payload, metadata, occurred_at, recorded_at, hash FROM events \
                 WHERE global_position > $1 ORDER BY global_position LIMIT {PAGE}"
            ))
            .bind(self.at.0)
            .fetch_all(self.database)
            .await?;
            self.exhausted = i64::try_from(page.len()).unwrap_or(i64::MAX) < PAGE;
            self.page.extend(page);
        }
        let Some(LinkedEvent { event, hash }) = self.page.pop_front() else {
            return Ok(Step::End);
        };
        let position = self.at.0 + 1;
        if event.global_position != position {
            return Ok(Step::Broken(Break::Missing { position }));
        }
        let recomputed = self.at.1.then(&Chained::from(&event));
        Ok(match hash.as_deref().map(Link::from_hex) {
            None => Step::Broken(Break::Unlinked { position }),
            Some(stored) if stored != Some(recomputed) => Step::Broken(Break::Modified { position }),
            Some(_) => {
                self.at = (position, recomputed);
                Step::Linked(position, recomputed)
            }
        })
    }
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

/// The stored checkpoints, read a page at a time in position order, and the published ones.
struct Checkpoints<'a> {
    database: &'a Database,
    /// The position of the newest stored checkpoint read.
    up_to: i64,
    page: VecDeque<Checkpoint>,
    after: i64,
    exhausted: bool,
    /// Kept outside the database, in position order.
    published: VecDeque<Checkpoint>,
}

impl<'a> Checkpoints<'a> {
    fn new(database: &'a Database, up_to: i64, mut published: Vec<Checkpoint>) -> Self {
        published.sort_by_key(|checkpoint| checkpoint.position);
        Checkpoints {
            database,
            up_to,
            page: VecDeque::new(),
            after: 0,
            exhausted: false,
            published: published.into(),
        }
    }

    /// The next checkpoint, stored or published, if its position is at most `position`.
    async fn next_at_most(&mut self, position: i64) -> Result<Option<Checkpoint>, sqlx::Error> {
        if let Some(published) = pop_at_most(&mut self.published, position) {
            return Ok(Some(published));
        }
        if self.page.is_empty() && !self.exhausted {
            let mut page = checkpoint::page(self.database, self.after, 500).await?;
            page.retain(|checkpoint| checkpoint.position <= self.up_to);
            match page.last() {
                None => self.exhausted = true,
                Some(last) => self.after = last.position,
            }
            self.page.extend(page);
        }
        Ok(pop_at_most(&mut self.page, position))
    }
}

/// The first of `checkpoints` if its position is at most `position`.
fn pop_at_most(checkpoints: &mut VecDeque<Checkpoint>, position: i64) -> Option<Checkpoint> {
    checkpoints
        .front()
        .is_some_and(|next| next.position <= position)
        .then(|| checkpoints.pop_front())
        .flatten()
}
