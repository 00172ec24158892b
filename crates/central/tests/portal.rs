//! The patient portal end to end: login with the card (PIN signature over a portal nonce),
//! sessions that cannot be forged, moved or outlived, the access log complete (every read path
//! of an institution is exactly one entry there), and the person's controls taking effect at
//! once: a blocked institution, an opt-out and a withdrawn consent each refuse the next view,
//! and the refusal is in the log too.

mod world;
use world::*;

use kakunin_api::{CardCheckRequest, CardConsentRequest, CardProof, MedicalInformationRequest};
use kakunin_domain::{Institution, InstitutionCode, InstitutionKind, Timestamp};
use serde_json::{json, Value};
use std::path::Path;

/// A browser: the central's CA, no client certificate, a cookie jar of one cookie.
struct Patient {
    http: reqwest::Client,
    url: String,
    cookie: Option<String>,
}

impl Patient {
    fn new(w: &World) -> Self {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&w.ca_pem).unwrap())
            .build()
            .unwrap();
        Self {
            http,
            url: w.url.clone(),
            cookie: None,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let mut r = self.http.request(method, format!("{}{path}", self.url));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let set = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap().to_string());
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            set,
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (s, v)
    }

    /// Logs in with the card: the card signs the portal nonce after its PIN.
    async fn login(&mut self, card: &Path) -> (u16, Value) {
        let (_, nonce, _) = self
            .send(reqwest::Method::POST, "/portal/api/login/nonce", None)
            .await;
        let nonce = nonce["nonce"].as_str().unwrap().to_string();
        let (cert, sig) =
            sign_message(card, "1234", &kakunin_api::portal_challenge(&nonce)).unwrap();
        let (status, body, cookie) = self
            .send(
                reqwest::Method::POST,
                "/portal/api/login",
                Some(json!({"certificate": b64(&cert), "nonce": nonce, "signature": b64(&sig)})),
            )
            .await;
        if cookie.is_some() {
            self.cookie = cookie;
        }
        (status, body)
    }

    async fn log(&self) -> Vec<Value> {
        let (status, v) = self.get("/portal/api/access-log").await;
        assert_eq!(status, 200, "{v}");
        v.as_array().unwrap().clone()
    }
}

fn medical_request(person: u64) -> MedicalInformationRequest {
    let &(_, _, _, _, birth) = PEOPLE.iter().find(|p| p.0 == person).unwrap();
    MedicalInformationRequest {
        insurer_number: KENPO.into(),
        symbol: Some("10".into()),
        number: format!("{person}00"),
        branch: Some("00".into()),
        birthdate: birth.into(),
        start_date: None,
        end_date: None,
    }
}

