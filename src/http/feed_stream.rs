//! `GET /events/stream`: the event log as Server-Sent Events, live, for other services.
//!
//! Each SSE event carries `id:` = the global position, `event:` = the event type and `data:` =
//! the same JSON as an item of `GET /events`. A stream starts after the position in the
//! `Last-Event-ID` header (what a reconnecting `EventSource` sends), else after `?after=`, else
//! at the first event of the log: a new subscriber misses nothing, and one that wants only new
//! events passes the head (`GET /projections`) as `after`.
//!
//! No gap, no duplicate: the stream reads the log with `read_all(after, batch)` and moves
//! `after` to each event it sends. Positions are gap-free and become visible in order (see
//! [`crate::store`]), so "the events after the last one sent" is exactly what the client lacks,
//! however appends interleave; a client that resumes from the last `id:` it received sees
//! every position once. When caught up, the stream waits for the head of the log to move (this
//! process announces its own appends at once, and PostgreSQL `NOTIFY` those of other
//! processes, through [`crate::follow::Followers`]) or for the poll interval, whichever comes
//! first, so appends that no notification reported are delivered too.
//!
//! Each open stream holds one of `max_streams` permits ([`EventStreams`]); one more subscriber
//! is answered `503 too-many-event-streams`. Idle streams carry a keep-alive comment every
//! `keep_alive`, which keeps proxies from closing them and lets clients notice a dead server.
//! Every stream ends when the server begins to shut down ([`EventStreams::close`]), so a
//! graceful shutdown does not wait for subscribers that never leave.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Caller, KeyStore};
use crate::http::AppState;
use crate::http::auth::Access;
use crate::http::auth::require_operator;
use crate::http::events::EventResponse;
use crate::http::extract::QueryParams;
use crate::http::feed::position_after;
use crate::http::personal;
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::responses::OperatorOnly;
use crate::privacy::{Keyring, KeyringError, OwnerKey};
use crate::query::EventLog;
use crate::store::chain::LinkedEvent;
use crate::telemetry::error_chain;

/// Events read from the log at a time.
const BATCH_SIZE: i64 = 500;

/// The header a reconnecting `EventSource` sends: the `id:` of the last event it received.
const LAST_EVENT_ID: &str = "last-event-id";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(event_stream))
}

/// How the event streams behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStreamSettings {
    /// Streams open at once; one more is answered `503 too-many-event-streams`.
    pub max_streams: usize,
    /// How long a stream may stay silent before it sends a keep-alive comment.
    pub keep_alive: Duration,
    /// How often a caught-up stream looks for new events when nothing woke it.
    pub poll_interval: Duration,
}

