//! One request file in, one result file out: decoding, the family's work through the
//! [`Backend`], and the result in the request's encoding. Also the terminal's own bulk
//! 照会番号 registration ([`Registrar`]).

use super::backend::{Backend, CheckOutcome};
use super::codes;
use super::result::{self, Head, Segment};
use super::store::{FileStore, ItemResult, RegistrationItem, UploadItem};
use crate::offline::{self, FileOrigin};
use kakunin_api::client::ClientError;
use kakunin_api::{
    BatchInquiryRequest, EligibilityCheckRequest, MedicalInformationRequest,
    MedicalInformationResponse, ReferenceNumberRequest,
};
use kakunin_domain::Timestamp;
use kakunin_formats::oqs::{
    decode, write, BulkEligibilityRequest, BulkReferenceNumberRequest, CharacterCode, Direction,
    Element, EligibilityRequest, Family, FileName, InformationRequest, InsurerNumberField,
    ReceptionRequest, ReferenceNumberRequest as OqsReferenceNumberRequest, Registration, Request,
};
use std::sync::Arc;

/// A result file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The response name (`…res_…`).
    pub name: String,
    pub bytes: Vec<u8>,
    /// `SegmentOfResult` and the `ErrorCode`, for the log.
    pub segment: &'static str,
    pub error_code: Option<&'static str>,
}

/// The clock (JST time of results, 受付番号 dates).
pub type Clock = fn() -> Timestamp;

