//! The sendmail command line: options, message handling, MDA delivery, queueing and relaying through the binary.

mod aliases;
mod cli;
mod differential;
mod mda;
mod mda_arguments;
mod memory;
mod message;
mod queue;
mod relay;
mod unusable_identity;
