//! A decision on a second stream, appended in the same transaction as the command's own.
//!
//! Some decisions must change two streams at once or not at all: a transfer's debit and the
//! transfer's record that it was requested, a credit and the record that the transfer settled.
//! The command names the second stream's aggregate, its id and the command to decide there;
//! the pipeline loads that stream, decides, and adds its events to the same append with their
//! own expected version. Whichever of two racing writers appends first wins; the other's append
//! conflicts, and it decides again on what the winner recorded.

use std::sync::Arc;

use super::encode::Encoder;
use super::{Aggregate, CommandError, Stamp, load};
use crate::store::{EventStore, StreamAppend};

/// Another stream's command, decided with the command that carries it.
#[derive(Clone)]
pub struct Companion {
    decision: Arc<dyn Decide>,
}

impl std::fmt::Debug for Companion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Companion")
            .field("stream_type", &self.decision.stream_type())
            .finish_non_exhaustive()
    }
}

impl Companion {
    /// The command `build` makes from the carrying command's stamp, on stream `id` of `B`.
    pub fn new<B, F>(id: B::Id, build: F) -> Self
    where
        B: Aggregate,
        F: Fn(&Stamp) -> B::Command + Send + Sync + 'static,
    {
        Companion {
            decision: Arc::new(OnStream::<B, F> { id, build }),
        }
    }

    /// The other stream's events for this attempt, at the version they expect (`None`:
    /// nothing to add, such as a repeat of what is recorded). Refusals are the aggregate's.
    pub(super) async fn decide(
        &self,
        store: &dyn EventStore,
        stamp: &Stamp,
        encoder: &Encoder<'_>,
    ) -> Result<Option<StreamAppend>, CommandError> {
        self.decision.decide(store, stamp, encoder).await
    }
}

#[async_trait::async_trait]
trait Decide: Send + Sync {
    fn stream_type(&self) -> &'static str;

    async fn decide(
        &self,
        store: &dyn EventStore,
        stamp: &Stamp,
        encoder: &Encoder<'_>,
    ) -> Result<Option<StreamAppend>, CommandError>;
}

struct OnStream<B: Aggregate, F> {
    id: B::Id,
    build: F,
}

#[async_trait::async_trait]
impl<B, F> Decide for OnStream<B, F>
where
    B: Aggregate,
    F: Fn(&Stamp) -> B::Command + Send + Sync + 'static,
{
    fn stream_type(&self) -> &'static str {
        B::STREAM_TYPE
    }

    async fn decide(
        &self,
        store: &dyn EventStore,
        stamp: &Stamp,
        encoder: &Encoder<'_>,
    ) -> Result<Option<StreamAppend>, CommandError> {
        let loaded = load::load::<B>(store, self.id).await?;
        let events =
            B::decide(&loaded.state, (self.build)(stamp)).map_err(|refusal| B::refused(self.id, refusal))?;
        if events.is_empty() {
            return Ok(None);
        }
        Ok(Some(encoder.stream::<B>(self.id, loaded.version, &events)?))
    }
}
