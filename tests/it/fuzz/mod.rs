//! The fuzz targets replayed on their kept corpus and findings.

mod corpus;
mod findings;
