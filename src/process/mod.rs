//! Process managers: long-running processes that react to events by sending commands.
//!
//! Two accounts are two aggregates, and one command changes one aggregate; a transfer therefore
//! cannot be one transaction. It is a process across several: debit the source, then credit the
//! destination, or refund the source when the destination refuses (compensation).
//! [`transfers`] orchestrates it, driven by the event log with its own checkpoint, so it
//! survives crashes: whatever was debited and not yet settled is settled after a restart.
//! [`expiry`] acts on time instead of on events: it sends `ExpireHold` once a hold's deadline,
//! recorded in the log, has passed. [`checkpoints`] signs the hash chain's head now and then.
//! Each of the last two runs in one process at a time ([`led`]).

pub mod checkpoints;
pub mod expiry;
pub mod led;
pub mod transfers;

pub use checkpoints::CheckpointSigner;
pub use expiry::HoldExpiry;
pub use transfers::TransferProcess;
