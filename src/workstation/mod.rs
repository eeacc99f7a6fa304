//! The operator's workstation: what belongs to the machine in front of the operator rather than to the site —
//! the alarm horn ([`annunciator`], [`sound`]) and the windows' layouts ([`layout`]), kept in the data dir.

pub mod annunciator;
pub mod layout;
pub mod sound;
