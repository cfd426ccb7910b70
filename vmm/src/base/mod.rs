//! The bottom layer: addresses and page numbers, errno values, limits, the plain types every
//! layer shares, and the two bounded records (the call log and the event history). Nothing here
//! imports another folder.

pub mod addr;
pub mod calllog;
pub mod errno;
pub mod events;
pub mod limits;
pub mod types;
