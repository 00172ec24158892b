//! `kakunin card …` and the terminal side of a card check: read the certificate, fetch a nonce,
//! verify the PIN on the card, have the card sign, send the proof.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use clap::Subcommand;
use kakunin_api::client::CentralClient;
use kakunin_api::{
    card_challenge, CardCheckRequest, CardProof, CardRegistrationRequest, CardRegistrationResponse,
    EligibilityCheckResponse,
};
use kakunin_card::{open_card, Card, Jpki, JpkiError, VirtualCard};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

#[derive(Subcommand)]
pub(crate) enum CardCommand {
    /// Issue a virtual My Number card to a resident of the authority (demo and tests).
    Issue {
        #[arg(long, env = "KAKUNIN_DATA")]
        data: PathBuf,
        /// The resident's 個人番号 (12 digits).
        #[arg(long)]
        person: String,
        /// The card's 4-digit 利用者証明用 PIN.
        #[arg(long)]
        pin: String,
        /// First valid day, YYYYMMDD (default today).
        #[arg(long)]
        not_before: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a card's certificate (serial, validity) and PIN tries left. No PIN needed.
    Info {
        /// `virtual:FILE`, `pcsc` or `pcsc:READER`.
        #[arg(long)]
        card: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke (or suspend) a card's certificate at the authority.
    Revoke {
        #[arg(long, env = "KAKUNIN_DATA")]
        data: PathBuf,
        /// The card whose certificate to revoke.
        #[arg(long)]
        card: String,
        /// Suspend (一時停止, reversible with --resume) instead of revoking.
        #[arg(long)]
        suspend: bool,
        /// Lift a suspension.
        #[arg(long, conflicts_with = "suspend")]
        resume: bool,
    },
    /// Present a virtual card to pcscd through vsmartcard-vpcd (its reader driver listens on
    /// 127.0.0.1:35963 by default).
    ServeVpcd {
        /// The card file.
        #[arg(long)]
        card: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 35963)]
        port: u16,
    },
}

fn authority(data: &std::path::Path) -> Result<kakunin_authority::Authority> {
    kakunin_authority::Authority::open(&data.join(kakunin_central::AUTHORITY_DIR)).with_context(
        || {
            format!(
                "opening the authority in {}",
                data.join(kakunin_central::AUTHORITY_DIR).display()
            )
        },
    )
}

/// Reads the user-auth certificate of a card (no PIN).
fn read_certificate(card: &mut dyn Card) -> Result<Vec<u8>, JpkiError> {
    Jpki::open(card)?.read_auth_certificate()
}

