//! kakunin-terminal: the clinic's 資格確認端末. Its patient kiosk follows the face-authentication
//! card reader's screens ①–⑥; its staff console replaces the vendor screens at reception.
//!
//! Invariant: [`kiosk`] is the whole kiosk flow as a pure state machine (no I/O, no clock): the
//! driver feeds it the patient's actions and the results of card and central operations, and
//! carries out the [`kiosk::Effect`]s it asks for. A PIN never leaves the machine except in the
//! one effect that verifies it on the card, and never appears on a screen.

pub mod batch;
pub mod camera;
pub mod card_helper;
pub mod face;
pub mod files;
pub mod http;
pub mod kiosk;
pub mod offline;
pub mod visit;
