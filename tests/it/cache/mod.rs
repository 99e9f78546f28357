//! The compiled-plan cache seen through the command line.

mod cli;
