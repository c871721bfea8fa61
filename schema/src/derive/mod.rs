//! Derived figures: computed from the records and the catalog, never stored.

pub mod compliance;
pub mod gaps;
pub mod late;
pub mod score;

#[cfg(test)]
mod tests;
