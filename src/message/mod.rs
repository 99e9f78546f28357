//! The message: one scan of the header block, the header policy (SPEC §4),
//! and the spool that holds the normalised message while it is delivered.
//!
//! Only the header block is held in memory (bounded by [`MAX_HEADER_BYTES`]).
//! The body streams from standard input into the spool (memory up to
//! [`SPOOL_MEMORY_LIMIT`], then an anonymous temporary file), normalised on
//! the way; 8-bit bytes, NUL bytes and the size are noted as it passes. The
//! SMTP transport and the queue read the spool's CRLF view (not
//! dot-stuffed); the MDA reads its LF view. A large message that is already
//! a regular file and goes to the smarthost alone skips the spool: it is
//! sent as it is read, through [`NulChecked`].

pub mod address;
pub mod headers;
pub mod line_ends;
pub mod render;
pub mod spool;

pub use address::{format_mailbox, parse_address_list, Mailbox};
pub use headers::{read_headers, Field, Headers, MAX_HEADER_BYTES};
pub use line_ends::{LineEnds, Stuffer};
pub use render::{check_header_text, render_headers, HeaderPolicy};
pub use spool::{
    stdin_file_remaining, CrlfReader, LfReader, NulChecked, ReadAt, Spooled, SpooledReader,
    StoredReader, SPOOL_MEMORY_LIMIT,
};

#[cfg(test)]
mod tests;
