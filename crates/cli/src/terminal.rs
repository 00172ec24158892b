//! `kakunin terminal`: the clinic's 資格確認端末 (kiosk and staff console on loopback).

use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_api::client::CentralClient;
use kakunin_formats::oqs::CharacterCode;
use kakunin_terminal::camera::Camera;
use kakunin_terminal::face::FaceSetup;
use kakunin_terminal::files::{Files, FilesConfig};
use kakunin_terminal::offline::Queue;
use kakunin_terminal::visit::{DeviceKey, OfflineSetup, Reader, Terminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args)]
pub struct TerminalArgs {
    /// The terminal's data directory.
    #[arg(
        long,
        env = "KAKUNIN_TERMINAL_DATA",
        default_value = "kakunin-terminal"
    )]
    data: PathBuf,
    /// The central, e.g. https://127.0.0.1:8443.
    #[arg(long, env = "KAKUNIN_SERVER")]
    central: String,
    /// The CA certificate (`ca.pem`).
    #[arg(long, env = "KAKUNIN_CA")]
    ca: PathBuf,
    /// The institution's certificate and key in one PEM.
    #[arg(long, env = "KAKUNIN_IDENTITY")]
    identity: PathBuf,
    /// `virtual:DIR` (card files placed from the console; a file names its directory) or
    /// `pcsc` / `pcsc:READER`.
    #[arg(long, default_value = "pcsc")]
    reader: String,
    /// The terminal's device key (`kakunin ca issue --role terminal --id <医療機関コード>`):
    /// enables staff 目視確認 on the kiosk, attested with it.
    #[arg(long, env = "KAKUNIN_DEVICE_KEY")]
    device_key: Option<PathBuf>,
    /// 顔認証 on the kiosk: `file:PATH` (a still the camera software keeps replacing),
    /// `stream:PATH` (an MJPEG stream: a FIFO or device) or `test:DIR` (the test camera: it
    /// shows `DIR/<card>.jpg` for the virtual card on the reader). Needs `--device-key` and
    /// the face model (`kakunin face setup`).
    #[arg(long)]
    camera: Option<String>,
    /// The face model's directory (what `kakunin face setup` installs).
    #[arg(long, env = "KAKUNIN_FACE_MODEL", default_value = crate::face::DEFAULT_MODEL_DIR)]
    face_model: PathBuf,
    /// Where the kiosk and the console are served (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seconds to wait for the central before recording a visit for a later check
    /// (要後日確認); later visits are recorded at once until the central answers again.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
    offline_after: u64,
    /// The レセコン file interface: watch DIR/req/ for request XML files, answer them in
    /// DIR/res/ and write kiosk checks to DIR/face/ (docs/file-interface.md).
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// The encoding of face/ files that answer no request: UTF-8 or Shift_JIS (results to
    /// requests are always in the request's encoding).
    #[arg(long, default_value = "UTF-8", value_parser = character_code)]
    files_encoding: CharacterCode,
}

fn character_code(s: &str) -> Result<CharacterCode, String> {
    CharacterCode::from_label(s).ok_or_else(|| format!("expected UTF-8 or Shift_JIS, got {s:?}"))
}

/// Starts the レセコン file interface on `dir` for a started terminal.
pub(crate) fn start_files(
    terminal: &Arc<Terminal>,
    dir: &Path,
    data: &Path,
    encoding: CharacterCode,
) -> Result<Files> {
    let institution = terminal
        .institution()
        .context("the file interface needs the institution's 医療機関コード")?
        .to_string();
    Ok(Files::start(
        terminal.clone(),
        FilesConfig {
            dir: dir.to_path_buf(),
            data: Some(data.to_path_buf()),
            institution,
            encoding,
            watch: Default::default(),
        },
    )?)
}

/// What a terminal is started with.
pub(crate) struct Setup<'a> {
    pub central: &'a str,
    pub ca: &'a Path,
    pub identity: &'a Path,
    pub device_key: Option<&'a Path>,
    pub reader: Reader,
    pub listen: SocketAddr,
    /// Holds the offline visits (`terminal.sqlite3`).
    pub data: &'a Path,
    pub offline_after: std::time::Duration,
    /// 顔認証: the camera (`--camera`) and the model's directory.
    pub face: Option<(&'a str, &'a Path)>,
}

/// The terminal's face verification from `--camera` and the model directory.
pub(crate) fn face_setup(camera: &str, model: &Path) -> Result<FaceSetup> {
    let camera = Camera::parse(camera).map_err(|e| anyhow::anyhow!(e))?;
    if !crate::face::installed(model) {
        bail!(
            "顔認証 needs the face model in {}: run `kakunin face setup` once",
            model.display()
        );
    }
    let matcher = kakunin_face::FaceMatcher::load(model)
        .with_context(|| format!("loading the face model from {}", model.display()))?;
    Ok(FaceSetup { matcher, camera })
}