fn numbers(person: u64) -> kakunin_api::EligibilityCheckRequest {
    let m = medical_request(person);
    kakunin_api::EligibilityCheckRequest {
        insurer_number: m.insurer_number,
        symbol: m.symbol,
        number: m.number,
        branch: m.branch,
        birthdate: m.birthdate,
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_shows_every_access_and_the_controls_work() {
    let w = world().await;
    let report = w
        .import(format!(
            "{HEADER}\n{}\n{}\n",
            row(1, "10", Some(1), "20200401", ""),
            row(2, "10", Some(2), "20200401", "")
        ))
        .await;
    assert_eq!(report.linked, 2, "{report:?}");
    let card = w.issue_card(1, None);
    let other_card = w.issue_card(2, None);
    w.register(&card).await;
    w.register(&other_card).await;
    let clinic_code = institution_code("131000001");
    w.store
        .upsert_institution(Institution {
            code: InstitutionCode::parse(&clinic_code).unwrap(),
            name: "架空内科クリニック".into(),
            kind: InstitutionKind::MedicalClinic,
            municipality: Some("13101".into()),
        })
        .await
        .unwrap();

    // Not logged in: nothing.
    let mut me = Patient::new(&w);
    for path in [
        "/portal/api/me",
        "/portal/api/access-log",
        "/portal/api/consents",
        "/portal/api/export",
    ] {
        let (status, e) = me.get(path).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (401, Some("session_required")),
            "{path}"
        );
    }
    let (status, page) = me.get("/portal").await;
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("患者ポータル"));

    // A card-check signature is no login, and a portal nonce no card check.
    let (_, nonce, _) = me
        .send(reqwest::Method::POST, "/portal/api/login/nonce", None)
        .await;
    let nonce = nonce["nonce"].as_str().unwrap().to_string();
    let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
    let (status, e, cookie) = me
        .send(
            reqwest::Method::POST,
            "/portal/api/login",
            Some(json!({"certificate": b64(&cert), "nonce": nonce, "signature": b64(&sig)})),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str(), cookie),
        (403, Some("card_signature_invalid"), None)
    );
    let clinic = w.client(&w.institution);
    let (c, status) = code(
        clinic
            .card_check(&CardCheckRequest {
                certificate: b64(&cert),
                nonce: nonce.clone(),
                proof: CardProof::Pin {
                    signature: b64(&sig),
                },
                limit_application_certificate_related_cons_flg: None,
                consents: vec![],
            })
            .await
            .unwrap_err(),
    );
    assert_eq!((c.as_str(), status), ("nonce_invalid", 403));

    let (status, body) = me.login(&card).await;
    assert_eq!(status, 200, "{body}");
    let (status, profile) = me.get("/portal/api/me").await;
    assert_eq!(status, 200);
    assert_eq!(profile["qualifications"][0]["name"], "番号\u{3000}一郎");
    assert_eq!(profile["qualifications"][0]["in_effect"], true);

    // Every read path of an institution is exactly one entry in the person's log.
    let mut seen = me.log().await.len();
    async fn one_more(me: &Patient, seen: &mut usize, purpose: &str, outcome: &str) -> Value {
        let log = me.log().await;
        assert_eq!(
            log.len(),
            *seen + 1,
            "exactly one entry for {purpose}: {log:#?}"
        );
        *seen += 1;
        let newest = log[0].clone();
        assert_eq!(newest["purpose"], purpose, "{newest}");
        assert_eq!(newest["outcome"], outcome, "{newest}");
        newest
    }
    clinic.check(&numbers(1)).await.unwrap();
    let e = one_more(&me, &mut seen, "eligibility_by_numbers", "answered").await;
    assert_eq!(e["institution_name"], "架空内科クリニック");
    assert_eq!(e["basis"], "numbers");
    let nonce = clinic.card_nonce().await.unwrap().nonce;
    let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
    let answer = clinic
        .card_check(&CardCheckRequest {
            certificate: b64(&cert),
            nonce,
            proof: CardProof::Pin {
                signature: b64(&sig),
            },
            limit_application_certificate_related_cons_flg: None,
            consents: vec![],
        })
        .await
        .unwrap();
    one_more(&me, &mut seen, "eligibility_by_card", "answered").await;
    let next = answer.next_nonce.unwrap().nonce;
    let (cert, sig) = sign(&card, "1234", &next).unwrap();
    clinic
        .card_consents(&CardConsentRequest {
            certificate: b64(&cert),
            nonce: next,
            proof: CardProof::Pin {
                signature: b64(&sig),
            },
            consents: vec!["medications".into()],
        })
        .await
        .unwrap();
    one_more(&me, &mut seen, "consent_registration", "registered").await;
    clinic
        .medical_information("medications", &medical_request(1))
        .await
        .unwrap();
    let e = one_more(&me, &mut seen, "medical_information", "disclosed").await;
    assert_eq!(
        (e["category"].as_str(), e["basis"].as_str()),
        (Some("medications"), Some("consent"))
    );
    let (c, _) = code(
        clinic
            .medical_information("checkups", &medical_request(1))
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "category_not_consented");
    let e = one_more(&me, &mut seen, "medical_information", "refused").await;
    assert!(
        e["outcome_label"].as_str().unwrap().contains("同意なし"),
        "{e}"
    );
    clinic
        .register_reference_number(&kakunin_api::ReferenceNumberRequest {
            insurer_number: KENPO.into(),
            symbol: Some("10".into()),
            number: "100".into(),
            branch: Some("00".into()),
            birthdate: "19800101".into(),
            reference_number: "P-1".into(),
        })
        .await
        .unwrap();
    one_more(&me, &mut seen, "reference_registration", "registered").await;
    let accepted = clinic
        .submit_batch_inquiry(&kakunin_api::BatchInquiryRequest {
            qualification_confirmation_date: None,
            items: vec![numbers(1)],
        })
        .await
        .unwrap();
    for _ in 0..200 {
        if clinic
            .batch_inquiry(&accepted.reception_number)
            .await
            .unwrap()
            .summary
            .status
            == "done"
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    one_more(&me, &mut seen, "eligibility_batch", "answered").await;
    let visited =
        Timestamp::from_unix_millis(kakunin_central::service::now().unix_millis() - 3_600_000);
    let visit_id = "visit-0123456789abcdef";
    let offline = kakunin_api::offline_nonce(&clinic_code, &visited.jst_compact(), visit_id);
    let (cert, sig) = sign(&card, "1234", &offline).unwrap();
    clinic
        .offline_card_check(&kakunin_api::OfflineCardCheckRequest {
            certificate: b64(&cert),
            visit_id: visit_id.into(),
            visited_at: visited.jst_compact(),
            proof: CardProof::Pin {
                signature: b64(&sig),
            },
        })
        .await
        .unwrap();
    one_more(&me, &mut seen, "eligibility_by_card", "answered").await;
    w.client(&w.other_institution)
        .check(&numbers(1))
        .await
        .unwrap();
    let e = one_more(&me, &mut seen, "eligibility_by_numbers", "answered").await;
    assert_eq!(e["institution_code"], institution_code("131000002"));
    assert!(
        e.get("institution_name").is_none(),
        "an unregistered institution has no name"
    );
    // Another person's checks are not in this log.
    w.check(&other_card).await.unwrap();
    assert_eq!(me.log().await.len(), seen);
    // Filters.
    let (_, only) = me
        .get("/portal/api/access-log?purpose=medical_information")
        .await;
    assert_eq!(only.as_array().unwrap().len(), 2);
    let (_, only) = me
        .get(&format!(
            "/portal/api/access-log?institution={}",
            institution_code("131000002")
        ))
        .await;
    assert_eq!(only.as_array().unwrap().len(), 1);

    // Blocking the clinic refuses its next view, and the refusal is in the log.
    let (status, blocks) = me
        .post(
            "/portal/api/blocks",
            json!({"institution_code": clinic_code, "blocked": true}),
        )
        .await;
    assert_eq!(status, 200, "{blocks}");
    assert_eq!(blocks[0]["blocked"], true);
    assert_eq!(blocks[0]["institution_name"], "架空内科クリニック");
    let (c, status) = code(
        clinic
            .medical_information("medications", &medical_request(1))
            .await
            .unwrap_err(),
    );
    assert_eq!((c.as_str(), status), ("institution_blocked", 403));
    let e = one_more(&me, &mut seen, "medical_information", "refused").await;
    assert!(
        e["outcome_label"].as_str().unwrap().contains("ブロック"),
        "{e}"
    );
    // Eligibility still works for the blocked clinic: care is never refused.
    clinic.check(&numbers(1)).await.unwrap();
    one_more(&me, &mut seen, "eligibility_by_numbers", "answered").await;
    me.post(
        "/portal/api/blocks",
        json!({"institution_code": clinic_code, "blocked": false}),
    )
    .await;
    clinic
        .medical_information("medications", &medical_request(1))
        .await
        .unwrap();
    one_more(&me, &mut seen, "medical_information", "disclosed").await;

    // Opting out of all sharing refuses every view; opting in again restores it.
    let (status, s) = me
        .post("/portal/api/sharing", json!({"opted_out": true}))
        .await;
    assert_eq!((status, s["opted_out"].as_bool()), (200, Some(true)));
    let (c, _) = code(
        clinic
            .medical_information("medications", &medical_request(1))
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "sharing_opted_out");
    one_more(&me, &mut seen, "medical_information", "refused").await;
    me.post("/portal/api/sharing", json!({"opted_out": false}))
        .await;

    // Withdrawing the consent refuses the next view.
    let (status, consents) = me
        .post(
            "/portal/api/consents/withdraw",
            json!({"institution_code": clinic_code, "category": "medications"}),
        )
        .await;
    assert_eq!(status, 200, "{consents}");
    let states: Vec<&str> = consents
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["category"] == "medications")
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["withdrawn", "withdrawn"],
        "the withdrawal and the consent it ended"
    );
    let (c, _) = code(
        clinic
            .medical_information("medications", &medical_request(1))
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "consent_withdrawn");
    one_more(&me, &mut seen, "medical_information", "refused").await;

    // Bad control input changes nothing.
    for (path, body, want) in [
        (
            "/portal/api/blocks",
            json!({"institution_code": "123", "blocked": true}),
            "invalid_institution_code",
        ),
        (
            "/portal/api/blocks",
            json!({"institution": clinic_code}),
            "invalid_json",
        ),
        (
            "/portal/api/consents/withdraw",
            json!({"institution_code": clinic_code, "category": "x"}),
            "invalid_category",
        ),
        (
            "/portal/api/sharing",
            json!({"opted_out": "yes"}),
            "invalid_json",
        ),
    ] {
        let (status, e) = me.post(path, body).await;
        assert_eq!((status, e["code"].as_str()), (400, Some(want)), "{path}");
    }
    let (_, blocks) = me.get("/portal/api/blocks").await;
    assert_eq!(blocks.as_array().unwrap().len(), 1);

    // The export holds everything shown.
    let (status, export) = me.get("/portal/api/export").await;
    assert_eq!(status, 200);
    assert_eq!(export["access_log"].as_array().unwrap().len(), seen);
    assert_eq!(export["qualifications"][0]["name"], "番号\u{3000}一郎");
    assert!(export["medical"]["medications"].is_object());
    let (status, notice) = me.get("/portal/notice").await;
    assert_eq!(status, 200);
    let notice = notice.as_str().unwrap().to_string();
    assert!(notice.contains("資格情報のお知らせ") && notice.contains("番号\u{3000}一郎"));

    // Sessions cannot be forged, moved to another person or outlived.
    let token = me.cookie.clone().unwrap();
    let value = token.split_once('=').unwrap().1.to_string();
    let (body, mac) = value.split_once('.').unwrap();
    let mut forged = Patient::new(&w);
    let flipped: String = body.chars().rev().collect::<String>();
    let expired = w
        .services
        .nonces
        .sign_session("someone", Timestamp::from_unix_millis(0));
    for bad in [
        format!("{body}.{}", "0".repeat(64)),
        format!("{flipped}.{mac}"),
        expired,
        "garbage".to_string(),
    ] {
        forged.cookie = Some(format!("kakunin_portal={bad}"));
        let (status, _) = forged.get("/portal/api/me").await;
        assert_eq!(status, 401, "{bad}");
    }
    let (status, _, cleared) = me
        .send(reqwest::Method::POST, "/portal/api/logout", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(cleared.as_deref(), Some("kakunin_portal="));
}

