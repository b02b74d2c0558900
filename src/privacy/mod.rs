//! Personal data, encrypted per owner and erased by deleting the owner's key
//! ("crypto-shredding").
//!
//! An event log is append-only, and a customer may ask to be forgotten. The two meet here: each
//! owner's personal fields (names, the texts people type into descriptions and reasons) are
//! stored only encrypted with a key of that owner's ([`DataKey`]), and that key is stored only
//! wrapped by a master key the service holds outside the database ([`MasterKey`]). Deleting the
//! owner's wrapped key makes every copy of their personal data in the database (events,
//! snapshots, read models) unreadable at once, while amounts, currencies, ids and times (what
//! the books need) stay in the clear and nothing in the log is rewritten. A backup taken before
//! the erasure still holds the wrapped key: it opens with the master key until that master key
//! is rotated away and destroyed, or the backup expires.
//!
//! - [`master_key`]: the master key's file, its id, and wrapping a data key for storage.
//! - [`seal`]: data keys, and the sealed form of a personal field (`pd1:{owner}:{base64url}`).
//! - [`keyring`]: the owners' wrapped keys in the database (`owner_keys`): made on first use,
//!   read for every answer that shows personal data, erased.
//!
//! Only [`keyring`] touches the database; the rest is pure but for the randomness of new keys
//! and the key file.

pub mod keyring;
pub mod master_key;
pub mod seal;

pub use keyring::{Erasure, Keyring, KeyringError, OwnerKey};
pub use master_key::{MasterKey, MasterKeyError, MasterKeys};
pub use seal::{DataKey, SealError, Sealed};
