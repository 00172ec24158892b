//! What the file interface asks of the rest of the terminal: checks (recorded offline when the
//! central cannot be reached), the central's 一括照会, 照会番号 and medical information, and the
//! birth date of a patient checked here today. [`Terminal`] is the real one; tests give canned
//! answers.

use crate::offline::FileOrigin;
use crate::visit::{NumbersOutcome, Terminal};
use futures_util::future::BoxFuture;
use kakunin_api::client::ClientError;
use kakunin_api::{
    BatchInquiryAccepted, BatchInquiryRequest, BatchInquiryResponse, EligibilityCheckRequest,
    EligibilityCheckResponse, MedicalInformationRequest, MedicalInformationResponse,
    QualificationResult, ReferenceNumberRequest, ReferenceNumberResponse,
};

/// A call to the central (or the terminal's own handling of it).
pub type Call<'a, T> = BoxFuture<'a, Result<T, ClientError>>;

/// The outcome of a single check.
#[derive(Debug, Clone)]
pub enum CheckOutcome {
    /// The central answered.
    Answered(Box<EligibilityCheckResponse>),
    /// The central could not be reached: the visit was recorded for a later check (要後日確認).
    Recorded { visit_id: String },
}

/// The terminal as the file interface uses it.
pub trait Backend: Send + Sync {
    /// A check by insurance numbers from the request file `origin`.
    fn check(&self, request: EligibilityCheckRequest, origin: FileOrigin)
        -> Call<'_, CheckOutcome>;
    fn submit_batch(&self, request: BatchInquiryRequest) -> Call<'_, BatchInquiryAccepted>;
    fn batch(&self, reception_number: String) -> Call<'_, BatchInquiryResponse>;
    fn register(&self, request: ReferenceNumberRequest) -> Call<'_, ReferenceNumberResponse>;
    /// `medications`, `treatments` or `checkups`.
    fn medical(
        &self,
        category: &'static str,
        request: MedicalInformationRequest,
    ) -> Call<'_, MedicalInformationResponse>;
    /// The birth date (`yyyyMMdd`) of the one person these numbers name among today's checks on
    /// this terminal; `None` when nobody or several people match.
    fn birthdate_of(
        &self,
        insurer: &str,
        symbol: Option<&str>,
        number: &str,
        branch: Option<&str>,
    ) -> Option<String>;
}

fn unreachable() -> ClientError {
    ClientError::Transport("the central is unreachable (offline reception)".into())
}

impl Backend for Terminal {
    fn check(
        &self,
        request: EligibilityCheckRequest,
        origin: FileOrigin,
    ) -> Call<'_, CheckOutcome> {
        Box::pin(async move {
            Ok(
                match self.check_numbers("files", request, Some(origin)).await? {
                    NumbersOutcome::Answered(r) => CheckOutcome::Answered(Box::new(r.answer)),
                    NumbersOutcome::Offline(v) => CheckOutcome::Recorded { visit_id: v.id },
                },
            )
        })
    }

    fn submit_batch(&self, request: BatchInquiryRequest) -> Call<'_, BatchInquiryAccepted> {
        Box::pin(async move {
            if self.offline() {
                return Err(unreachable());
            }
            self.client().submit_batch_inquiry(&request).await
        })
    }

    fn batch(&self, reception_number: String) -> Call<'_, BatchInquiryResponse> {
        Box::pin(async move {
            if self.offline() {
                return Err(unreachable());
            }
            self.client().batch_inquiry(&reception_number).await
        })
    }

    fn register(&self, request: ReferenceNumberRequest) -> Call<'_, ReferenceNumberResponse> {
        Box::pin(async move {
            if self.offline() {
                return Err(unreachable());
            }
            let answer = self.client().register_reference_number(&request).await?;
            self.note_reference_number(&request, &answer.reference_number);
            Ok(answer)
        })
    }

    fn medical(
        &self,
        category: &'static str,
        request: MedicalInformationRequest,
    ) -> Call<'_, MedicalInformationResponse> {
        Box::pin(async move {
            if self.offline() {
                return Err(unreachable());
            }
            self.client().medical_information(category, &request).await
        })
    }

    fn birthdate_of(
        &self,
        insurer: &str,
        symbol: Option<&str>,
        number: &str,
        branch: Option<&str>,
    ) -> Option<String> {
        let today = kakunin_domain::Timestamp::from_unix_millis(now_ms())
            .jst_date()
            .iso();
        let receptions = self.receptions();
        let results = receptions
            .iter()
            .filter(|r| r.at.starts_with(&today))
            .flat_map(|r| r.answer.results.iter());
        birthdate_among(results, insurer, symbol, number, branch)
    }
}

/// The one birth date among `results` whose card numbers are these (matching keys: full-width
/// folded, spaces removed; a branch on one side only still matches).
pub fn birthdate_among<'a>(
    results: impl Iterator<Item = &'a QualificationResult>,
    insurer: &str,
    symbol: Option<&str>,
    number: &str,
    branch: Option<&str>,
) -> Option<String> {
    let card = kakunin_api::card_input(insurer, symbol, number, branch).ok()?;
    let mut found: Option<String> = None;
    for q in results {
        let Ok(other) = kakunin_api::card_input(
            &q.insurer_number,
            q.symbol.as_deref(),
            &q.number,
            q.branch.as_deref(),
        ) else {
            continue;
        };
        let same = other.insurer == card.insurer
            && other.symbol_key() == card.symbol_key()
            && other.number.key() == card.number.key()
            && (card.branch.is_none() || other.branch.is_none() || other.branch == card.branch);
        if !same {
            continue;
        }
        match &found {
            None => found = Some(q.birthdate.clone()),
            Some(b) if *b == q.birthdate => {}
            // Two people (a family without 枝番): no guess.
            Some(_) => return None,
        }
    }
    found
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(number: &str, branch: Option<&str>, birthdate: &str) -> QualificationResult {
        let mut q = crate::files::result::tests::full_result();
        q.insurer_number = "06139992".into();
        q.symbol = Some("123".into());
        q.number = number.into();
        q.branch = branch.map(str::to_string);
        q.birthdate = birthdate.into();
        q
    }

    #[test]
    fn birth_dates_of_todays_checks() {
        let all = [
            result("4567", Some("00"), "19800101"),
            result("4567", Some("01"), "20100505"),
            result("８９", None, "19700707"),
        ];
        // (numbers, branch, expected).
        for (number, branch, expected) in [
            ("4567", Some("00"), Some("19800101")),
            ("4567", Some("01"), Some("20100505")),
            ("4567", None, None),
            ("89", None, Some("19700707")),
            ("89", Some("02"), Some("19700707")),
            ("1", None, None),
        ] {
            assert_eq!(
                birthdate_among(all.iter(), "06139992", Some("123"), number, branch).as_deref(),
                expected,
                "{number} {branch:?}"
            );
        }
        assert_eq!(birthdate_among(all.iter(), "x", None, "1", None), None);
    }
}
