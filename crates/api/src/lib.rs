//! The central API's wire types.
//!
//! Invariant: this is the only crate that knows the JSON shapes. Field names are snake_case
//! mirrors of the OQS XML elements (`InsuredPartialContributionRatio` → `copay_ratio`), every
//! code is a string, and conversions to and from domain types are explicit functions here.

#[cfg(feature = "client")]
pub mod client;
mod convert;
mod dto;
mod emergency;
mod medical;
mod ops;
mod reception;
mod signing;

pub use convert::*;
pub use dto::*;
pub use emergency::*;
pub use medical::*;
pub use ops::*;
pub use reception::*;
pub use signing::*;