impl Default for EventStreamSettings {
    fn default() -> Self {
        EventStreamSettings {
            max_streams: 64,
            keep_alive: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The event streams of one server: the bound on how many are open, and the signal that
/// ends them all. Cheap to clone: clones share both.
#[derive(Debug, Clone)]
pub struct EventStreams {
    settings: EventStreamSettings,
    permits: Arc<Semaphore>,
    closing: CancellationToken,
}

impl EventStreams {
    /// Streams that end when `closing` is cancelled.
    pub fn new(settings: EventStreamSettings, closing: CancellationToken) -> Self {
        EventStreams {
            settings,
            permits: Arc::new(Semaphore::new(settings.max_streams)),
            closing,
        }
    }

    pub fn settings(&self) -> EventStreamSettings {
        self.settings
    }

    /// Ends every open stream (after the event in hand); streams opened later end at once.
    /// Call it when shutdown begins: a graceful shutdown waits for every response to end.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// A place for one more stream, or `503 too-many-event-streams`.
    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyEventStreams {
                limit: self.settings.max_streams,
            })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Start after this global position (default 0: from the first event). `Last-Event-ID`,
    /// when sent, takes precedence.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// One Server-Sent Event of `GET /events/stream`: the fields of the `text/event-stream`
/// format, one per line (`id: 42`, `event: MoneyDeposited`, `data: {...}`), then a blank line.
/// Lines starting with `:` are keep-alive comments.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "id": "42",
    "event": "MoneyDeposited",
    "data": "{\"event_id\":\"0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a13\",\"position\":42,\"stream_type\":\"account\",\"stream_id\":\"0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a10\",\"version\":2,\"type\":\"MoneyDeposited\",\"schema_version\":1,\"data\":{\"transaction_id\":\"0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a12\",\"amount\":2500,\"currency\":\"EUR\",\"description\":\"salary\",\"occurred_at\":\"2026-11-27T09:30:00Z\"},\"metadata\":{\"correlation_id\":\"0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a14\",\"causation_id\":\"0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a15\",\"command\":\"Deposit\",\"key_id\":\"0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a16\"},\"occurred_at\":\"2026-11-27T09:30:00Z\",\"recorded_at\":\"2026-11-27T09:30:00.001Z\"}"
}))]
pub struct StreamedEvent {
    /// The event's global position. Send the last one received as `Last-Event-ID` to resume
    /// right after it (an `EventSource` does so by itself when it reconnects).
    #[schema(pattern = "^[0-9]+$")]
    pub id: String,
    /// The event's type, e.g. `MoneyDeposited`.
    pub event: String,
    /// The event as JSON, exactly as an item of `events` in `GET /events` (`EventResponse`).
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

#[utoipa::path(
    get,
    path = "/events/stream",
    tag = "feed",
    summary = "The event log, live (Server-Sent Events)",
    description = "Every event of every stream in global position order as Server-Sent Events \
        (`text/event-stream`), then each new event as it is appended; the response does not end \
        until the client leaves or the server shuts down. `id:` is the global position, `event:` \
        the event type, `data:` the event as JSON (as in `GET /events`). Starts after \
        `Last-Event-ID` (sent by a reconnecting `EventSource`), else after `after`, else at the \
        first event: resuming from the last `id:` received sees every later event exactly once. \
        A comment line (`:`) is sent when the stream has been idle for the keep-alive interval \
        (15 s by default). Needs an operator key; at most `--max-event-streams` streams are open \
        at once.",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this global position (a non-negative integer): the `id:` of the last event received"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "An endless stream of events, oldest first", body = StreamedEvent, content_type = "text/event-stream"),
        (status = 400, description = "`after` or `Last-Event-ID` not a non-negative integer (`malformed-request`, `validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "As many event streams are open as allowed (`too-many-event-streams`): retry after `Retry-After` seconds", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn event_stream(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    QueryParams(params): QueryParams<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    require_operator(caller)?;
    let after = match last_event_id(&headers)? {
        Some(position) => position,
        None => position_after(params.after)?,
    };
    let streams = app.event_streams.clone();
    let permit = streams.admit()?;
    let settings = streams.settings();
    tracing::info!(after, "event stream opened");
    let subscription = Subscription {
        caller: Authority {
            caller,
            keys: app.keys.clone(),
            access: app.access.clone(),
            checked: Instant::now(),
            every: settings.keep_alive,
        },
        log: app.log.clone(),
        keyring: app.keyring.clone(),
        keys: (Instant::now(), HashMap::new()),
        after,
        pending: VecDeque::new(),
        head: app.followers.head_changes(),
        poll_interval: settings.poll_interval,
        closing: streams.closing.clone(),
        _permit: permit,
    };
    let events = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let event = subscription.next().await?;
        Some((Ok(event), subscription))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(settings.keep_alive)))
}

/// The position in `Last-Event-ID`, if the header is present and not empty (an `EventSource`
/// whose last event had an empty id sends none).
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(None);
    };
    let value = value.to_str().map(str::trim).unwrap_or("?");
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|position| *position >= 0)
        .map(Some)
        .ok_or_else(|| {
            InvalidParam::new(
                "Last-Event-ID",
                "must be a global position (an integer, 0 or more)",
            )
            .into()
        })
}

/// Whether the subscriber may still read the log: its key may be revoked (or local development
/// mode may end) while the stream is open.
struct Authority {
    caller: Caller,
    keys: KeyStore,
    access: Access,
    /// When the caller was last found allowed.
    checked: Instant,
    /// Checked at least this often while the stream is idle (the keep-alive interval).
    every: Duration,
}

impl Authority {
    /// Asks again whether the caller may read; `false` also when that cannot be told.
    async fn still_allowed(&mut self) -> bool {
        let allowed = match self.caller.key_id() {
            Some(key_id) => self.keys.is_live(key_id).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot check the event stream's key; ending the stream");
                false
            }),
            None => self.access.keyless_allowed().await,
        };
        if allowed {
            self.checked = Instant::now();
        } else {
            tracing::info!(key_id = ?self.caller.key_id(), "event stream ended: its key no longer holds");
        }
        allowed
    }

    fn due(&self) -> bool {
        self.checked.elapsed() >= self.every
    }
}

/// One subscriber's place in the log.
struct Subscription {
    caller: Authority,
    log: EventLog,
    /// Opens the personal fields of each event (see `crate::http::personal`).
    keyring: Keyring,
    /// The owners' keys last read, and when: an event is opened with keys at most
    /// [`KEY_FRESHNESS`] old, so an erasure reaches a slow subscriber's queue too.
    keys: (Instant, HashMap<Uuid, OwnerKey>),
    /// The position of the last event sent (or the starting point).
    after: i64,
    /// Events read but not sent yet, in position order, their personal fields still sealed.
    pending: VecDeque<ShownEvent>,
    /// Changes whenever this process learns that the log has grown.
    head: watch::Receiver<i64>,
    poll_interval: Duration,
    closing: CancellationToken,
    /// Held while the stream is open: dropped with it when the client leaves.
    _permit: OwnedSemaphorePermit,
}

