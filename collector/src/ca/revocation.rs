//! Revoking certificates the bureau CA issued, and the certificate revocation list (CRL) the broker
//! checks every client certificate against (Mosquitto's `crlfile`).
//!
//! `ca revoke --cert FILE` records the certificate's serial number in `revoked.tsv` in the CA directory
//! (append-only: serial, common name, when, reason; a serial already there is not added twice);
//! `ca crl --out FILE` writes a CRL signed by the CA listing every recorded serial, valid for `--days`.
//! Mosquitto refuses, during the TLS handshake, a client certificate listed in its `crlfile` (it reads
//! the file at start: restart it, or send it SIGHUP, after each new CRL), and refuses every client once
//! the CRL's next update has passed, so a new CRL must be written before then.

use super::{Ca, CaError, invalid, io_error};
use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The revocation records' file name in the CA directory.
pub const REVOKED_FILE: &str = "revoked.tsv";
/// Default validity of a CRL (days until its next update).
pub const DEFAULT_CRL_DAYS: u32 = 30;

/// Why a certificate is revoked (the RFC 5280 reason codes that apply to a ward box or a collector).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RevokeReason {
    /// Its key may be known to someone else (a stolen box).
    KeyCompromise,
    /// Replaced by a new certificate (a replaced box).
    Superseded,
    /// Out of service.
    CessationOfOperation,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokeReason::KeyCompromise => "key-compromise",
            RevokeReason::Superseded => "superseded",
            RevokeReason::CessationOfOperation => "cessation-of-operation",
        }
    }

    fn parse(text: &str) -> Option<RevokeReason> {
        [
            RevokeReason::KeyCompromise,
            RevokeReason::Superseded,
            RevokeReason::CessationOfOperation,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    fn code(self) -> RevocationReason {
        match self {
            RevokeReason::KeyCompromise => RevocationReason::KeyCompromise,
            RevokeReason::Superseded => RevocationReason::Superseded,
            RevokeReason::CessationOfOperation => RevocationReason::CessationOfOperation,
        }
    }
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Its serial number, lowercase hex.
    pub serial: String,
    /// Its common name (the device id or collector name).
    pub common_name: String,
    /// When it was revoked (Unix seconds).
    pub revoked_at: i64,
    /// Why.
    pub reason: RevokeReason,
}

/// What `crl` wrote.
#[derive(Debug, Clone)]
pub struct CrlWritten {
    /// The CRL file (PEM).
    pub path: PathBuf,
    /// How many certificates it lists.
    pub revoked: usize,
    /// When it must be replaced (Unix seconds).
    pub next_update: i64,
}

impl Ca {
    fn revoked_file(&self) -> PathBuf {
        self.dir.join(REVOKED_FILE)
    }

    /// Every revocation recorded so far, oldest first.
    pub fn revoked(&self) -> Result<Vec<Revocation>, CaError> {
        let path = self.revoked_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&path)(e)),
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(i, line)| {
                let bad = || CaError::BadCa {
                    dir: self.dir.clone(),
                    why: format!(
                        "{REVOKED_FILE} line {} is not serial, name, time, reason",
                        i + 1
                    ),
                };
                let [serial, name, at, reason] = line.split('\t').collect::<Vec<_>>()[..] else {
                    return Err(bad());
                };
                if serial.is_empty() || hex::decode(serial).is_err() {
                    return Err(bad());
                }
                Ok(Revocation {
                    serial: serial.to_owned(),
                    common_name: name.to_owned(),
                    revoked_at: at.parse().map_err(|_| bad())?,
                    reason: RevokeReason::parse(reason).ok_or_else(bad)?,
                })
            })
            .collect()
    }

    /// Records the revocation of the client certificate in `cert_file`, which this CA must have
    /// issued. Revoking a certificate twice records it once. Returns the record.
    pub fn revoke(&self, cert_file: &Path, reason: RevokeReason) -> Result<Revocation, CaError> {
        let pem = std::fs::read(cert_file).map_err(io_error(cert_file))?;
        let der = CertificateDer::from_pem_slice(&pem).map_err(|e| {
            invalid(format!(
                "{} holds no PEM certificate: {e}",
                cert_file.display()
            ))
        })?;
        // Only what this CA issued to a client (a ward box or a collector) is revoked here.
        self.verify_client(&der).map_err(|e| {
            invalid(format!(
                "{} is not a client certificate issued by this CA: {e}",
                cert_file.display()
            ))
        })?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| invalid(format!("{} does not parse: {e}", cert_file.display())))?;
        let serial = hex::encode(parsed.raw_serial());
        let common_name = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        if let Some(known) = self.revoked()?.into_iter().find(|r| r.serial == serial) {
            return Ok(known);
        }
        let record = Revocation {
            serial,
            common_name,
            revoked_at: chrono::Utc::now().timestamp(),
            reason,
        };
        let path = self.revoked_file();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        writeln!(
            file,
            "{}\t{}\t{}\t{}",
            record.serial,
            record.common_name.replace(['\t', '\n', '\r'], " "),
            record.revoked_at,
            record.reason.as_str()
        )
        .and_then(|()| file.sync_all())
        .map_err(io_error(&path))?;
        tracing::info!(
            cn = record.common_name,
            serial = record.serial,
            "certificate revoked"
        );
        Ok(record)
    }

    /// Writes a CRL listing every revoked certificate to `out` (PEM, replacing an older CRL), valid for
    /// `days`.
    pub fn crl(&self, out: &Path, days: u32) -> Result<CrlWritten, CaError> {
        if days == 0 {
            return Err(invalid("--days must be at least 1"));
        }
        let now = chrono::Utc::now().timestamp();
        let next_update = now + i64::from(days) * 86_400;
        // rcgen's times, built from Unix seconds (date, then seconds into the day).
        let at = |unix: i64| {
            use chrono::Datelike;
            let t = chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default();
            let day = t.date_naive();
            let into_day = u64::try_from(unix.rem_euclid(86_400)).unwrap_or(0);
            // Month and day always fit in u8.
            rcgen::date_time_ymd(day.year(), day.month() as u8, day.day() as u8)
                + std::time::Duration::from_secs(into_day)
        };
        let revoked = self.revoked()?;
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(
                        &hex::decode(&r.serial).map_err(|e| invalid(e.to_string()))?,
                    ),
                    revocation_time: at(r.revoked_at),
                    reason_code: Some(r.reason.code()),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let params = CertificateRevocationListParams {
            this_update: at(now),
            next_update: at(next_update),
            // Increases with every CRL written (one per second at most).
            crl_number: SerialNumber::from_slice(&now.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer)?;
        let pem = crl.pem()?;
        let tmp = out.with_extension("tmp");
        std::fs::write(&tmp, pem).map_err(io_error(&tmp))?;
        std::fs::rename(&tmp, out).map_err(io_error(out))?;
        Ok(CrlWritten {
            path: out.to_owned(),
            revoked: revoked.len(),
            next_update,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Subject;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_revoked_device_certificate_is_refused_by_a_verifier_with_the_crl() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        Ca::init(&ca_dir, &"Test CA".parse().unwrap(), 30).unwrap();
        let ca = Ca::open(&ca_dir).unwrap();
        let device = |id: &str| {
            Subject::device(id.parse().unwrap(), "H43060200175".parse().unwrap()).unwrap()
        };
        let stolen = ca
            .issue(&device("box-stolen"), 10, &dir.path().join("out"))
            .unwrap();
        let kept = ca
            .issue(&device("box-kept"), 10, &dir.path().join("out"))
            .unwrap();
        let record = ca
            .revoke(&stolen.cert_file, RevokeReason::KeyCompromise)
            .unwrap();
        assert_eq!(record.common_name, "box-stolen");
        assert_eq!(
            ca.revoke(&stolen.cert_file, RevokeReason::KeyCompromise)
                .unwrap(),
            record,
            "recorded once"
        );
        assert_eq!(ca.revoked().unwrap(), [record]);
        let crl_path = dir.path().join("crl.pem");
        let written = ca.crl(&crl_path, 7).unwrap();
        assert_eq!(written.revoked, 1);

        // rustls' client verifier with the CRL: the revoked certificate is refused, the other taken.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der.clone()).unwrap();
        let crl =
            rustls::pki_types::CertificateRevocationListDer::from_pem_file(&crl_path).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .with_crls([crl])
        .build()
        .unwrap();
        let der = |p: &Path| CertificateDer::from_pem_file(p).unwrap();
        let now = rustls::pki_types::UnixTime::now();
        let refused = verifier
            .verify_client_cert(&der(&stolen.cert_file), &[], now)
            .expect_err("revoked");
        assert!(format!("{refused:?}").contains("Revoked"), "{refused:?}");
        verifier
            .verify_client_cert(&der(&kept.cert_file), &[], now)
            .expect("not revoked");
    }

    #[test]
    fn a_certificate_from_another_ca_is_not_revoked_here() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ca", "other"] {
            Ca::init(&dir.path().join(name), &"Test CA".parse().unwrap(), 30).unwrap();
        }
        let other = Ca::open(&dir.path().join("other")).unwrap();
        let foreign = other
            .issue(
                &Subject::device("box-1".parse().unwrap(), "H43060200175".parse().unwrap())
                    .unwrap(),
                10,
                &dir.path().join("out"),
            )
            .unwrap();
        let ca = Ca::open(&dir.path().join("ca")).unwrap();
        let err = ca
            .revoke(&foreign.cert_file, RevokeReason::Superseded)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("not a client certificate issued by this CA"),
            "{err}"
        );
        assert!(ca.revoked().unwrap().is_empty());
    }
}