/// The 医療機関コード of an institution identity (its certificate's subject).
fn institution_of(identity_pem: &[u8]) -> Result<String> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(identity_pem)
        .map_err(|e| anyhow::anyhow!("no certificate in the identity file: {e}"))?;
    match kakunin_central::pki::role_of(&der).map_err(|e| anyhow::anyhow!(e))? {
        kakunin_central::pki::Role::Institution(code) => Ok(code.as_str().to_string()),
        other => bail!(
            "the identity is a {} certificate; the terminal needs an institution's",
            other.kind()
        ),
    }
}

/// The reader of a `--reader` value.
pub(crate) fn reader(spec: &str) -> Result<Reader> {
    if let Some(path) = spec.strip_prefix("virtual:") {
        let path = Path::new(path);
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent()
                .map(Path::to_path_buf)
                .context("virtual:DIR needs a directory of card files")?
        };
        return Ok(Reader::Virtual { dir });
    }
    if spec == "pcsc" || spec.starts_with("pcsc:") {
        return Ok(Reader::Pcsc { spec: spec.into() });
    }
    bail!("--reader must be virtual:DIR, pcsc or pcsc:READER, got {spec:?}")
}

/// Builds the terminal and binds its listener (port 0 picks a free one).
pub(crate) async fn start(setup: Setup<'_>) -> Result<(Arc<Terminal>, tokio::net::TcpListener)> {
    // A patient at the reader cannot wait long: past the bound the visit is recorded for a
    // later check and the central is treated as unreachable until it answers again.
    let client = CentralClient::from_files(setup.central, setup.ca, Some(setup.identity))?
        .with_timeout(setup.offline_after);
    let identity = std::fs::read(setup.identity)
        .with_context(|| format!("reading {}", setup.identity.display()))?;
    let institution = institution_of(&identity)?;
    let device = match setup.device_key {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Some(DeviceKey::from_pem(&pem).map_err(|e| anyhow::anyhow!(e))?)
        }
        None => None,
    };
    std::fs::create_dir_all(setup.data)
        .with_context(|| format!("creating {}", setup.data.display()))?;
    let queue = Queue::open(setup.data)
        .with_context(|| format!("opening the offline visits in {}", setup.data.display()))?;
    let face = match setup.face {
        Some((camera, model)) => {
            if device.is_none() {
                bail!("顔認証 (--camera) needs --device-key: the terminal attests the match");
            }
            if let Reader::Pcsc { .. } = setup.reader {
                bail!(
                    "顔認証 (--camera) needs the card-surface scan that gives 照合番号B; kakunin has it \
                     for virtual cards (--reader virtual:DIR) only so far"
                );
            }
            Some(face_setup(camera, model)?)
        }
        None => None,
    };
    let terminal = Terminal::with_offline(
        client,
        setup.reader,
        device,
        OfflineSetup {
            queue,
            institution: Some(institution),
        },
        face,
    );
    let listener = tokio::net::TcpListener::bind(setup.listen)
        .await
        .with_context(|| format!("binding {}", setup.listen))?;
    Ok((terminal, listener))
}

pub async fn run(args: TerminalArgs) -> Result<()> {
    let (terminal, listener) = start(Setup {
        central: &args.central,
        ca: &args.ca,
        identity: &args.identity,
        device_key: args.device_key.as_deref(),
        reader: reader(&args.reader)?,
        listen: args.listen,
        data: &args.data,
        offline_after: std::time::Duration::from_secs(args.offline_after),
        face: args
            .camera
            .as_deref()
            .map(|c| (c, args.face_model.as_path())),
    })
    .await?;
    let files = match &args.files {
        Some(dir) => Some(start_files(
            &terminal,
            dir,
            &args.data,
            args.files_encoding,
        )?),
        None => None,
    };
    let addr = listener.local_addr()?;
    println!("kakunin terminal");
    println!("  受付端末（患者用）: http://{addr}/kiosk");
    println!("  受付スタッフ画面:   http://{addr}/console");
    if let Some(f) = &files {
        println!(
            "  レセコン連携フォルダ: {}（req/ に要求、res/ に結果、face/ にカード受付）",
            f.folders.root.display()
        );
    }
    kakunin_terminal::http::serve(terminal, listener, crate::shutdown_signal()).await?;
    if let Some(f) = files {
        f.stop();
    }
    Ok(())
}
