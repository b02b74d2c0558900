//! The decider pattern: an aggregate as two pure functions.
//!
//! `decide(&state, command) -> Result<events, error>` checks invariants and says what happened;
//! `evolve(state, &event) -> state` applies one fact. Current state is a left fold of `evolve`
//! over the stream: `state = fold(evolve, initial, events)`. Because both are pure, replaying the
//! same events always rebuilds the same state, which is what makes the event log the truth.

/// An aggregate expressed as a decider.
pub trait Decider {
    type State;
    type Command;
    type Event;
    type Error;

    /// The state before the first event.
    fn initial_state() -> Self::State;

    /// Checks the command against the state and returns the events it causes.
    ///
    /// An `Err` means nothing happened: a rejected command never emits events.
    fn decide(state: &Self::State, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event. Must be total: every event ever recorded has to fold.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// `fold(evolve, initial, events)`.
    fn fold<'a, I>(events: I) -> Self::State
    where
        I: IntoIterator<Item = &'a Self::Event>,
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::initial_state(), Self::evolve)
    }
}