fn person(
    name: &str,
    sex: &str,
    birth: &str,
    address: Option<&str>,
) -> kakunin_api::EmergencyPerson {
    kakunin_api::EmergencyPerson {
        name: Some(name.into()),
        sex: Some(sex.into()),
        birthdate: birth.into(),
        address: address.map(Into::into),
        insurer_number: None,
        symbol: None,
        number: None,
        branch: None,
    }
}

fn emergency(p: kakunin_api::EmergencyPerson, consent: &str) -> kakunin_api::EmergencyRequest {
    kakunin_api::EmergencyRequest {
        person: p,
        consent: consent.into(),
    }
}

/// 災害時モード: refused outside a declaration, inside one only for institutions of the area,
/// only when the attributes name one person (no candidate list), flagged in the person's log;
/// a declaration ends by itself or early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_access_only_inside_a_declared_area_and_period() {
    let w = world().await;
    let report = w
        .import(format!(
            "{HEADER}\n{}\n{}\n{KENPO},30,300,00,1,番号 三郎,ﾊﾞﾝｺﾞｳ ｻﾌﾞﾛｳ,1,19900303,20200401,,,01,030,架空健康保険組合,大阪府大阪市北区1-1,\n",
            row(1, "10", Some(1), "20200401", ""),
            row(3, "10", Some(3), "20200401", ""),
        ))
        .await;
    assert!(report.accepted, "{report:?}");
    let card = w.issue_card(1, None);
    w.register(&card).await;
    let tokyo = w.client(&w.institution);
    let osaka_pem =
        w.ca.issue(
            &kakunin_central::pki::Role::parse("institution", &institution_code("271000001"))
                .unwrap(),
        )
        .unwrap()
        .into_bytes();
    let osaka = w.client(&osaka_pem);
    let admin = w.client(&w.admin);
    let ichiro = || emergency(person("番号一郎", "1", "19800101", None), "verbal");

    // No declaration: refused and logged.
    let logged = w.store.counts().await.unwrap().access_log;
    let (c, status) = code(tokyo.emergency_check(&ichiro()).await.unwrap_err());
    assert_eq!((c.as_str(), status), ("emergency_not_declared", 403));
    assert_eq!(w.store.counts().await.unwrap().access_log, logged + 1);

    // Declarations with bad input are refused.
    let now = kakunin_central::service::now();
    let at = |hours: i64| {
        Timestamp::from_unix_millis(now.unix_millis() + hours * 3_600_000).jst_compact()
    };
    for (areas, ends, want) in [
        (vec!["99"], at(24), "invalid_areas"),
        (vec!["1310"], at(24), "invalid_areas"),
        (vec!["13"], at(-1), "invalid_period"),
        (vec!["13"], at(24 * 31), "invalid_period"),
    ] {
        let (c, status) = code(
            admin
                .declare_emergency(&kakunin_api::DeclarationRequest {
                    areas: areas.into_iter().map(Into::into).collect(),
                    starts_at: None,
                    ends_at: ends,
                    reason: "令和8年架空地震".into(),
                })
                .await
                .unwrap_err(),
        );
        assert_eq!((c.as_str(), status), (want, 400));
    }
    let (c, status) = code(
        tokyo
            .declare_emergency(&kakunin_api::DeclarationRequest {
                areas: vec!["13".into()],
                starts_at: None,
                ends_at: at(24),
                reason: "x".into(),
            })
            .await
            .unwrap_err(),
    );
    assert_eq!((c.as_str(), status), ("forbidden_role", 403));

    // Tokyo is declared for a day.
    let declared = admin
        .declare_emergency(&kakunin_api::DeclarationRequest {
            areas: vec!["13".into()],
            starts_at: None,
            ends_at: at(24),
            reason: "令和8年架空地震".into(),
        })
        .await
        .unwrap();
    assert!(declared.active);
    let answer = tokyo.emergency_check(&ichiro()).await.unwrap();
    assert_eq!(answer.validity, "1");
    assert_eq!(answer.results[0].name, "番号\u{3000}一郎");
    let newest = &w.store.recent_access(1).await.unwrap()[0].entry;
    assert_eq!(
        (newest.purpose.code(), newest.processing_code.as_str()),
        ("emergency_check", "emergency_verbal")
    );
    // Medical information without consent, life protection.
    let info = tokyo
        .emergency_medical(
            "medications",
            &emergency(
                person("番号 一郎", "1", "19800101", None),
                "life_protection",
            ),
        )
        .await
        .unwrap();
    assert_eq!(info.category, "medications");
    let newest = &w.store.recent_access(1).await.unwrap()[0].entry;
    assert_eq!(newest.information.unwrap().basis.code(), "emergency");
    // Outside the area: refused.
    let (c, status) = code(osaka.emergency_check(&ichiro()).await.unwrap_err());
    assert_eq!((c.as_str(), status), ("emergency_not_declared", 403));
    // Too few attributes, a bad consent ground, nobody, two people: refused, no list.
    let mut nameless = person("", "1", "19800101", None);
    nameless.name = None;
    let (c, status) = code(
        tokyo
            .emergency_check(&emergency(nameless, "verbal"))
            .await
            .unwrap_err(),
    );
    assert_eq!((c.as_str(), status), ("attributes_required", 400));
    let (c, status) = code(
        tokyo
            .emergency_check(&emergency(
                person("番号一郎", "1", "19800101", None),
                "maybe",
            ))
            .await
            .unwrap_err(),
    );
    assert_eq!((c.as_str(), status), ("invalid_consent", 400));
    let (c, status) = code(
        tokyo
            .emergency_check(&emergency(
                person("番号一郎", "2", "19800101", None),
                "verbal",
            ))
            .await
            .unwrap_err(),
    );
    assert_eq!((c.as_str(), status), ("qualification_not_found", 404));
    let two = tokyo
        .emergency_check(&emergency(
            person("番号 三郎", "1", "19900303", None),
            "verbal",
        ))
        .await
        .unwrap_err();
    let text = format!("{two}");
    assert!(!text.contains("大阪"), "no candidate leaks: {text}");
    let (c, status) = code(two);
    assert_eq!((c.as_str(), status), ("multiple_matches", 409));
    // The address narrows it to one.
    let one = tokyo
        .emergency_check(&emergency(
            person("番号三郎", "1", "19900303", Some("東京都千代田区")),
            "verbal",
        ))
        .await
        .unwrap();
    assert_eq!(one.results[0].address.as_deref(), Some(ADDRESS));

    // The person sees the emergency accesses flagged in the portal.
    let mut me = Patient::new(&w);
    assert_eq!(me.login(&card).await.0, 200);
    let log = me.log().await;
    let flagged: Vec<&str> = log
        .iter()
        .filter(|e| e["basis"] == "emergency")
        .map(|e| e["basis_label"].as_str().unwrap())
        .collect();
    assert_eq!(
        flagged,
        ["災害時（同意なし・生命保護）", "災害時（口頭で同意）"],
        "{log:#?}"
    );

    // Ended early: refused again; the list says so.
    admin.end_emergency(declared.id).await.unwrap();
    assert!(
        admin.end_emergency(declared.id).await.is_err(),
        "ended once"
    );
    let (c, _) = code(tokyo.emergency_check(&ichiro()).await.unwrap_err());
    assert_eq!(c, "emergency_not_declared");
    let list = admin.emergencies().await.unwrap();
    assert!(!list[0].active && list[0].ended_at.is_some());
}
