//! The kiosk flow (the face-authentication card reader's screens):
//!
//! ① カードを置く → ② 本人確認方法の選択 (顔認証 / 暗証番号 / 終了) → ③ 暗証番号 (or 顔認証, or staff
//! 目視確認) → the check → ④ 診療・お薬情報の提供同意, then 健診情報 (only from age 40) → ⑤ 確認完了
//! (with "高額療養費制度を利用する方はこちら") → ⑥ 限度額情報の提供 → 完了.
//!
//! Invariants: every action names the screen it was pressed on (`seq`), so a double tap or a
//! late tap from a screen already left does nothing; removing the card cancels at any step and
//! forgets everything of the visit; the PIN is held only until it goes to the card
//! ([`Effect::VerifyPinAndCheck`]) and is never part of a [`Screen`]; the consent screens are
//! shown only after the check answered (the age decides the 健診 question); 顔認証 is tried at
//! most twice per visit, then only 暗証番号 or 目視確認 are offered.

use serde::Serialize;

/// Digits of the card's user-auth PIN.
pub const PIN_DIGITS: usize = 4;

/// What the kiosk shows. Serialised for the kiosk page as `{"screen": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    /// ① マイナンバーカードを置いてください。
    WaitingForCard,
    /// Reading the card or waiting for the central (お待ちください).
    Working,
    /// ② 本人確認の方法を選んでください。 `face` is offered when a face matcher is set up (and
    /// not after two failed comparisons: `face_failed`), `visual` (目視確認 by staff) when the
    /// terminal can attest it.
    ChooseMethod {
        face: bool,
        visual: bool,
        face_failed: bool,
    },
    /// 顔認証: カメラに顔を向けてください. The camera frame is compared with the card's photo on
    /// this terminal and used for nothing else (the screen says so). `attempt` is 1 or 2.
    FaceCapture { attempt: u8 },
    /// The first comparison did not match (or found no face): 撮影し直す, or 暗証番号 / 目視.
    FaceRetry { visual: bool, no_face: bool },
    /// ③ 暗証番号を入力してください。 `entered` digits shown masked (●).
    Pin {
        entered: u8,
        /// Tries left before the card locks, when the card said (after a wrong PIN, or ≤ 2).
        tries_left: Option<u8>,
        /// The previous PIN was wrong.
        wrong: bool,
    },
    /// 目視確認: staff compare the patient with the card's photo (confirmed on the console).
    WaitingForStaff,
    /// ④ 過去の診療・お薬情報を当機関に提供することに同意しますか。
    ConsentMedical,
    /// ④ (40歳以上) 過去の健診情報を当機関に提供することに同意しますか。
    ConsentCheckups,
    /// ⑤ ●●様 確認が完了しました。 With the "高額療養費制度を利用する方はこちら" button.
    Done { name: String },
    /// ⑥ 限度額情報を提供しますか。
    ConsentLimit,
    /// ⑥ の後: 完了しました。マイナンバーカードを取り出し、待合室でお待ちください。
    Finished { name: String },
    /// The PIN is locked (too many wrong tries): 市区町村の窓口で再設定.
    Locked,
    /// The card could not be read (not a My Number card, a bad contact): 置き直してください.
    CardError,
    /// The card's certificate has expired (or is revoked or suspended): 市区町村の窓口へ.
    CertificateInvalid { reason: CertificateProblem },
    /// The card is not registered for insurance use: 利用登録 prompt.
    RegistrationPrompt,
    /// The central did not answer: 受付にお声かけください (staff see what to do).
    CentralUnavailable,
    /// The central could not be reached, but the card was verified (PIN, or staff 目視確認)
    /// and the visit recorded on the terminal, to be checked when the central is back
    /// (要後日確認): カードを取り出し、受付にお声かけください.
    RecordedOffline,
    /// The patient chose 終了, or the visit was cancelled: カードを取り出してください.
    Cancelled,
}

/// Why a card's certificate is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateProblem {
    Expired,
    Revoked,
    Suspended,
}

/// How the patient proves they hold the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Face,
    Pin,
    /// 目視確認 by staff.
    Visual,
}

