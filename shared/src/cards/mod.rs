//! The five cards, and a delivery's body to the card's events. Pure: no HTTP, no AWS, no runtime.

mod card;
mod delivery;
#[cfg(test)]
mod schema;

pub use card::{
    card_for, Card, DebugContextOut, DeliveryInfo, Detail, Extra, ExtraOut, Factor, Person,
    PersonKey, PersonOut, CARDS, MFA_PREREGISTRATION_INITIATED, PHONE_VERIFICATION_CALL_SENT,
    USER_MFA_FACTOR_ACTIVATED, USER_MFA_FACTOR_DEACTIVATED, USER_MFA_FACTOR_RESET_ALL,
};
pub use delivery::{map_delivery, BodyError, CardEvent, Mapped, MAX_DEPTH, MAX_IGNORED_TYPES};
