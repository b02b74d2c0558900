//! A command's domain events as the log stores them.

use crate::clock::IdGenerator;
use crate::store::{NewEvent, StreamAppend, codec};

use super::Aggregate;

/// Turns a command's events into the log's envelopes: a fresh id each, the event's type and
/// schema version, and the command's metadata (who sent it, in answer to which request).
pub(super) struct Encoder<'a> {
    pub(super) ids: &'a dyn IdGenerator,
    pub(super) metadata: serde_json::Value,
}

impl Encoder<'_> {
    /// `events` for stream `id` of `A`, expected at `expected_version`.
    pub(super) fn stream<A: Aggregate>(
        &self,
        id: A::Id,
        expected_version: i64,
        events: &[A::Event],
    ) -> Result<StreamAppend, serde_json::Error> {
        Ok(StreamAppend {
            stream_type: A::STREAM_TYPE.to_owned(),
            stream_id: A::stream_id(id),
            expected_version,
            events: events
                .iter()
                .map(|event| self.event::<A>(event))
                .collect::<Result<_, _>>()?,
        })
    }

    fn event<A: Aggregate>(&self, event: &A::Event) -> Result<NewEvent, serde_json::Error> {
        let (event_type, payload) = codec::encode(event)?;
        Ok(NewEvent {
            event_id: self.ids.new_id(),
            schema_version: codec::current_schema_version(&event_type),
            event_type,
            payload,
            metadata: self.metadata.clone(),
            occurred_at: A::occurred_at(event),
        })
    }
}
