//! 資格有効性 (`QualificationValidity`, OQSCD006) as of a date.

use crate::date::Date;
use crate::qualification::Qualification;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    /// 1 有効.
    Valid,
    /// 2 無効.
    Invalid,
    /// 3 無効（新しい資格あり）: lost, and the same person holds a newer qualification.
    /// Needs person links (the card issue); number-based checks never produce it yet.
    InvalidNewerExists,
    /// 4 該当資格なし.
    NotFound,
    /// 5 複数該当.
    Multiple,
}

impl Validity {
    pub fn code(self) -> &'static str {
        match self {
            Self::Valid => "1",
            Self::Invalid => "2",
            Self::InvalidNewerExists => "3",
            Self::NotFound => "4",
            Self::Multiple => "5",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Valid => "有効",
            Self::Invalid => "無効",
            Self::InvalidNewerExists => "無効（新しい資格あり）",
            Self::NotFound => "該当資格なし",
            Self::Multiple => "複数該当",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "1" => Self::Valid,
            "2" => Self::Invalid,
            "3" => Self::InvalidNewerExists,
            "4" => Self::NotFound,
            "5" => Self::Multiple,
            _ => return None,
        })
    }
}

/// A qualification that matched the query, with what person links know about it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub qualification: &'a Qualification,
    /// The same person has a qualification acquired after this one (from person links).
    pub newer_exists: bool,
}

/// Validity of the qualifications that matched a query (card identity and birth date), on `on`.
///
/// No match is 4; more than one person matching (a branch omitted in a family with twins) is 5;
/// one match is 1 when in effect on `on`, else 3 when the person has a newer qualification,
/// else 2.
pub fn evaluate(candidates: &[Candidate<'_>], on: Date) -> Validity {
    match candidates {
        [] => Validity::NotFound,
        [one] if one.qualification.is_in_effect(on) => Validity::Valid,
        [one] if one.newer_exists => Validity::InvalidNewerExists,
        [_] => Validity::Invalid,
        _ => Validity::Multiple,
    }
}
