//! Unsolicited results in `face/`: every kiosk card check (照会区分 1, with the consent flags
//! and the 照会番号), written again when the reception changes (consents given after the check,
//! a 照会番号 registered), and the later confirmation of every visit recorded offline.
//!
//! A レセコン tells the files apart by their names' counter (it only grows, across restarts
//! too) and by `ProcessExecutionTime`, the time of the check: a file with the same
//! `ProcessExecutionTime` and person as an earlier one is the same check, updated, and replaces
//! it.

use super::codes;
use super::result::{self, Head};
use super::store::FileStore;
use crate::offline::{OfflineVisit, VisitProof, VisitStatus};
use crate::visit::{Reception, Terminal};
use kakunin_domain::InstitutionCode;
use kakunin_formats::oqs::{face_name, write, CharacterCode, Element};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast;

/// The counter of face files in [`FileStore`].
pub const COUNTER: &str = "face";

/// The unsolicited result for a reception, with the encoding to write it in; `None` for a
/// reception that gets none (a console or file check answered at once).
pub fn face_result(
    r: &Reception,
    visit: Option<&OfflineVisit>,
    institution: &str,
    default_code: CharacterCode,
) -> Option<(Element, CharacterCode)> {
    let a = &r.answer;
    let (code, file_identifier, processing) = match &r.offline {
        Some(o) => {
            let file = o.file.as_ref();
            let code = file
                .and_then(|f| CharacterCode::from_label(&f.encoding))
                .unwrap_or(default_code);
            let (c, message) = match o.status {
                VisitStatus::Discrepancy => (
                    codes::LATER_DISCREPANCY.code,
                    o.problem
                        .clone()
                        .unwrap_or_else(|| codes::LATER_DISCREPANCY.message.to_string()),
                ),
                _ => (
                    codes::LATER_CONFIRMED.code,
                    codes::LATER_CONFIRMED.message.to_string(),
                ),
            };
            (
                code,
                file.and_then(|f| f.arbitrary_file_identifier.clone()),
                Some((c, message)),
            )
        }
        None if r.source == "kiosk" => (default_code, None, None),
        None => return None,
    };
    let mut head = Head::new(
        &a.process_execution_time,
        institution,
        file_identifier.as_deref(),
        code,
    );
    head.confirmation_date = Some(a.qualification_confirmation_date.clone());
    head.reference_classification = Some(a.reference_classification.clone());
    let body = match processing {
        None => result::eligibility_body(a, None),
        Some((c, message)) => {
            let search = visit.and_then(|v| match &v.proof {
                VisitProof::Numbers { request } => Some(result::search_info(request, None, None)),
                VisitProof::Card { .. } => None,
            });
            let mut body =
                result::processing(Element::new("MessageBody"), "1", Some(c), Some(&message))
                    .child("QualificationValidity", &a.validity)
                    .push(search);
            if !a.results.is_empty() {
                body = body.push(
                    Element::new("ResultList").push_all(
                        a.results
                            .iter()
                            .map(|q| result::qualification(q, &a.consents)),
                    ),
                );
            }
            body
        }
    };
    Some((result::message(head.element(), body), code))
}

/// Writes face files as receptions come. Runs until the terminal is dropped.
pub async fn run(
    terminal: Arc<Terminal>,
    dir: PathBuf,
    store: Arc<FileStore>,
    institution: String,
    default_code: CharacterCode,
) {
    let Ok(code) = InstitutionCode::parse(&institution) else {
        tracing::error!("face files need a valid 医療機関コード; none will be written");
        return;
    };
    let mut feed = terminal.subscribe_reception_feed();
    // What was last written per reception, so an unchanged republish writes nothing.
    let mut written: HashMap<(u64, bool), Vec<u8>> = HashMap::new();
    loop {
        let r = match feed.recv().await {
            Ok(r) => r,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(n, "face files: receptions missed");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let visit = r
            .offline
            .as_ref()
            .and_then(|o| terminal.queue().get(&o.visit_id).ok().flatten());
        let Some((element, character_code)) =
            face_result(&r, visit.as_ref(), &institution, default_code)
        else {
            continue;
        };
        let bytes = write(&element, character_code);
        let key = (r.id, r.offline.is_some());
        if written.get(&key) == Some(&bytes) {
            continue;
        }
        let counter = match store.next(COUNTER) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "face files: cannot count");
                continue;
            }
        };
        let now = super::process::system_clock();
        let name = face_name(&code, counter, now).to_string();
        let (d, b) = (dir.clone(), bytes.clone());
        match tokio::task::spawn_blocking(move || super::watch::write_atomic(&d, &name, &b)).await {
            Ok(Ok(())) => {
                written.insert(key, bytes);
            }
            Ok(Err(e)) => tracing::error!(error = %e, "face files: cannot write"),
            Err(e) => tracing::error!(error = %e, "face files: writer failed"),
        }
        if written.len() > 10_000 {
            written.clear();
        }
    }
}
