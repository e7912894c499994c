//! Data preparation for the bundled example models.