/// What the patient (or staff) did, on the screen numbered `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Choose(Method),
    /// 終了する / キャンセル.
    Quit,
    Digit(u8),
    /// Deletes the last digit.
    Backspace,
    /// 同意する (true) / 同意しない (false) on ④, 提供する / 提供しない on ⑥.
    Answer(bool),
    /// ⑤ 高額療養費制度を利用する方はこちら.
    WantLimit,
    /// Staff confirmed the patient against the card's photo (目視確認).
    StaffConfirmed,
    /// Staff could not confirm: the visit ends.
    StaffRejected,
}

/// What the card reader or the central reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The card's certificate was read (no PIN needed), with the PIN tries left (read without
    /// consuming one).
    CardRead { tries_left: u8 },
    /// The card could not be read or is not a My Number card.
    CardUnreadable,
    /// The check answered: the holder's name and whether they are 40 or older today.
    Checked { name: String, age_40_plus: bool },
    /// The PIN was wrong; the card says how many tries are left.
    WrongPin { tries_left: u8 },
    /// The card's PIN is locked.
    PinLocked,
    /// The central refused the certificate.
    Certificate(CertificateProblem),
    /// The card is not registered for insurance use (利用登録).
    RegistrationRequired,
    /// The central could not be reached or failed.
    CentralFailed,
    /// The camera frame and the card's photo are not the same person.
    FaceMismatch,
    /// No face could be compared: none in the frame, the camera gave no frame, or the card's
    /// photo could not be read.
    FaceUnavailable,
    /// The central could not be reached; the visit was recorded for a later check.
    RecordedOffline,
    /// Consents were recorded.
    ConsentsSaved,
}

/// Something the driver must do (card I/O, a central call), reporting back an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Read the card's certificate and tries-left counter.
    ReadCard,
    /// Verify the PIN on the card, sign a nonce and check eligibility.
    VerifyPinAndCheck { pin: String },
    /// Read the card's photo, take a camera frame, compare them on the terminal and, when they
    /// match, check eligibility with the terminal's attestation of it.
    MatchFaceAndCheck,
    /// Ask staff for a 目視確認 (shown on the console).
    AskStaff,
    /// Check eligibility with the terminal's attestation of the staff's 目視確認.
    CheckVisual,
    /// Record these consents with a fresh card proof (`POST /v1/card-consents`).
    SaveConsents { categories: Vec<&'static str> },
    /// Forget everything of this visit (the card left the reader).
    Forget,
}

/// The kiosk: its screen, what it holds of the current visit, and the screen number actions
/// must carry.
#[derive(Debug, Clone)]
pub struct Kiosk {
    screen: Screen,
    seq: u64,
    face_available: bool,
    visual_available: bool,
    /// Failed face comparisons in this visit (two end the offer).
    face_failures: u8,
    pin: String,
    tries_left: Option<u8>,
    name: String,
    age_40_plus: bool,
    medical: bool,
    /// ⑥ was answered 提供する: the consents being saved are the last step.
    limit_given: bool,
}

impl Default for Kiosk {
    /// PIN only: no face matcher, no device key for staff 目視確認.
    fn default() -> Self {
        Self::new(false, false)
    }
}

impl Kiosk {
    /// A kiosk waiting for a card; `face_available` when a face matcher is configured,
    /// `visual_available` when staff 目視確認 can be attested (the terminal has a device key).
    pub fn new(face_available: bool, visual_available: bool) -> Self {
        Self {
            screen: Screen::WaitingForCard,
            seq: 0,
            face_available,
            visual_available,
            face_failures: 0,
            pin: String::new(),
            tries_left: None,
            name: String::new(),
            age_40_plus: false,
            medical: false,
            limit_given: false,
        }
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// The number of the current screen: actions must carry it.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    fn show(&mut self, screen: Screen) {
        self.screen = screen;
        self.seq += 1;
    }

    fn forget(&mut self) {
        self.face_failures = 0;
        self.pin.clear();
        self.tries_left = None;
        self.name.clear();
        self.age_40_plus = false;
        self.medical = false;
        self.limit_given = false;
    }

    /// A card was placed on the reader.
    pub fn card_inserted(&mut self) -> Vec<Effect> {
        self.forget();
        self.show(Screen::Working);
        vec![Effect::ReadCard]
    }

    /// The card left the reader: whatever the step, the visit ends and nothing of it is kept.
    pub fn card_removed(&mut self) -> Vec<Effect> {
        self.forget();
        self.show(Screen::WaitingForCard);
        vec![Effect::Forget]
    }

