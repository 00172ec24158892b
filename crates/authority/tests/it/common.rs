//! The shared authority and helpers to fill it.

use kakunin_authority::{Authority, IssueRequest, IssuedCard, Resident};
use kakunin_domain::{Date, IndividualNumber, Sex};
use std::path::PathBuf;
use std::sync::OnceLock;

pub struct Fixture {
    pub dir: PathBuf,
    pub authority: Authority,
}

/// The authority every test uses, created fresh once per test run.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kakunin-authority-it");
        let _ = std::fs::remove_dir_all(&dir);
        let authority = Authority::open_or_init(&dir).expect("initialising the test authority");
        Fixture { dir, authority }
    })
}

pub fn authority() -> &'static Authority {
    &fixture().authority
}

/// The 個人番号 completing an 11-digit body. Each test module uses its own first digits.
pub fn number(body: &str) -> IndividualNumber {
    IndividualNumber::from_body(body).unwrap()
}

pub fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

pub fn resident(
    body: &str,
    name: &str,
    kana: &str,
    birth: &str,
    sex: Sex,
    address: &str,
) -> Resident {
    Resident {
        individual_number: number(body),
        name: name.into(),
        name_kana: kana.into(),
        birthdate: date(birth),
        sex,
        address: address.into(),
    }
}

/// A resident registered in the shared authority.
pub fn registered(body: &str) -> Resident {
    let r = resident(
        body,
        "試験　花子",
        "シケン　ハナコ",
        "19850417",
        Sex::Female,
        "東京都千代田区霞が関１－２－２",
    );
    authority()
        .register_residents(std::slice::from_ref(&r))
        .unwrap();
    r
}

pub fn issue(number: &IndividualNumber) -> IssuedCard {
    authority()
        .issue_card(&IssueRequest::new(number.clone(), "1234"))
        .unwrap()
}
