//! Hostile cases: see main.rs. (Filled by the room's owner.)