    /// An action pressed on screen `seq`; an action from another screen (a double tap, a late
    /// tap) does nothing.
    pub fn act(&mut self, seq: u64, action: Action) -> Vec<Effect> {
        if seq != self.seq {
            return vec![];
        }
        match (&self.screen, action) {
            (Screen::ChooseMethod { .. }, Action::Choose(Method::Pin)) => {
                self.pin.clear();
                self.show(Screen::Pin {
                    entered: 0,
                    tries_left: self.tries_left.filter(|&t| t <= 2),
                    wrong: false,
                });
                vec![]
            }
            (
                Screen::ChooseMethod { face: true, .. } | Screen::FaceRetry { .. },
                Action::Choose(Method::Face),
            ) => {
                self.show(Screen::FaceCapture {
                    attempt: self.face_failures + 1,
                });
                vec![Effect::MatchFaceAndCheck]
            }
            (Screen::FaceRetry { .. }, Action::Choose(Method::Pin)) => {
                self.pin.clear();
                self.show(Screen::Pin {
                    entered: 0,
                    tries_left: self.tries_left.filter(|&t| t <= 2),
                    wrong: false,
                });
                vec![]
            }
            (Screen::FaceRetry { visual: true, .. }, Action::Choose(Method::Visual)) => {
                self.show(Screen::WaitingForStaff);
                vec![Effect::AskStaff]
            }
            (Screen::ChooseMethod { visual: true, .. }, Action::Choose(Method::Visual)) => {
                self.show(Screen::WaitingForStaff);
                vec![Effect::AskStaff]
            }
            (
                Screen::ChooseMethod { .. } | Screen::Pin { .. } | Screen::FaceRetry { .. },
                Action::Quit,
            ) => {
                self.forget();
                self.show(Screen::Cancelled);
                vec![]
            }
            (Screen::Pin { tries_left, .. }, Action::Digit(d)) if d <= 9 => {
                if self.pin.len() >= PIN_DIGITS {
                    return vec![];
                }
                let tries_left = *tries_left;
                self.pin.push(char::from(b'0' + d));
                if self.pin.len() < PIN_DIGITS {
                    self.show(Screen::Pin {
                        entered: self.pin.len() as u8,
                        tries_left,
                        wrong: false,
                    });
                    return vec![];
                }
                let pin = std::mem::take(&mut self.pin);
                self.show(Screen::Working);
                vec![Effect::VerifyPinAndCheck { pin }]
            }
            (Screen::Pin { tries_left, .. }, Action::Backspace) => {
                let tries_left = *tries_left;
                self.pin.pop();
                self.show(Screen::Pin {
                    entered: self.pin.len() as u8,
                    tries_left,
                    wrong: false,
                });
                vec![]
            }
            (Screen::WaitingForStaff, Action::StaffConfirmed) => {
                self.show(Screen::Working);
                vec![Effect::CheckVisual]
            }
            (Screen::WaitingForStaff, Action::StaffRejected) => {
                self.forget();
                self.show(Screen::Cancelled);
                vec![]
            }
            (Screen::ConsentMedical, Action::Answer(yes)) => {
                self.medical = yes;
                if self.age_40_plus {
                    self.show(Screen::ConsentCheckups);
                    vec![]
                } else {
                    self.save(false)
                }
            }
            (Screen::ConsentCheckups, Action::Answer(yes)) => self.save(yes),
            (Screen::Done { .. }, Action::WantLimit) => {
                self.show(Screen::ConsentLimit);
                vec![]
            }
            (Screen::ConsentLimit, Action::Answer(true)) => {
                self.limit_given = true;
                self.show(Screen::Working);
                vec![Effect::SaveConsents {
                    categories: vec!["limit"],
                }]
            }
            (Screen::ConsentLimit, Action::Answer(false)) => {
                let name = self.name.clone();
                self.show(Screen::Finished { name });
                vec![]
            }
            _ => vec![],
        }
    }