/// The system clock.
pub fn system_clock() -> Timestamp {
    Timestamp::from_unix_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

/// Answers request files.
pub struct Processor {
    backend: Arc<dyn Backend>,
    store: Arc<FileStore>,
    institution: String,
    clock: Clock,
    registrations: Arc<tokio::sync::Notify>,
}

/// What the request is about, for the result header.
struct Context {
    time: String,
    code: CharacterCode,
    institution: String,
    file_identifier: Option<String>,
}

impl Context {
    fn head(&self) -> Head {
        Head::new(
            &self.time,
            &self.institution,
            self.file_identifier.as_deref(),
            self.code,
        )
    }

    fn failed(&self, segment: Segment) -> Element {
        let mut head = self.head();
        head.segment = segment;
        result::failure(&head)
    }
}

/// The encoding a file's XML declaration names, when it cannot be decoded: the answer is
/// written in it when it is one we write, else in UTF-8.
fn declared_code(bytes: &[u8]) -> CharacterCode {
    let head = &bytes[..bytes.len().min(1024)];
    let text = String::from_utf8_lossy(head);
    let label = text
        .find("encoding")
        .and_then(|at| {
            let rest = text[at + "encoding".len()..].trim_start();
            let rest = rest.strip_prefix('=')?.trim_start();
            let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            let rest = &rest[1..];
            rest.find(quote).map(|end| rest[..end].to_string())
        })
        .unwrap_or_default();
    CharacterCode::from_label(&label).unwrap_or(CharacterCode::Utf8)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// A central error that means "refused this person/request" (4xx) rather than "unreachable".
fn refusal(e: &ClientError) -> Option<&kakunin_api::ApiError> {
    match e {
        ClientError::Api(api, status) if *status < 500 => Some(api),
        _ => None,
    }
}

/// The header failure for a central error on a whole request.
fn central_failure(e: &ClientError) -> Segment {
    if offline::is_outage(e) {
        return Segment::failed(codes::CENTRAL_UNREACHABLE);
    }
    match e {
        ClientError::Api(api, _) => Segment::failed_with(codes::CENTRAL_REFUSED, &api.message),
        other => {
            tracing::warn!(error = %other, "unexpected answer from the central");
            Segment::failed(codes::CENTRAL_REFUSED)
        }
    }
}

impl Processor {
    pub fn new(
        backend: Arc<dyn Backend>,
        store: Arc<FileStore>,
        institution: &str,
        clock: Clock,
    ) -> Self {
        Self {
            backend,
            store,
            institution: institution.to_string(),
            clock,
            registrations: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Woken when a bulk registration is stored.
    pub fn registrations_added(&self) -> Arc<tokio::sync::Notify> {
        self.registrations.clone()
    }

    pub fn institution(&self) -> &str {
        &self.institution
    }

    /// The answer to the file `file_name` holding `bytes`; `None` when it cannot be answered
    /// at all (not a request name).
    pub async fn answer(&self, file_name: &str, bytes: &[u8]) -> Option<Answer> {
        let name = FileName::parse(file_name).ok()?;
        if name.direction() != Direction::Request {
            return None;
        }
        let now = (self.clock)();
        let mut ctx = Context {
            time: now.jst_compact(),
            code: CharacterCode::Utf8,
            institution: self.institution.clone(),
            file_identifier: None,
        };
        let element = match decode(bytes) {
            Err(e) => {
                ctx.code = declared_code(bytes);
                let (code, message) = codes::of_request_error(&e);
                ctx.failed(Segment::Failed {
                    code: code.code,
                    message,
                })
            }
            Ok(doc) => {
                ctx.code = doc.character_code();
                // Echo what the request said about itself when it is sane.
                if let Some(code) = doc
                    .value("MessageHeader/MedicalInstitutionCode")
                    .filter(|c| digits(c, 10))
                {
                    ctx.institution = code.to_string();
                }
                ctx.file_identifier = doc
                    .value("MessageHeader/ArbitraryFileIdentifier")
                    .filter(|f| f.chars().count() <= 100)
                    .map(str::to_string);
                let request = name
                    .family()
                    .map_err(|e| Segment::Failed {
                        code: codes::UNKNOWN_FAMILY.code,
                        message: e.message,
                    })
                    .and_then(|family| {
                        Request::parse(&doc, family).map_err(|e| {
                            let (code, message) = codes::of_request_error(&e);
                            Segment::Failed {
                                code: code.code,
                                message,
                            }
                        })
                    });
                match request {
                    Err(segment) => ctx.failed(segment),
                    Ok(r) if r.institution_code() != self.institution => ctx.failed(
                        Segment::failed_with(codes::OTHER_INSTITUTION, r.institution_code()),
                    ),
                    Ok(r) => self.handle(r, &ctx, file_name, now).await,
                }
            }
        };
        let (segment, error_code) = summary(&element);
        Some(Answer {
            name: name.response_name(),
            bytes: write(&element, ctx.code),
            segment,
            error_code,
        })
    }

    async fn handle(&self, r: Request, ctx: &Context, file_name: &str, now: Timestamp) -> Element {
        match r {
            Request::Eligibility(r) => self.eligibility(r, ctx, file_name).await,
            Request::BulkEligibility(r) => self.bulk_eligibility(r, ctx, now).await,
            Request::BulkEligibilityResult(r) => self.bulk_eligibility_result(r, ctx).await,
            Request::ReferenceNumber(r) => self.reference_number(r, ctx).await,
            Request::BulkReferenceNumber(r) => self.bulk_reference_number(r, ctx, now),
            Request::BulkReferenceNumberResult(r) => self.bulk_reference_number_result(r, ctx),
            Request::Medication(r) => self.information(r, ctx, Family::Medication).await,
            Request::Checkup(r) => self.information(r, ctx, Family::Checkup).await,
        }
    }

    async fn eligibility(&self, r: EligibilityRequest, ctx: &Context, file_name: &str) -> Element {
        let s = &r.search;
        let request = EligibilityCheckRequest {
            insurer_number: s.insurer_number.normalised().to_string(),
            symbol: s.symbol.clone(),
            number: s.number.clone(),
            branch: s.branch.clone(),
            birthdate: s.birthdate.clone(),
            qualification_confirmation_date: r.header.confirmation_date.clone(),
            limit_application_certificate_related_cons_flg: s.limit_consent.clone(),
        };
        let origin = FileOrigin {
            request_name: file_name.to_string(),
            arbitrary_file_identifier: r.header.file_identifier.clone(),
            encoding: ctx.code.name().to_string(),
        };
        let echo = s.to_element();
        let mut head = ctx.head();
        head.reference_classification = Some("2".into());
        match self.backend.check(request, origin).await {
            Ok(CheckOutcome::Answered(a)) => {
                head.confirmation_date = Some(a.qualification_confirmation_date.clone());
                head.reference_classification = Some(a.reference_classification.clone());
                result::message(head.element(), result::eligibility_body(&a, Some(echo)))
            }
            Ok(CheckOutcome::Recorded { .. }) => {
                head.confirmation_date = Some(
                    r.header
                        .confirmation_date
                        .clone()
                        .unwrap_or_else(|| ctx.time[..8].to_string()),
                );
                let body = result::processing(
                    Element::new("MessageBody"),
                    "2",
                    Some(codes::RECORDED_OFFLINE.code),
                    Some(codes::RECORDED_OFFLINE.message),
                )
                .push(echo);
                result::message(head.element(), body)
            }
            Err(e) => match refusal(&e) {
                Some(api) => {
                    let body = result::processing(
                        Element::new("MessageBody"),
                        "2",
                        Some(&api.code),
                        Some(&api.message),
                    )
                    .push(echo);
                    result::message(head.element(), body)
                }
                None => {
                    // The central was out of reach and the visit could not even be recorded.
                    tracing::error!(error = %e, "a file check could not be answered or recorded");
                    head.segment = Segment::failed(codes::TERMINAL_FAILURE);
                    result::failure(&head)
                }
            },
        }
    }

    async fn bulk_eligibility(
        &self,
        r: BulkEligibilityRequest,
        ctx: &Context,
        now: Timestamp,
    ) -> Element {
        let items: Vec<EligibilityCheckRequest> = r
            .items
            .iter()
            .map(|s| EligibilityCheckRequest {
                insurer_number: s.insurer_number.normalised().to_string(),
                symbol: s.symbol.clone(),
                number: s.number.clone(),
                branch: s.branch.clone(),
                birthdate: s.birthdate.clone(),
                qualification_confirmation_date: None,
                limit_application_certificate_related_cons_flg: s.limit_consent.clone(),
            })
            .collect();
        let count = items.len();
        let request = BatchInquiryRequest {
            qualification_confirmation_date: r.header.confirmation_date.clone(),
            items,
        };
        let mut head = ctx.head();
        head.confirmation_date = r.header.confirmation_date.clone();
        match self.backend.submit_batch(request).await {
            Ok(accepted) => {
                let kept: Vec<UploadItem> = r
                    .items
                    .iter()
                    .map(|s| UploadItem {
                        insurer_number: s.insurer_number.raw().to_string(),
                        identifier: s.identifier.clone(),
                    })
                    .collect();
                if let Err(e) =
                    self.store
                        .keep_upload(&accepted.reception_number, &kept, now.unix_millis())
                {
                    // The results still come; only the レセコン's identifiers are not echoed.
                    tracing::error!(error = %e, "cannot keep a bulk upload's identifiers");
                }
                head.reception_number = Some(accepted.reception_number);
                let body = result::processing(
                    Element::new("MessageBody"),
                    "1",
                    None,
                    Some(&format!("一括照会を受け付けました（{count}件）。")),
                );
                result::message(head.element(), body)
            }
            Err(e) => {
                head.segment = central_failure(&e);
                result::failure(&head)
            }
        }
    }

    async fn bulk_eligibility_result(&self, r: ReceptionRequest, ctx: &Context) -> Element {
        let mut head = ctx.head();
        head.reception_number = Some(r.reception_number.clone());
        let batch = match self.backend.batch(r.reception_number.clone()).await {
            Ok(b) => b,
            Err(e) => {
                head.segment = match refusal(&e) {
                    Some(_) => Segment::failed(codes::RECEPTION_NOT_FOUND),
                    None => central_failure(&e),
                };
                return result::failure(&head);
            }
        };
        if batch.summary.status != "done" {
            head.segment = Segment::Processing(codes::PROCESSING);
            return result::failure(&head);
        }
        let kept = self
            .store
            .upload(&r.reception_number)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read a bulk upload's identifiers");
                None
            })
            .unwrap_or_default();
        head.confirmation_date = batch
            .units
            .iter()
            .find_map(|u| u.request.qualification_confirmation_date.clone());
        let s = &batch.summary;
        head.counts = Some((s.items, s.normal, s.errors));
        let body = Element::new("MessageBody").push_all(batch.units.iter().map(|u| {
            let item = kept.get(u.index.saturating_sub(1) as usize);
            result::bulk_unit(
                u,
                item.map(|i| i.insurer_number.as_str()),
                item.and_then(|i| i.identifier.as_deref()),
            )
        }));
        result::message(head.element(), body)
    }

    /// The birth date of a registration or information request: given, or the one of today's
    /// checks on this terminal.
    fn birthdate(
        &self,
        given: Option<&str>,
        insurer: &InsurerNumberField,
        symbol: Option<&str>,
        number: &str,
        branch: Option<&str>,
    ) -> Option<String> {
        given.map(str::to_string).or_else(|| {
            self.backend
                .birthdate_of(insurer.normalised(), symbol, number, branch)
        })
    }

    async fn reference_number(&self, r: OqsReferenceNumberRequest, ctx: &Context) -> Element {
        let reg = &r.registration;
        let outcome = register(
            &*self.backend,
            &registration_item(reg),
            |given, i, s, n, b| self.birthdate(given, i, s, n, b),
        )
        .await;
        let mut head = ctx.head();
        match outcome {
            Ok(item) => {
                let body = result::processing(
                    Element::new("MessageBody"),
                    &item.status,
                    item.code.as_deref(),
                    Some(&item.message),
                )
                .child("ReferenceNumber", &reg.reference_number);
                result::message(head.element(), body)
            }
            Err(e) => {
                head.segment = central_failure(&e);
                result::failure(&head)
            }
        }
    }

    fn bulk_reference_number(
        &self,
        r: BulkReferenceNumberRequest,
        ctx: &Context,
        now: Timestamp,
    ) -> Element {
        let items: Vec<RegistrationItem> = r.items.iter().map(registration_item).collect();
        let mut head = ctx.head();
        match self.store.add_registrations(
            &now.jst_date().compact(),
            r.header.file_identifier.as_deref(),
            &items,
            now.unix_millis(),
        ) {
            Ok(number) => {
                self.registrations.notify_one();
                head.reception_number = Some(number);
                let body = result::processing(
                    Element::new("MessageBody"),
                    "1",
                    None,
                    Some(&format!(
                        "照会番号の一括登録を受け付けました（{}件）。",
                        items.len()
                    )),
                );
                result::message(head.element(), body)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot store a bulk registration");
                head.segment = Segment::failed(codes::TERMINAL_FAILURE);
                result::failure(&head)
            }
        }
    }

    fn bulk_reference_number_result(&self, r: ReceptionRequest, ctx: &Context) -> Element {
        let mut head = ctx.head();
        head.reception_number = Some(r.reception_number.clone());
        let job = match self.store.registrations(&r.reception_number) {
            Ok(Some(job)) => job,
            Ok(None) => {
                head.segment = Segment::failed(codes::RECEPTION_NOT_FOUND);
                return result::failure(&head);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read a bulk registration");
                head.segment = Segment::failed(codes::TERMINAL_FAILURE);
                return result::failure(&head);
            }
        };
        if !job.done {
            head.segment = Segment::Processing(codes::PROCESSING);
            return result::failure(&head);
        }
        let normal = job.results.iter().filter(|i| i.status == "1").count() as u32;
        let total = job.items.len() as u32;
        head.counts = Some((total, normal, total - normal));
        let body = Element::new("MessageBody").push_all(job.items.iter().zip(&job.results).map(
            |(item, outcome)| {
                let echo = Element::new("ReferenceNumberRegistrationInfo")
                    .child("ReferenceNumber", &item.reference_number)
                    .child("InsurerNumber", &item.insurer_number)
                    .child("InsuredCardSymbol", &item.symbol)
                    .child("InsuredIdentificationNumber", &item.number)
                    .child("InsuredBranchNumber", &item.branch)
                    .child("Birthdate", &item.birthdate);
                result::processing(
                    Element::new("ReferenceNumberRegistrationResult").push(echo),
                    &outcome.status,
                    outcome.code.as_deref(),
                    Some(&outcome.message),
                )
                .child(
                    "ReferenceNumber",
                    (outcome.status == "1").then_some(&item.reference_number),
                )
            },
        ));
        result::message(head.element(), body)
    }

    async fn information(&self, r: InformationRequest, ctx: &Context, family: Family) -> Element {
        let categories: &[&'static str] = match (family, r.file_category.as_str()) {
            (Family::Medication, "2") => &["medications"],
            (Family::Medication, "4") => &["medications", "treatments"],
            (Family::Checkup, "2") => &["checkups"],
            (_, other) => {
                return ctx.failed(Segment::failed_with(
                    codes::FILE_CATEGORY,
                    &format!("FileCategory {other}"),
                ))
            }
        };
        let head = ctx.head();
        let refused = |code: &str, message: &str| {
            let body = result::processing(
                Element::new("MessageBody")
                    .child("ResultCode", "2")
                    .child("MessageContents", message),
                "2",
                Some(code),
                Some(message),
            );
            result::message(head.element(), body)
        };
        let Some(birthdate) = self.birthdate(
            r.birthdate.as_deref(),
            &r.insurer_number,
            r.symbol.as_deref(),
            &r.number,
            r.branch.as_deref(),
        ) else {
            return refused(
                codes::BIRTHDATE_NEEDED.code,
                codes::BIRTHDATE_NEEDED.message,
            );
        };
        let request = MedicalInformationRequest {
            insurer_number: r.insurer_number.normalised().to_string(),
            symbol: r.symbol.clone(),
            number: r.number.clone(),
            branch: r.branch.clone(),
            birthdate,
            start_date: r.start_date.clone(),
            end_date: r.end_date.clone(),
        };
        let mut answers: Vec<MedicalInformationResponse> = Vec::new();
        let mut note: Option<(String, String)> = None;
        for (i, category) in categories.iter().enumerate() {
            match self.backend.medical(category, request.clone()).await {
                Ok(a) => answers.push(a),
                // 診療情報 refused while 薬剤情報 is shown: the drugs, and why not the rest.
                Err(e) if i > 0 && refusal(&e).is_some() => {
                    let api = refusal(&e).expect("checked");
                    note = Some((api.code.clone(), format!("診療情報：{}", api.message)));
                }
                Err(e) => {
                    return match refusal(&e) {
                        Some(api) => refused(&api.code, &api.message),
                        None => ctx.failed(central_failure(&e)),
                    }
                }
            }
        }
        let Some(first) = answers.first() else {
            return ctx.failed(Segment::failed(codes::TERMINAL_FAILURE));
        };
        let (patient, mut body) = match family {
            Family::Checkup => {
                let n = first.checkups.len();
                (
                    result::qualifications_info(&first.patient),
                    Element::new("MessageBody")
                        .child("ResultCode", "1")
                        .child(
                            "MessageContents",
                            format!("特定健診情報を取得しました（{n}回分）。"),
                        )
                        .child("ProcessingResultStatus", "1"),
                )
            }
            _ => {
                let meds = &first.medications;
                let treatments = answers.get(1).map_or(&[][..], |a| &a.treatments[..]);
                (
                    result::qua_inf(&first.patient),
                    result::processing(
                        Element::new("MessageBody").child("ResultCode", "1").child(
                            "MessageContents",
                            format!(
                                "薬剤情報を取得しました（{}件{}）。",
                                meds.len(),
                                if categories.len() > 1 {
                                    format!("、診療情報{}件", treatments.len())
                                } else {
                                    String::new()
                                }
                            ),
                        ),
                        "1",
                        note.as_ref().map(|n| n.0.as_str()),
                        note.as_ref().map(|n| n.1.as_str()),
                    ),
                )
            }
        };
        body = match family {
            Family::Checkup => body.push_all(result::checkups(&first.checkups)),
            _ => {
                let treatments = answers.get(1).map_or(&[][..], |a| &a.treatments[..]);
                body.push_all(result::medication_months(
                    &first.medications,
                    treatments,
                    &self.institution,
                ))
            }
        };
        result::message(head.element().push(patient), body)
    }
}

fn summary(e: &Element) -> (&'static str, Option<&'static str>) {
    let segment = match e.value("MessageHeader/SegmentOfResult") {
        Some("2") => "2",
        Some("9") => "9",
        _ => "1",
    };
    let code = e
        .value("MessageHeader/ErrorCode")
        .and_then(|c| codes::ALL.iter().find(|k| k.code == c))
        .map(|k| k.code);
    (segment, code)
}

/// A `ReferenceNumberRegistrationInfo` as kept.
fn registration_item(r: &Registration) -> RegistrationItem {
    RegistrationItem {
        reference_number: r.reference_number.clone(),
        insurer_number: r.insurer_number.raw().to_string(),
        symbol: r.symbol.clone(),
        number: r.number.clone(),
        branch: r.branch.clone(),
        birthdate: r.birthdate.clone(),
    }
}

/// Registers one 照会番号. `Err` only when the central did not answer (try again later); a
/// refusal, or a missing birth date, is a result.
async fn register(
    backend: &dyn Backend,
    item: &RegistrationItem,
    birthdate: impl Fn(
        Option<&str>,
        &InsurerNumberField,
        Option<&str>,
        &str,
        Option<&str>,
    ) -> Option<String>,
) -> Result<ItemResult, ClientError> {
    let refused = |code: &str, message: &str| ItemResult {
        status: "2".into(),
        code: Some(code.to_string()),
        message: message.to_string(),
    };
    let Ok(insurer) = InsurerNumberField::parse(&item.insurer_number) else {
        // Checked when the request was read; kept data that no longer parses is refused.
        return Ok(refused(
            "invalid_insurer_number",
            "保険者番号が正しくありません。",
        ));
    };
    let Some(birthdate) = birthdate(
        item.birthdate.as_deref(),
        &insurer,
        item.symbol.as_deref(),
        &item.number,
        item.branch.as_deref(),
    ) else {
        return Ok(refused(
            codes::BIRTHDATE_NEEDED.code,
            codes::BIRTHDATE_NEEDED.message,
        ));
    };
    let request = ReferenceNumberRequest {
        insurer_number: insurer.normalised().to_string(),
        symbol: item.symbol.clone(),
        number: item.number.clone(),
        branch: item.branch.clone(),
        birthdate,
        reference_number: item.reference_number.clone(),
    };
    match backend.register(request).await {
        Ok(a) => Ok(ItemResult {
            status: "1".into(),
            code: None,
            message: a.processing_result.message,
        }),
        Err(e) => match refusal(&e) {
            Some(api) => Ok(refused(&api.code, &api.message)),
            None => Err(e),
        },
    }
}

/// Carries out the terminal's bulk 照会番号 registrations, one item at a time, recording each
/// result as it comes; an unfinished one (the central went away, the terminal stopped) goes
/// on from its next item.
pub struct Registrar {
    backend: Arc<dyn Backend>,
    store: Arc<FileStore>,
    clock: Clock,
}

impl Registrar {
    pub fn new(backend: Arc<dyn Backend>, store: Arc<FileStore>, clock: Clock) -> Self {
        Self {
            backend,
            store,
            clock,
        }
    }

    /// Works through every pending registration. `false` when the central could not be
    /// reached (try again later) or the store failed.
    pub async fn run_once(&self) -> bool {
        let pending = match self.store.pending_registrations() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the bulk registrations");
                return false;
            }
        };
        for job in pending {
            let mut results = job.results.clone();
            for item in &job.items[results.len().min(job.items.len())..] {
                let outcome = register(&*self.backend, item, |given, insurer, s, n, b| {
                    given
                        .map(str::to_string)
                        .or_else(|| self.backend.birthdate_of(insurer.normalised(), s, n, b))
                })
                .await;
                match outcome {
                    Ok(r) => results.push(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "bulk registration paused: central unreachable");
                        return false;
                    }
                }
                let done = results.len() == job.items.len();
                let now = (self.clock)().unix_millis();
                if let Err(e) = self.store.record_results(job.id, &results, done, now) {
                    tracing::error!(error = %e, "cannot record a registration result");
                    return false;
                }
            }
            if job.items.is_empty() {
                let now = (self.clock)().unix_millis();
                let _ = self.store.record_results(job.id, &[], true, now);
            }
        }
        true
    }

    /// Runs pending registrations when woken and every 5 s (retrying after an outage), and
    /// purges old uploads and registrations hourly. Runs forever.
    pub async fn run(self: Arc<Self>, woken: Arc<tokio::sync::Notify>) {
        let mut last_purge: Option<std::time::Instant> = None;
        loop {
            if last_purge.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(3600)) {
                match self.store.purge((self.clock)().unix_millis()) {
                    Ok(n) if n > 0 => {
                        tracing::info!(n, "purged old bulk uploads and registrations")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot purge old bulk registrations"),
                }
                last_purge = Some(std::time::Instant::now());
            }
            self.run_once().await;
            tokio::select! {
                _ = woken.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_encodings() {
        for (bytes, code) in [
            (
                &b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><x"[..],
                CharacterCode::ShiftJis,
            ),
            (
                b"<?xml version='1.0' encoding='utf-8'?>",
                CharacterCode::Utf8,
            ),
            (
                b"<?xml version='1.0' encoding='EUC-JP'?>",
                CharacterCode::Utf8,
            ),
            (b"<XmlMsg>", CharacterCode::Utf8),
            (
                b"<?xml version='1.0' encoding=\"windows-31j\"?>",
                CharacterCode::ShiftJis,
            ),
            (b"\x82\xa0", CharacterCode::Utf8),
        ] {
            assert_eq!(
                declared_code(bytes),
                code,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