impl Subscription {
    /// The next event after `after`, waiting for one if needed; `None` once the server closes
    /// the streams.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.closing.is_cancelled() {
                return None;
            }
            if let Some(mut event) = self.pending.pop_front() {
                if let Err(error) = self.open(&mut event).await {
                    // The client keeps its place; the stream goes on when the database is back.
                    tracing::warn!(error = %error_chain(&error), after = self.after, "event stream cannot read the owners' keys; retrying");
                    self.pending.push_front(event);
                    self.pause(self.poll_interval).await?;
                    continue;
                }
                self.after = event.position;
                return Some(event.into_sse());
            }
            // Seen before reading, so that an append announced during the read still ends the
            // wait below.
            self.head.borrow_and_update();
            let read = tokio::select! {
                () = self.closing.cancelled() => return None,
                read = self.log.events_after(self.after, BATCH_SIZE) => read,
            };
            match read {
                Ok(events) if !events.is_empty() => {
                    // The key is asked about with the batch in hand: nothing appended after a
                    // revocation is sent.
                    if !self.caller.still_allowed().await {
                        return None;
                    }
                    self.pending = events.into_iter().map(ShownEvent::from).collect();
                }
                Ok(_) => {
                    if self.caller.due() && !self.caller.still_allowed().await {
                        return None;
                    }
                    self.wait_for_appends().await?;
                }
                Err(error) => {
                    // The client keeps its place; the stream goes on when the database is back.
                    tracing::warn!(error = %error_chain(&error), after = self.after, "event stream cannot read the log; retrying");
                    self.pause(self.poll_interval).await?;
                }
            }
        }
    }

    /// Opens `event`'s personal fields, with the keys read for the events in hand unless those
    /// are older than [`KEY_FRESHNESS`] or lack one of its owners.
    async fn open(&mut self, event: &mut ShownEvent) -> Result<(), KeyringError> {
        let owners = personal::owners_in(&event.data);
        if owners.is_empty() {
            return Ok(());
        }
        let (read_at, keys) = &self.keys;
        if read_at.elapsed() > KEY_FRESHNESS || !owners.iter().all(|owner| keys.contains_key(owner)) {
            let mut wanted = owners;
            for pending in &self.pending {
                wanted.extend(personal::owners_in(&pending.data));
            }
            self.keys = (Instant::now(), self.keyring.opening_keys(&wanted).await?);
        }
        personal::open_with(&mut event.data, &self.keys.1);
        Ok(())
    }

    /// Waits until the head moves or the poll interval passes; `None` when closing.
    async fn wait_for_appends(&mut self) -> Option<()> {
        tokio::select! {
            () = self.closing.cancelled() => None,
            changed = self.head.changed() => match changed {
                Ok(()) => Some(()),
                // No one announces appends any more: polling alone remains.
                Err(_) => self.pause(self.poll_interval).await,
            },
            () = tokio::time::sleep(self.poll_interval) => Some(()),
        }
    }

    /// Sleeps for `pause`; `None` when closing.
    async fn pause(&self, pause: Duration) -> Option<()> {
        tokio::select! {
            () = self.closing.cancelled() => None,
            () = tokio::time::sleep(pause) => Some(()),
        }
    }
}

/// How old the owners' keys an event is opened with may be: an erasure reaches every stream
/// within this long, however far behind its subscriber reads.
const KEY_FRESHNESS: Duration = Duration::from_secs(1);

/// An event as a subscriber is sent it: as `GET /events` shows it, personal fields opened.
struct ShownEvent {
    position: i64,
    event_type: String,
    data: Value,
}

impl From<LinkedEvent> for ShownEvent {
    fn from(event: LinkedEvent) -> Self {
        ShownEvent {
            position: event.event.global_position,
            event_type: event.event.event_type.clone(),
            // Cannot fail: every field is a string, a number, a UUID, an instant or JSON already.
            data: serde_json::to_value(EventResponse::from(event)).unwrap_or_default(),
        }
    }
}

impl ShownEvent {
    /// `id:` = position, `event:` = type, `data:` = the event as `GET /events` shows it.
    fn into_sse(self) -> Event {
        let data = serde_json::to_string(&self.data).unwrap_or_else(|_| "null".into());
        let sse = Event::default().id(self.position.to_string()).data(data);
        // A line break would end the field early (axum refuses one); types never contain any.
        if self.event_type.contains(['\n', '\r']) {
            sse
        } else {
            sse.event(self.event_type)
        }
    }
}
