pub mod collect;
pub mod protocol;
pub mod retry;
