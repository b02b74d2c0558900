//! The log as a replay (a rebuild, a verify) reads it: pages of positions holding the account
//! streams' events, each read as its place and its payload's text and decoded straight from it,
//! and read one page ahead of the fold by a task of its own.

use std::sync::Arc;

use crate::domain::account::{self, AccountEvent};
use crate::projection::Applied;
use crate::store::{EventPlace, EventStore, StoreError, codec};

/// A stretch of the log, the positions `after < position <= up_to`, as a replay (a rebuild, a
/// verify) folds it: its account events, each decoded or with why it does not decode. The other
/// streams' events are never read: no read model folds them.
#[derive(Debug)]
pub(crate) struct ReplayPage {
    pub after: i64,
    pub up_to: i64,
    pub events: Vec<(EventPlace, Result<AccountEvent, StoreError>)>,
}

impl ReplayPage {
    /// Reads and decodes the account events of the log `after < position <= up_to`.
    pub(crate) async fn read(store: &dyn EventStore, after: i64, up_to: i64) -> Result<Self, StoreError> {
        let events = store
            .read_replay(account::STREAM_TYPE, after, up_to)
            .await?
            .iter()
            .map(|undecoded| (undecoded.place(), codec::decode_text(undecoded)))
            .collect();
        Ok(ReplayPage { after, up_to, events })
    }

    /// How many positions of the log it covers (the events of every stream).
    pub(crate) fn positions(&self) -> u64 {
        u64::try_from(self.up_to - self.after).unwrap_or(0)
    }

    /// Its events, for replays that leave some out: an event that does not decode is fine if
    /// no read model wants it (`wanted(model, position)` for each of `models`); otherwise the
    /// answer names the first model that wanted it.
    pub(crate) fn wanted(
        self,
        models: usize,
        wanted: impl Fn(usize, i64) -> bool,
    ) -> Result<Vec<Applied>, (usize, i64, StoreError)> {
        let mut events = Vec::with_capacity(self.events.len());
        for (place, decoded) in self.events {
            match decoded {
                Ok(event) => events.push((place, event)),
                Err(error) => {
                    let position = place.global_position;
                    if let Some(model) = (0..models).find(|model| wanted(*model, position)) {
                        return Err((model, position, error));
                    }
                }
            }
        }
        Ok(events)
    }
}

/// The pages of the log from a position up to a head, read and decoded one ahead of the writer
/// by a task of their own (besides the page being written, at most two are in memory: one
/// waiting in the channel, one being read); the task stops when this is dropped.
pub(crate) struct ReadAhead {
    pages: tokio::sync::mpsc::Receiver<Result<ReplayPage, StoreError>>,
    head: i64,
    /// Where the last page received ends.
    reached: i64,
    _reader: tokio_util::task::AbortOnDropHandle<()>,
}

impl ReadAhead {
    pub(crate) fn start(store: &Arc<dyn EventStore>, after: i64, head: i64, page_size: i64) -> Self {
        let (sender, pages) = tokio::sync::mpsc::channel(1);
        let store = Arc::clone(store);
        let reader = tokio::spawn(async move {
            let mut after = after;
            while after < head {
                let up_to = head.min(after.saturating_add(page_size));
                let page = ReplayPage::read(&*store, after, up_to).await;
                let read = page.is_ok();
                if sender.send(page).await.is_err() || !read {
                    return;
                }
                after = up_to;
            }
        });
        Self {
            pages,
            head,
            reached: after,
            _reader: tokio_util::task::AbortOnDropHandle::new(reader),
        }
    }

    /// The next page; `None` once the head is reached. A task that ended before the head (it
    /// panicked) is an error, not the end of the log: the swap would otherwise replay the rest
    /// of the log while it holds the checkpoints.
    pub(crate) async fn next(&mut self) -> Result<Option<ReplayPage>, ReadAheadError> {
        if self.reached >= self.head {
            return Ok(None);
        }
        match self.pages.recv().await {
            Some(Ok(page)) => {
                self.reached = page.up_to;
                Ok(Some(page))
            }
            Some(Err(error)) => Err(error.into()),
            None => Err(ReadAheadError::ReaderStopped),
        }
    }
}

/// Why [`ReadAhead::next`] has no page.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadAheadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task stopped before the head (it panicked).
    #[error("the task reading the log stopped before its end")]
    ReaderStopped,
}
