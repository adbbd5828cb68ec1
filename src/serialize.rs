//! Feature `serde`: the value types in JSON answers and configuration files.
//!
//! Plain shapes are derived where they are declared ([`Timestamp`] and [`KeyId`] as bare
//! numbers, [`VerifierBudget`] as an object, [`Outcome`] and [`Earlier`] serialized as
//! tagged objects). This module holds what needs a check or must work without an allocator:
//! reading tagged outcomes back (serde's derive buffers tagged enums on the heap), digits as
//! their count, policies through their checked setters, and ids through their length check.
//!
//! Outcomes are tagged objects read back as maps: that needs a self-describing format (JSON,
//! CBOR, MessagePack, YAML), as every internally tagged serde enum does. Policies, digits,
//! timestamps and key ids round-trip in any format.
//!
//! [`Timestamp`]: crate::Timestamp
//! [`KeyId`]: crate::KeyId

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::code::Digits;
use crate::outcome::Outcome;
use crate::policy::{Policy, VerifierBudget};
use crate::record::Earlier;
use crate::time::Timestamp;

/// The fields an outcome or an earlier answer may have.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Outcome,
    Answer,
    AttemptsLeft,
    Until,
    ByOverride,
}

/// The names in an outcome's `"outcome"` field.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Name {
    Accepted,
    Rejected,
    Replayed,
    Locked,
    Expired,
    AlreadyRedeemed,
    Revoked,
    UnknownBooking,
    VerifierSuspended,
}

/// The names in an earlier answer's `"answer"` field.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AnswerName {
    Accepted,
    Rejected,
    Overridden,
}

/// Every field read, each at most once, in any order.
#[derive(Default)]
struct Fields {
    outcome: Option<Name>,
    answer: Option<AnswerName>,
    attempts_left: Option<u8>,
    until: Option<Timestamp>,
    by_override: Option<bool>,
}

impl Fields {
    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut fields = Self::default();
        while let Some(field) = map.next_key::<Field>()? {
            let fresh = match field {
                Field::Outcome => fields.outcome.replace(map.next_value()?).is_none(),
                Field::Answer => fields.answer.replace(map.next_value()?).is_none(),
                Field::AttemptsLeft => fields.attempts_left.replace(map.next_value()?).is_none(),
                Field::Until => fields.until.replace(map.next_value()?).is_none(),
                Field::ByOverride => fields.by_override.replace(map.next_value()?).is_none(),
            };
            if !fresh {
                return Err(de::Error::custom("a field appears twice"));
            }
        }
        Ok(fields)
    }

    /// The earlier answer these fields name; `attempts_left` only with `rejected`.
    fn earlier<E: de::Error>(&self) -> Result<Earlier, E> {
        match (self.answer, self.attempts_left) {
            (Some(AnswerName::Accepted), None) => Ok(Earlier::Accepted),
            (Some(AnswerName::Overridden), None) => Ok(Earlier::Overridden),
            (Some(AnswerName::Rejected), Some(attempts_left)) => {
                Ok(Earlier::Rejected { attempts_left })
            }
            (None, _) => Err(E::missing_field("answer")),
            (Some(AnswerName::Accepted | AnswerName::Overridden), Some(_)) => {
                Err(E::custom("attempts_left belongs to a rejected answer only"))
            }
            (Some(AnswerName::Rejected), None) => Err(E::missing_field("attempts_left")),
        }
    }

    fn outcome<E: de::Error>(&self) -> Result<Outcome, E> {
        let name = self.outcome.ok_or_else(|| E::missing_field("outcome"))?;
        let only = |allowed: (bool, bool, bool)| {
            let given = (
                self.answer.is_some(),
                self.attempts_left.is_some(),
                self.until.is_some(),
            );
            let stray = (given.0 && !allowed.0)
                || (given.1 && !allowed.1)
                || (given.2 && !allowed.2)
                || (self.by_override.is_some() && name != Name::AlreadyRedeemed);
            if stray {
                Err(E::custom("a field that does not belong to this outcome"))
            } else {
                Ok(())
            }
        };
        match name {
            Name::Rejected => {
                only((false, true, false))?;
                let attempts_left = self
                    .attempts_left
                    .ok_or_else(|| E::missing_field("attempts_left"))?;
                Ok(Outcome::Rejected { attempts_left })
            }
            Name::Replayed => {
                only((true, true, false))?;
                self.earlier().map(Outcome::Replayed)
            }
            Name::VerifierSuspended => {
                only((false, false, true))?;
                let until = self.until.ok_or_else(|| E::missing_field("until"))?;
                Ok(Outcome::VerifierSuspended { until })
            }
            Name::Accepted => only((false, false, false)).map(|()| Outcome::Accepted),
            Name::Locked => only((false, false, false)).map(|()| Outcome::Locked),
            Name::Expired => only((false, false, false)).map(|()| Outcome::Expired),
            Name::AlreadyRedeemed => {
                only((false, false, false))?;
                let by_override = self
                    .by_override
                    .ok_or_else(|| E::missing_field("by_override"))?;
                Ok(Outcome::AlreadyRedeemed { by_override })
            }
            Name::Revoked => only((false, false, false)).map(|()| Outcome::Revoked),
            Name::UnknownBooking => only((false, false, false)).map(|()| Outcome::UnknownBooking),
        }
    }
}