pub(crate) async fn run(command: CardCommand) -> Result<()> {
    match command {
        CardCommand::Issue {
            data,
            person,
            pin,
            not_before,
            out,
        } => {
            let number = kakunin_domain::IndividualNumber::parse(&person)
                .map_err(|e| anyhow!("--person: {e}"))?;
            let mut request = kakunin_authority::IssueRequest::new(number, &pin);
            if let Some(d) = not_before {
                let date = kakunin_domain::Date::parse(&d)
                    .map_err(|e| anyhow!("--not-before {d:?}: {e}"))?;
                request.not_before = Some(kakunin_domain::Timestamp::from_unix_millis(
                    (date.to_days() * 86_400 - 9 * 3600) * 1000,
                ));
            }
            let authority = authority(&data)?;
            let issued = tokio::task::spawn_blocking(move || {
                authority.issue_card_file(&request, &out).map(|i| (i, out))
            })
            .await??;
            println!(
                "{} serial {} valid until {}",
                issued.1.display(),
                issued.0.serial,
                issued.0.not_after.jst_date()
            );
        }
        CardCommand::Info { card, json } => {
            let info = tokio::task::spawn_blocking(move || card_info(&card)).await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("シリアル番号: {}", info.serial);
                println!("発行者: {}", info.issuer);
                println!("有効期間: {} 〜 {}", info.not_before, info.not_after);
                println!("暗証番号の残り回数: {}", info.pin_tries_left);
            }
        }
        CardCommand::Revoke {
            data,
            card,
            suspend,
            resume,
        } => {
            let der = tokio::task::spawn_blocking(move || {
                let mut c = open_card(&card).map_err(|e| anyhow!(e.message_ja()))?;
                read_certificate(&mut *c).map_err(|e| anyhow!(e.message_ja()))
            })
            .await??;
            let serial = kakunin_authority::Authority::serial_of(&der)?;
            let authority = authority(&data)?;
            if suspend {
                authority.suspend(&serial)?;
                println!("一時停止しました: シリアル番号 {serial}");
            } else if resume {
                authority.resume(&serial)?;
                println!("一時停止を解除しました: シリアル番号 {serial}");
            } else {
                authority.revoke(&serial, kakunin_authority::RevocationReason::Unspecified)?;
                println!("失効させました: シリアル番号 {serial}");
            }
        }
        CardCommand::ServeVpcd { card, host, port } => {
            let vcard = VirtualCard::open(&card)
                .with_context(|| format!("opening the card file {}", card.display()))?;
            let addr = format!("{host}:{port}");
            eprintln!("presenting {} to vpcd at {addr}", card.display());
            let stop = AtomicBool::new(false);
            tokio::task::spawn_blocking(move || kakunin_card::serve_vpcd(vcard, &addr, &stop))
                .await?
                .map_err(|e| anyhow!("vpcd: {e}"))?;
        }
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct CardInfo {
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    pub pin_tries_left: u8,
    pub token: String,
}

fn card_info(spec: &str) -> Result<CardInfo> {
    let mut card = open_card(spec).map_err(|e| anyhow!(e.message_ja()))?;
    let mut jpki = Jpki::open(&mut *card).map_err(|e| anyhow!(e.message_ja()))?;
    let token = jpki.token_info().map_err(|e| anyhow!(e.message_ja()))?;
    let der = jpki
        .read_auth_certificate()
        .map_err(|e| anyhow!(e.message_ja()))?;
    let tries = jpki
        .auth_pin_tries_left()
        .map_err(|e| anyhow!(e.message_ja()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("the card's certificate does not parse: {e}"))?;
    let rfc3339 = |t: x509_parser::time::ASN1Time| {
        kakunin_domain::Timestamp::from_unix_millis(t.timestamp() * 1000).jst_rfc3339()
    };
    Ok(CardInfo {
        serial: kakunin_authority::Authority::serial_of(&der)?,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(cert.validity().not_before),
        not_after: rfc3339(cert.validity().not_after),
        pin_tries_left: tries,
        token,
    })
}

/// Why a card check did not get an answer, with the message for the patient or staff.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlowError {
    #[error("{}", .0.message_ja())]
    Card(JpkiError),
    #[error("{0}")]
    Central(kakunin_api::client::ClientError),
}

/// The card's proof over a nonce: the PIN is verified on the card, then the card signs.
fn sign_nonce(
    card: &mut dyn Card,
    pin: &str,
    nonce: &str,
) -> Result<(Vec<u8>, Vec<u8>), JpkiError> {
    let mut jpki = Jpki::open(card)?;
    let cert = jpki.read_auth_certificate()?;
    // Read the tries left first: a locked card is reported without using a try.
    if jpki.auth_pin_tries_left()? == 0 {
        return Err(JpkiError::PinLocked);
    }
    jpki.verify_auth_pin(pin)?;
    let hash: [u8; 32] = Sha256::digest(card_challenge(nonce)).into();
    let signature = jpki.sign_sha256(&hash)?;
    Ok((cert, signature))
}

pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Fetches a nonce and has the card prove itself over it (PIN, then signature): the
/// certificate, nonce and proof to send.
async fn prove_with_pin(
    client: &CentralClient,
    spec: &str,
    pin: &str,
) -> Result<(String, String, CardProof), FlowError> {
    let nonce = client.card_nonce().await.map_err(FlowError::Central)?;
    let (spec, pin, n) = (spec.to_string(), pin.to_string(), nonce.nonce.clone());
    let (cert, signature) = tokio::task::spawn_blocking(move || {
        let mut card = open_card(&spec).map_err(|e| FlowError::Card(JpkiError::Card(e)))?;
        sign_nonce(&mut *card, &pin, &n).map_err(FlowError::Card)
    })
    .await
    .map_err(|e| FlowError::Card(JpkiError::Malformed(e.to_string())))??;
    Ok((
        b64(&cert),
        nonce.nonce,
        CardProof::Pin {
            signature: b64(&signature),
        },
    ))
}

/// Runs a whole card check with the PIN.
pub(crate) async fn check_with_pin(
    client: &CentralClient,
    spec: &str,
    pin: &str,
    limit_consent: bool,
    consents: &[String],
) -> Result<EligibilityCheckResponse, FlowError> {
    let (certificate, nonce, proof) = prove_with_pin(client, spec, pin).await?;
    client
        .card_check(&CardCheckRequest {
            certificate,
            nonce,
            proof,
            limit_application_certificate_related_cons_flg: limit_consent.then(|| "1".into()),
            consents: consents.to_vec(),
        })
        .await
        .map_err(FlowError::Central)
}

/// Runs a 利用登録 with the PIN.
pub(crate) async fn register_with_pin(
    client: &CentralClient,
    spec: &str,
    pin: &str,
) -> Result<CardRegistrationResponse, FlowError> {
    let (certificate, nonce, proof) = prove_with_pin(client, spec, pin).await?;
    client
        .card_registration(&CardRegistrationRequest {
            certificate,
            nonce,
            proof,
        })
        .await
        .map_err(FlowError::Central)
}

/// Checks that a `--pin` argument is 4 digits before anything touches the card.
pub(crate) fn require_pin(pin: Option<&str>) -> Result<&str> {
    match pin {
        Some(p) if kakunin_card::is_valid_auth_pin(p) => Ok(p),
        Some(_) => bail!("暗証番号は4桁の数字です（--pin NNNN）"),
        None => bail!("--card needs --pin NNNN (the card's 4-digit PIN)"),
    }
}
