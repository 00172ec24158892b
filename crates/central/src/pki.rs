//! Our own certificate authority (playing the 共通認証局) and the roles certificates carry.
//!
//! A client certificate names its role in the subject's OU (`institution`, `insurer`, `admin`)
//! and its code in the CN (医療機関コード, 保険者番号, or an operator name). Keys are ECDSA P-256.

use anyhow::{bail, Context, Result};
use kakunin_domain::{Date, InstitutionCode, InsurerNumber};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// What a client certificate allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Institution(InstitutionCode),
    Insurer(InsurerNumber),
    Admin(String),
    /// A clinic terminal's device key (its attestations of face or visual checks); the id is
    /// the institution it belongs to.
    Terminal(InstitutionCode),
}

impl Role {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Institution(_) => "institution",
            Self::Insurer(_) => "insurer",
            Self::Admin(_) => "admin",
            Self::Terminal(_) => "terminal",
        }
    }
    pub fn id(&self) -> String {
        match self {
            Self::Institution(c) => c.as_str().to_string(),
            Self::Insurer(n) => n.as_str().to_string(),
            Self::Admin(a) => a.clone(),
            Self::Terminal(c) => c.as_str().to_string(),
        }
    }
    /// Builds a role from the command-line words (`--role insurer --id 06139992`).
    pub fn parse(kind: &str, id: &str) -> Result<Self> {
        Ok(match kind {
            "institution" => Self::Institution(
                InstitutionCode::parse(id)
                    .map_err(|e| anyhow::anyhow!("医療機関コード {id:?}: {e}"))?,
            ),
            "insurer" => Self::Insurer(
                InsurerNumber::parse(id).map_err(|e| anyhow::anyhow!("保険者番号 {id:?}: {e}"))?,
            ),
            "admin" => {
                if id.is_empty()
                    || id.len() > 64
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
                {
                    bail!("admin id must be 1–64 characters of letters, digits, - _ . @");
                }
                Self::Admin(id.to_string())
            }
            "terminal" => Self::Terminal(
                InstitutionCode::parse(id)
                    .map_err(|e| anyhow::anyhow!("医療機関コード {id:?}: {e}"))?,
            ),
            other => bail!("unknown role {other:?} (institution, insurer, admin or terminal)"),
        })
    }
}

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const SERVER_IDENTITY: &str = "server.pem";

fn today() -> Date {
    crate::service::now().jst_date()
}

fn validity(params: &mut CertificateParams, years: u32) {
    let from = today().add_days(-1).unwrap_or(today());
    let until = from.add_years(years).unwrap_or(from);
    params.not_before =
        rcgen::date_time_ymd(from.year() as i32, from.month() as u8, from.day() as u8);
    params.not_after =
        rcgen::date_time_ymd(until.year() as i32, until.month() as u8, until.day() as u8);
}

fn serial(key: &KeyPair) -> SerialNumber {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = Sha256::new();
    h.update(key.public_key_der());
    h.update(nanos.to_le_bytes());
    let mut bytes = h.finalize()[..16].to_vec();
    bytes[0] &= 0x7F; // positive
    SerialNumber::from_slice(&bytes)
}

/// Writes a secret (key material) readable by the owner only, atomically (temp file + rename),
/// creating the parent directory if needed.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A loaded CA able to issue certificates.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    pem: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca { .. }")
    }
}

impl Ca {
    /// Creates a new CA in `dir` (`ca.pem`, `ca-key.pem`) and the central's server identity.
    /// Refuses to overwrite an existing CA.
    pub fn init(dir: &Path, name: &str) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if dir.join(CA_CERT).exists() || dir.join(CA_KEY).exists() {
            bail!(
                "{} already holds a CA; refusing to overwrite it",
                dir.display()
            );
        }
        let key = KeyPair::generate().context("generating CA key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kakunin");
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(serial(&key));
        validity(&mut params, 20);
        let cert = params.self_signed(&key).context("signing CA certificate")?;
        let pem = cert.pem();
        write_private(&dir.join(CA_KEY), &key.serialize_pem())?;
        fs::write(dir.join(CA_CERT), &pem)?;
        let ca = Self { cert, key, pem };
        ca.write_server_identity(dir)?;
        Ok(ca)
    }

    /// Loads the CA of `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let pem = fs::read_to_string(dir.join(CA_CERT))
            .with_context(|| format!("reading {}", dir.join(CA_CERT).display()))?;
        let key_pem = fs::read_to_string(dir.join(CA_KEY))
            .with_context(|| format!("reading {}", dir.join(CA_KEY).display()))?;
        let key = KeyPair::from_pem(&key_pem).context("parsing CA key")?;
        let params = CertificateParams::from_ca_cert_pem(&pem).context("parsing CA certificate")?;
        let cert = params.self_signed(&key).context("loading CA")?;
        Ok(Self { cert, key, pem })
    }

    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// Issues a client certificate for `role`; returns certificate and key in one PEM.
    pub fn issue(&self, role: &Role) -> Result<String> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kakunin");
        dn.push(DnType::OrganizationalUnitName, role.kind());
        dn.push(DnType::CommonName, role.id());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(serial(&key));
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 2);
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
    }

    /// Issues the central's TLS server identity for localhost and the given extra names.
    pub fn issue_server(&self, extra_names: &[String]) -> Result<String> {
        let key = KeyPair::generate()?;
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        names.extend(extra_names.iter().cloned());
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(n.clone().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kakunin");
        dn.push(DnType::CommonName, "kakunin central");
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(serial(&key));
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 2);
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
    }

    fn write_server_identity(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(SERVER_IDENTITY);
        write_private(&path, &self.issue_server(&[])?)?;
        Ok(path)
    }

    /// The server identity of `dir`, issued now if missing.
    pub fn ensure_server_identity(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(SERVER_IDENTITY);
        if path.exists() {
            return Ok(path);
        }
        self.write_server_identity(dir)
    }
}

/// Reads the role out of a client certificate that already chained to our CA.
pub fn role_of(cert_der: &[u8]) -> Result<Role, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    let subject = cert.subject();
    let ou = subject
        .iter_organizational_unit()
        .next()
        .and_then(|a| a.as_str().ok())
        .ok_or("certificate has no OU (role)")?;
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .ok_or("certificate has no CN (id)")?;
    Role::parse(ou, cn).map_err(|e| e.to_string())
}