/// A value made of the fields of a tagged object.
trait FromFields: Sized {
    /// What the object must look like, for error messages.
    const EXPECTING: &'static str;

    fn from_fields<E: de::Error>(fields: &Fields) -> Result<Self, E>;
}

impl FromFields for Outcome {
    const EXPECTING: &'static str = "an object with an \"outcome\" field";

    fn from_fields<E: de::Error>(fields: &Fields) -> Result<Self, E> {
        fields.outcome()
    }
}

impl FromFields for Earlier {
    const EXPECTING: &'static str = "an object with an \"answer\" field";

    fn from_fields<E: de::Error>(fields: &Fields) -> Result<Self, E> {
        if fields.outcome.is_some() || fields.until.is_some() || fields.by_override.is_some() {
            return Err(E::custom(
                "a field that does not belong to an earlier answer",
            ));
        }
        fields.earlier()
    }
}

/// Reads a tagged object into `Fields`, then makes a `T` of them.
struct Tagged<T>(PhantomData<T>);

impl<'de, T: FromFields> Visitor<'de> for Tagged<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_fields(&Fields::read(map)?)
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Tagged(PhantomData))
    }
}

impl<'de> Deserialize<'de> for Earlier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Tagged(PhantomData))
    }
}

/// Digits as their count: `4`, `5` or `6`.
impl Serialize for Digits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.count())
    }
}

impl<'de> Deserialize<'de> for Digits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let count = u8::deserialize(d)?;
        Self::from_count(count).ok_or_else(|| {
            de::Error::invalid_value(de::Unexpected::Unsigned(count.into()), &"4, 5 or 6")
        })
    }
}

/// A policy's settings as they are read back: `digits` is required, the rest default as
/// [`Policy::new`] sets them. The fields and their types are the ones `Serialize` writes, so
/// a round trip also holds in formats that do not describe themselves (postcard, bincode).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    digits: Digits,
    #[serde(default = "default_attempts")]
    attempts: u8,
    #[serde(default)]
    lifetime_cap: Option<u16>,
    #[serde(default)]
    verifier_budget: Option<VerifierBudget>,
    #[serde(default = "default_sends")]
    sends: u8,
    #[serde(default = "default_send_window")]
    send_window_secs: u32,
    #[serde(default = "default_retries")]
    max_retries: u8,
    #[serde(default)]
    overrides: crate::policy::Overrides,
    #[serde(default = "default_clock_skew")]
    clock_skew_secs: u16,
}

const fn default_attempts() -> u8 {
    Policy::DEFAULT_ATTEMPTS
}

const fn default_sends() -> u8 {
    Policy::DEFAULT_SENDS
}

const fn default_send_window() -> u32 {
    Policy::DEFAULT_SEND_WINDOW
}

const fn default_retries() -> u8 {
    Policy::DEFAULT_RETRIES
}

const fn default_clock_skew() -> u16 {
    Policy::DEFAULT_CLOCK_SKEW
}

impl Settings {
    /// The policy, through the same setters as in code, attempts before the lifetime cap
    /// it is checked against.
    fn policy(self) -> Result<Policy, crate::error::Error> {
        let mut policy = Policy::new(self.digits).with_attempts(self.attempts)?;
        if let Some(cap) = self.lifetime_cap {
            policy = policy.with_lifetime_cap(cap)?;
        }
        if let Some(budget) = self.verifier_budget {
            policy =
                policy.with_verifier_budget(budget.failures.get(), budget.window_secs.get())?;
        }
        Ok(policy
            .with_send_limit(self.sends, self.send_window_secs)?
            .with_max_retries(self.max_retries)?
            .with_clock_skew(self.clock_skew_secs)?
            .with_overrides(self.overrides))
    }
}

/// Every setting, `lifetime_cap` as `null` while it follows the attempts (3 × attempts).
impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (sends, window) = self.send_limit();
        let mut out = s.serialize_struct("Policy", 9)?;
        out.serialize_field("digits", &self.digits())?;
        out.serialize_field("attempts", &self.attempts())?;
        out.serialize_field("lifetime_cap", &self.explicit_lifetime_cap())?;
        out.serialize_field("verifier_budget", &self.budget())?;
        out.serialize_field("sends", &sends)?;
        out.serialize_field("send_window_secs", &window)?;
        out.serialize_field("max_retries", &self.max_retries())?;
        out.serialize_field("overrides", &self.overrides())?;
        out.serialize_field("clock_skew_secs", &self.clock_skew())?;
        out.end()
    }
}

/// Read through the same checked setters as in code: a policy out of range is an error
/// that names the setting, never a `Policy` that breaks its bounds.
impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Settings::deserialize(d)?
            .policy()
            .map_err(de::Error::custom)
    }
}