    /// Sends the ④ answers (診療・お薬 covers medications, treatments and surgeries), or goes
    /// straight to ⑤ when nothing was consented.
    fn save(&mut self, checkups: bool) -> Vec<Effect> {
        let mut categories = Vec::new();
        if self.medical {
            categories.extend(["medications", "treatments", "surgeries"]);
        }
        if checkups {
            categories.push("checkups");
        }
        if categories.is_empty() {
            let name = self.name.clone();
            self.show(Screen::Done { name });
            return vec![];
        }
        self.show(Screen::Working);
        vec![Effect::SaveConsents { categories }]
    }

    /// The result of an effect. Results that arrive after the visit moved on (the card was
    /// removed meanwhile) are ignored: only the `Working` screen waits for one, except a card
    /// read, which the choice screen needs.
    pub fn outcome(&mut self, outcome: Outcome) -> Vec<Effect> {
        if !matches!(self.screen, Screen::Working | Screen::FaceCapture { .. }) {
            return vec![];
        }
        match outcome {
            Outcome::CardRead { tries_left: 0 } => {
                self.forget();
                self.show(Screen::Locked);
            }
            Outcome::CardRead { tries_left } => {
                self.tries_left = Some(tries_left);
                self.show(Screen::ChooseMethod {
                    face: self.face_available,
                    visual: self.visual_available,
                    face_failed: false,
                });
            }
            Outcome::FaceMismatch | Outcome::FaceUnavailable => {
                self.face_failures += 1;
                if self.face_failures >= 2 {
                    self.show(Screen::ChooseMethod {
                        face: false,
                        visual: self.visual_available,
                        face_failed: true,
                    });
                } else {
                    self.show(Screen::FaceRetry {
                        visual: self.visual_available,
                        no_face: outcome == Outcome::FaceUnavailable,
                    });
                }
            }
            Outcome::CardUnreadable => self.show(Screen::CardError),
            Outcome::WrongPin { tries_left } => {
                self.tries_left = Some(tries_left);
                self.show(Screen::Pin {
                    entered: 0,
                    tries_left: Some(tries_left),
                    wrong: true,
                });
            }
            Outcome::PinLocked => {
                self.forget();
                self.show(Screen::Locked);
            }
            Outcome::Checked { name, age_40_plus } => {
                self.name = name;
                self.age_40_plus = age_40_plus;
                self.show(Screen::ConsentMedical);
            }
            Outcome::Certificate(reason) => {
                self.forget();
                self.show(Screen::CertificateInvalid { reason });
            }
            Outcome::RegistrationRequired => {
                self.forget();
                self.show(Screen::RegistrationPrompt);
            }
            Outcome::CentralFailed => self.show(Screen::CentralUnavailable),
            Outcome::RecordedOffline => {
                // No consent screens: nothing can be shown from the central until it is back.
                self.forget();
                self.show(Screen::RecordedOffline);
            }
            Outcome::ConsentsSaved => {
                let name = self.name.clone();
                // The ⑥ answer is the last step; ④'s leads to ⑤.
                if self.limit_given {
                    self.show(Screen::Finished { name });
                } else {
                    self.show(Screen::Done { name });
                }
            }
        }
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(k: &mut Kiosk, a: Action) -> Vec<Effect> {
        let seq = k.seq();
        k.act(seq, a)
    }

    fn pin(k: &mut Kiosk, digits: &str) -> Vec<Effect> {
        let mut last = vec![];
        for d in digits.bytes() {
            last = press(k, Action::Digit(d - b'0'));
        }
        last
    }

    /// ① → ③ with a right PIN, up to the check.
    fn to_check(k: &mut Kiosk) {
        assert_eq!(k.card_inserted(), vec![Effect::ReadCard]);
        assert_eq!(k.screen(), &Screen::Working);
        k.outcome(Outcome::CardRead { tries_left: 3 });
        assert_eq!(
            k.screen(),
            &Screen::ChooseMethod {
                face: false,
                visual: true,
                face_failed: false,
            },
            "顔認証 is hidden without a face matcher; staff 目視確認 is offered"
        );
        press(k, Action::Choose(Method::Pin));
        assert_eq!(
            pin(k, "1234"),
            vec![Effect::VerifyPinAndCheck { pin: "1234".into() }]
        );
    }

    #[test]
    fn an_outage_after_the_pin_records_the_visit_without_consents() {
        let mut k = Kiosk::new(false, true);
        to_check(&mut k);
        assert_eq!(k.outcome(Outcome::RecordedOffline), vec![]);
        assert_eq!(k.screen(), &Screen::RecordedOffline);
        // Nothing of the visit is left to act on: late answers and taps do nothing.
        let seq = k.seq();
        assert_eq!(k.act(seq, Action::Answer(true)), vec![]);
        assert_eq!(k.outcome(Outcome::ConsentsSaved), vec![]);
        assert_eq!(k.screen(), &Screen::RecordedOffline);
        assert_eq!(k.card_removed(), vec![Effect::Forget]);
        assert_eq!(k.screen(), &Screen::WaitingForCard);
    }

    #[test]
    fn pin_path_with_every_consent_and_the_limit() {
        let mut k = Kiosk::new(false, true);
        to_check(&mut k);
        k.outcome(Outcome::Checked {
            name: "番号　一郎".into(),
            age_40_plus: true,
        });
        assert_eq!(k.screen(), &Screen::ConsentMedical);
        press(&mut k, Action::Answer(true));
        assert_eq!(k.screen(), &Screen::ConsentCheckups);
        assert_eq!(
            press(&mut k, Action::Answer(true)),
            vec![Effect::SaveConsents {
                categories: vec!["medications", "treatments", "surgeries", "checkups"]
            }]
        );
        k.outcome(Outcome::ConsentsSaved);
        assert_eq!(
            k.screen(),
            &Screen::Done {
                name: "番号　一郎".into()
            }
        );
        press(&mut k, Action::WantLimit);
        assert_eq!(k.screen(), &Screen::ConsentLimit);
        assert_eq!(
            press(&mut k, Action::Answer(true)),
            vec![Effect::SaveConsents {
                categories: vec!["limit"]
            }]
        );
        k.outcome(Outcome::ConsentsSaved);
        assert_eq!(
            k.screen(),
            &Screen::Finished {
                name: "番号　一郎".into()
            }
        );
        assert_eq!(k.card_removed(), vec![Effect::Forget]);
        assert_eq!(k.screen(), &Screen::WaitingForCard);
    }

    #[test]
    fn under_40_never_sees_the_checkup_question() {
        let mut k = Kiosk::new(false, true);
        to_check(&mut k);
        k.outcome(Outcome::Checked {
            name: "若者".into(),
            age_40_plus: false,
        });
        assert_eq!(
            press(&mut k, Action::Answer(true)),
            vec![Effect::SaveConsents {
                categories: vec!["medications", "treatments", "surgeries"]
            }]
        );
    }

    #[test]
    fn refusing_everything_records_nothing() {
        let mut k = Kiosk::new(false, true);
        to_check(&mut k);
        k.outcome(Outcome::Checked {
            name: "拒否".into(),
            age_40_plus: true,
        });
        press(&mut k, Action::Answer(false));
        assert_eq!(press(&mut k, Action::Answer(false)), vec![]);
        assert_eq!(
            k.screen(),
            &Screen::Done {
                name: "拒否".into()
            }
        );
        press(&mut k, Action::WantLimit);
        assert_eq!(press(&mut k, Action::Answer(false)), vec![]);
        assert_eq!(
            k.screen(),
            &Screen::Finished {
                name: "拒否".into()
            }
        );
    }

    #[test]
    fn wrong_pin_shows_tries_left_then_locks() {
        let mut k = Kiosk::new(false, true);
        to_check(&mut k);
        k.outcome(Outcome::WrongPin { tries_left: 2 });
        assert_eq!(
            k.screen(),
            &Screen::Pin {
                entered: 0,
                tries_left: Some(2),
                wrong: true
            }
        );
        pin(&mut k, "0000");
        k.outcome(Outcome::WrongPin { tries_left: 1 });
        pin(&mut k, "1111");
        k.outcome(Outcome::PinLocked);
        assert_eq!(k.screen(), &Screen::Locked);
    }

    #[test]
    fn the_pin_pad_masks_corrects_and_ignores_mashing() {
        let mut k = Kiosk::new(false, true);
        k.card_inserted();
        k.outcome(Outcome::CardRead { tries_left: 3 });
        press(&mut k, Action::Choose(Method::Pin));
        pin(&mut k, "12");
        press(&mut k, Action::Backspace);
        assert_eq!(
            k.screen(),
            &Screen::Pin {
                entered: 1,
                tries_left: None,
                wrong: false
            }
        );
        let json = serde_json::to_string(k.screen()).unwrap();
        assert_eq!(
            json,
            r#"{"screen":"pin","entered":1,"tries_left":null,"wrong":false}"#
        );
        // Digits out of range and taps on an old screen do nothing.
        assert_eq!(press(&mut k, Action::Digit(10)), vec![]);
        let stale = k.seq() - 1;
        assert_eq!(k.act(stale, Action::Digit(5)), vec![]);
        assert_eq!(
            pin(&mut k, "999"),
            vec![Effect::VerifyPinAndCheck { pin: "1999".into() }]
        );
        // Mashing while the card works: nothing is sent twice.
        assert_eq!(pin(&mut k, "5555"), vec![]);
    }

    #[test]
    fn double_taps_record_once() {
        let mut k = Kiosk::new(false, true);
        to_check(&mut k);
        k.outcome(Outcome::Checked {
            name: "二度押し".into(),
            age_40_plus: false,
        });
        let seq = k.seq();
        let first = k.act(seq, Action::Answer(true));
        let second = k.act(seq, Action::Answer(true));
        assert_eq!(first.len(), 1);
        assert_eq!(
            second,
            vec![],
            "the second tap came from a screen already left"
        );
    }

    #[test]
    fn removing_the_card_cancels_at_any_step_and_late_results_are_ignored() {
        let mut k = Kiosk::new(false, true);
        to_check(&mut k);
        k.card_removed();
        assert_eq!(k.screen(), &Screen::WaitingForCard);
        // The check's answer arrives after the card left: not shown.
        k.outcome(Outcome::Checked {
            name: "遅い".into(),
            age_40_plus: true,
        });
        assert_eq!(k.screen(), &Screen::WaitingForCard);
    }

    #[test]
    fn a_card_with_few_tries_left_warns_and_a_locked_one_stops() {
        let mut k = Kiosk::new(false, true);
        k.card_inserted();
        k.outcome(Outcome::CardRead { tries_left: 2 });
        press(&mut k, Action::Choose(Method::Pin));
        assert_eq!(
            k.screen(),
            &Screen::Pin {
                entered: 0,
                tries_left: Some(2),
                wrong: false
            }
        );
        let mut k = Kiosk::new(false, true);
        k.card_inserted();
        k.outcome(Outcome::CardRead { tries_left: 0 });
        assert_eq!(k.screen(), &Screen::Locked);
    }

    #[test]
    fn error_screens() {
        for (outcome, screen) in [
            (Outcome::CardUnreadable, Screen::CardError),
            (
                Outcome::Certificate(CertificateProblem::Expired),
                Screen::CertificateInvalid {
                    reason: CertificateProblem::Expired,
                },
            ),
            (Outcome::RegistrationRequired, Screen::RegistrationPrompt),
            (Outcome::CentralFailed, Screen::CentralUnavailable),
        ] {
            let mut k = Kiosk::new(false, true);
            k.card_inserted();
            k.outcome(outcome);
            assert_eq!(k.screen(), &screen);
        }
    }

    #[test]
    fn visual_check_waits_for_staff() {
        let mut k = Kiosk::new(false, true);
        k.card_inserted();
        k.outcome(Outcome::CardRead { tries_left: 3 });
        assert_eq!(
            press(&mut k, Action::Choose(Method::Visual)),
            vec![Effect::AskStaff]
        );
        assert_eq!(k.screen(), &Screen::WaitingForStaff);
        assert_eq!(
            press(&mut k, Action::StaffConfirmed),
            vec![Effect::CheckVisual]
        );
        k.outcome(Outcome::Checked {
            name: "目視".into(),
            age_40_plus: false,
        });
        assert_eq!(k.screen(), &Screen::ConsentMedical);
        // Face is not offered (no matcher), so choosing it does nothing.
        let mut k = Kiosk::new(false, true);
        k.card_inserted();
        k.outcome(Outcome::CardRead { tries_left: 3 });
        assert_eq!(press(&mut k, Action::Choose(Method::Face)), vec![]);
        assert_eq!(press(&mut k, Action::Quit), vec![]);
        assert_eq!(k.screen(), &Screen::Cancelled);
    }

    fn to_face(k: &mut Kiosk) {
        k.card_inserted();
        k.outcome(Outcome::CardRead { tries_left: 3 });
        assert_eq!(
            k.screen(),
            &Screen::ChooseMethod {
                face: true,
                visual: k.visual_available,
                face_failed: false,
            }
        );
        assert_eq!(
            press(k, Action::Choose(Method::Face)),
            vec![Effect::MatchFaceAndCheck]
        );
        assert_eq!(k.screen(), &Screen::FaceCapture { attempt: 1 });
    }

    #[test]
    fn face_match_leads_to_the_consents() {
        let mut k = Kiosk::new(true, true);
        to_face(&mut k);
        // A double tap while the camera works does nothing.
        assert_eq!(press(&mut k, Action::Choose(Method::Face)), vec![]);
        k.outcome(Outcome::Checked {
            name: "顔　花子".into(),
            age_40_plus: false,
        });
        assert_eq!(k.screen(), &Screen::ConsentMedical);
    }

    #[test]
    fn two_failed_faces_offer_pin_or_staff_only() {
        let mut k = Kiosk::new(true, true);
        to_face(&mut k);
        k.outcome(Outcome::FaceMismatch);
        assert_eq!(
            k.screen(),
            &Screen::FaceRetry {
                visual: true,
                no_face: false
            }
        );
        assert_eq!(
            press(&mut k, Action::Choose(Method::Face)),
            vec![Effect::MatchFaceAndCheck]
        );
        assert_eq!(k.screen(), &Screen::FaceCapture { attempt: 2 });
        k.outcome(Outcome::FaceUnavailable);
        assert_eq!(
            k.screen(),
            &Screen::ChooseMethod {
                face: false,
                visual: true,
                face_failed: true,
            }
        );
        // A third face try is not possible in this visit.
        assert_eq!(press(&mut k, Action::Choose(Method::Face)), vec![]);
        press(&mut k, Action::Choose(Method::Pin));
        assert!(matches!(k.screen(), Screen::Pin { .. }));
        // A new card (or the same one placed again) starts afresh.
        k.card_removed();
        to_face(&mut k);
    }

    #[test]
    fn after_one_failed_face_pin_or_staff_can_be_chosen() {
        let mut k = Kiosk::new(true, true);
        to_face(&mut k);
        k.outcome(Outcome::FaceUnavailable);
        assert_eq!(
            k.screen(),
            &Screen::FaceRetry {
                visual: true,
                no_face: true
            }
        );
        assert_eq!(
            press(&mut k, Action::Choose(Method::Visual)),
            vec![Effect::AskStaff]
        );
        assert_eq!(k.screen(), &Screen::WaitingForStaff);

        let mut k = Kiosk::new(true, false);
        to_face(&mut k);
        k.outcome(Outcome::FaceMismatch);
        assert_eq!(
            k.screen(),
            &Screen::FaceRetry {
                visual: false,
                no_face: false
            }
        );
        // No device key: no staff attestation to offer.
        assert_eq!(press(&mut k, Action::Choose(Method::Visual)), vec![]);
        press(&mut k, Action::Choose(Method::Pin));
        assert!(matches!(k.screen(), Screen::Pin { .. }));
        // Removing the card during the capture drops a late result.
        let mut k = Kiosk::new(true, true);
        to_face(&mut k);
        k.card_removed();
        assert_eq!(k.outcome(Outcome::FaceMismatch), vec![]);
        assert_eq!(k.screen(), &Screen::WaitingForCard);
    }

    #[test]
    fn screens_serialise_for_the_page() {
        let s = serde_json::to_value(Screen::Pin {
            entered: 2,
            tries_left: Some(2),
            wrong: true,
        })
        .unwrap();
        assert_eq!(
            s,
            serde_json::json!({"screen": "pin", "entered": 2, "tries_left": 2, "wrong": true})
        );
        let s = serde_json::to_value(Screen::CertificateInvalid {
            reason: CertificateProblem::Expired,
        })
        .unwrap();
        assert_eq!(
            s,
            serde_json::json!({"screen": "certificate_invalid", "reason": "expired"})
        );
        let s = serde_json::to_value(Screen::FaceRetry {
            visual: true,
            no_face: false,
        })
        .unwrap();
        assert_eq!(
            s,
            serde_json::json!({"screen": "face_retry", "visual": true, "no_face": false})
        );
    }
}
