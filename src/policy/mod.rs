//! Policies: reactions to one kind of event, each sending one command, with no state of their
//! own beyond their place in the log. This is choreography, what the course page calls a
//! saga: nobody coordinates; each participant reacts to the facts the others record.
//!
//! Compare [`crate::process::transfers`], a process manager (orchestration): it drives a
//! transfer through its steps, waits for each outcome and decides the next (credit, or refund
//! as compensation), and records its decisions on the transfer's own stream.
//!
//! [`overdraft_fees`] charges an account's overdraft fee each time its balance crosses below
//! zero.

pub mod overdraft_fees;

pub use overdraft_fees::OverdraftFeePolicy;
