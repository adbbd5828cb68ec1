//! Who asks for an override and why: [`Override`], [`Reason`].

use crate::error::Error;
use crate::ids::{ActorId, VerifierId};

/// Why a booking was handed over without a code: a small closed set, so overrides can be
/// counted and reviewed by reason. Say more in the override's note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Reason {
    /// The person has no phone (common at vaccination camps).
    NoPhone,
    /// The SMS never arrived.
    NotReceived,
    /// The person has a phone but cannot reach the code (lost, dead battery, no signal).
    CannotAccess,
    /// Anything else: the note says what.
    Other,
}

impl Reason {
    /// Every reason, in the order of their numbers.
    pub const ALL: [Self; 4] = [
        Self::NoPhone,
        Self::NotReceived,
        Self::CannotAccess,
        Self::Other,
    ];

    /// The reason's name, as stored and logged: `no_phone`, `not_received`,
    /// `cannot_access`, `other`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoPhone => "no_phone",
            Self::NotReceived => "not_received",
            Self::CannotAccess => "cannot_access",
            Self::Other => "other",
        }
    }

    /// The reason [`Reason::name`] gives `name`, read back (from a log, a form, a query
    /// string); `None` for any other text. With feature `serde` a reason also reads back
    /// from its JSON, the same name as a string.
    ///
    /// ```
    /// use handover_code::audit::Reason;
    ///
    /// assert_eq!(Reason::from_name("not_received"), Some(Reason::NotReceived));
    /// assert!(Reason::ALL.iter().all(|r| Reason::from_name(r.name()) == Some(*r)));
    /// assert_eq!(Reason::from_name("NoPhone"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The reason's number, as stored in an audit entry's detail: 0 to 3.
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::NoPhone => 0,
            Self::NotReceived => 1,
            Self::CannotAccess => 2,
            Self::Other => 3,
        }
    }

    /// The reason with this number.
    #[must_use]
    pub const fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::NoPhone),
            1 => Some(Self::NotReceived),
            2 => Some(Self::CannotAccess),
            3 => Some(Self::Other),
            _ => None,
        }
    }
}

/// An override's evidence: who overrides, why, and a free-text note (at most
/// [`Override::MAX_NOTE_LEN`] bytes). The note goes into the audit log as it is: never put
/// a code in it.
///
/// ```
/// use handover_code::ActorId;
/// use handover_code::audit::{Override, Reason};
///
/// let supervisor = ActorId::new("supervisor-3")?;
/// let why = Override::new(supervisor, Reason::NoPhone, "elderly, came with her son; Aadhaar seen")?;
/// assert_eq!(why.reason(), Reason::NoPhone);
/// assert!(Override::new(supervisor, Reason::Other, &"x".repeat(201)).is_err());
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Override<'a> {
    actor: ActorId<'a>,
    reason: Reason,
    note: &'a str,
}

impl<'a> Override<'a> {
    /// The longest note, in bytes.
    pub const MAX_NOTE_LEN: usize = 200;

    /// An override by `actor` for `reason`, with a note.
    ///
    /// # Errors
    ///
    /// [`Error::NoteLength`] when the note is longer than [`Override::MAX_NOTE_LEN`].
    pub const fn new(actor: ActorId<'a>, reason: Reason, note: &'a str) -> Result<Self, Error> {
        if note.len() > Self::MAX_NOTE_LEN {
            return Err(Error::NoteLength);
        }
        Ok(Self {
            actor,
            reason,
            note,
        })
    }

    /// Who overrides.
    #[must_use]
    pub const fn actor(&self) -> ActorId<'a> {
        self.actor
    }

    /// Why.
    #[must_use]
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// The note.
    #[must_use]
    pub const fn note(&self) -> &'a str {
        self.note
    }
}

/// Who is verifying, and under which request: the optional parts of
/// [`Service::verify`](crate::Service::verify).
///
/// A verifier (the vaccinator, the postman's device) pays for wrong codes from its failure
/// budget when the policy has one. A request id makes a retry after a timeout get the
/// original answer again ([`Outcome::Replayed`](crate::Outcome::Replayed)) instead of
/// counting twice: give each verification its own id and reuse it only to retry that one.
///
/// Anything that names a verifier converts into an attempt: a `&str`, a
/// [`VerifierId`](crate::VerifierId), an `Option` of one (`None` is nobody in particular).
/// The ids are checked when the verification runs, before anything is read:
/// [`Error::VerifierIdLength`] or [`Error::RequestIdLength`], nothing counted.
///
/// ```
/// use handover_code::Attempt;
///
/// let anyone = Attempt::default();
/// let postman = Attempt::by("postman-7");
/// let retryable = Attempt::by("postman-7").request("req-42");
/// assert_ne!(anyone, postman);
/// assert_eq!(Attempt::from("postman-7"), postman);
/// # let _ = retryable;
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attempt<'a> {
    pub(crate) verifier: Option<&'a [u8]>,
    pub(crate) request: Option<&'a [u8]>,
}

impl<'a> Attempt<'a> {
    /// How long after a verification a retry of it is answered as a replay: 15 minutes, ample for
    /// a client's timeout and retry. Later, the same request id is a new verification.
    pub const REPLAY_SECS: u64 = 900;

    /// An attempt by `verifier`, whose budget pays for its wrong codes.
    #[must_use]
    pub fn by<V: AsRef<[u8]> + ?Sized>(verifier: &'a V) -> Self {
        Self {
            verifier: Some(verifier.as_ref()),
            request: None,
        }
    }

    /// The same attempt under a request id, so that a retry is answered, not counted again.
    #[must_use]
    pub fn request<R: AsRef<[u8]> + ?Sized>(self, request: &'a R) -> Self {
        Self {
            request: Some(request.as_ref()),
            ..self
        }
    }
}

/// Ids print as their length only, like the ids themselves.
impl core::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Attempt")
            .field("verifier", &self.verifier.map(<[u8]>::len))
            .field("request", &self.request.map(<[u8]>::len))
            .finish()
    }
}

impl<'a> From<&'a str> for Attempt<'a> {
    fn from(verifier: &'a str) -> Self {
        Self::by(verifier)
    }
}

#[cfg(feature = "std")]
impl<'a> From<&'a std::string::String> for Attempt<'a> {
    fn from(verifier: &'a std::string::String) -> Self {
        Self::by(verifier)
    }
}

impl<'a> From<VerifierId<'a>> for Attempt<'a> {
    fn from(verifier: VerifierId<'a>) -> Self {
        Self::by(verifier.as_bytes())
    }
}

impl<'a> From<Option<VerifierId<'a>>> for Attempt<'a> {
    fn from(verifier: Option<VerifierId<'a>>) -> Self {
        verifier.map_or_else(Self::default, Self::from)
    }
}
