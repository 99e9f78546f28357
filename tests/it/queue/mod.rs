//! The durable queue: its store, delivery, crashes, damage, ownership and its command line.

mod cli;
mod crash;
mod damaged;
mod delivery;
mod exim;
mod owner;
mod store;
