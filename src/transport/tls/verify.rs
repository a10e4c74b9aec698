//! The certificate checks each side of a TLS connection runs, and a record of
//! why a peer's certificate was refused (for the log line that tells the
//! operator what to fix).
//!
//! - Accepting side ([`ClientAuthVerifier`]): rustls' webpki client verifier
//!   (chain to the trust roots, validity, clientAuth usage, revocation when
//!   CRLs are given; a certificate is mandatory), unchanged.
//! - Connecting side ([`ServerAuthVerifier`]): rustls' webpki server
//!   verifier (chain, validity, serverAuth usage, revocation when CRLs are
//!   given), then the host part of the dialled node name, as
//!   OTP's client does. webpki matches an IP-literal host only against
//!   iPAddress entries, while OTP matches it only against a dNSName spelled as
//!   the address; both are accepted here, so certificates made for OTP (and
//!   those `beamlink certs` makes, which carry both) work.
//!
//! Both wrap the decision unchanged (so rustls sends the same alert), and on
//! a refusal leave a [`Rejection`] in the [`RejectionSlot`] the handshake
//! runs under.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use crate::pki::CertInfo;

/// Whose certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerRole {
    /// A connecting peer's (we are the TLS server).
    Client,
    /// The peer we dialled (we are the TLS client).
    Server,
}

/// A peer certificate that failed verification, and why.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    pub(crate) role: PeerRole,
    /// The end-entity certificate, when it could be read.
    pub(crate) cert: Option<CertInfo>,
    /// The host the certificate had to be good for (connecting side).
    pub(crate) expected_host: Option<String>,
    pub(crate) error: Error,
}

tokio::task_local! {
    static REJECTED: RejectionSlot;
}

/// Where the verifiers of one handshake leave their [`Rejection`]. The
/// verifiers run synchronously inside the handshake future's poll, so a
/// task-local scoped around that future reaches them.
#[derive(Clone, Default)]
pub(crate) struct RejectionSlot(Arc<Mutex<Option<Rejection>>>);

impl RejectionSlot {
    /// Runs `future` (a TLS handshake) with this slot visible to the verifiers.
    pub(crate) async fn watch<F: Future>(&self, future: F) -> F::Output {
        REJECTED.scope(self.clone(), future).await
    }

    /// The rejection recorded, if any.
    pub(crate) fn take(&self) -> Option<Rejection> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

fn record(role: PeerRole, end_entity: &CertificateDer<'_>, expected_host: Option<String>, error: &Error) {
    let cert = CertInfo::from_der(end_entity.as_ref()).ok();
    let rejection = Rejection { role, cert, expected_host, error: error.clone() };
    let _ = REJECTED.try_with(|slot| *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(rejection));
}

/// Verifies client certificates (accepting side).
#[derive(Debug)]
pub(crate) struct ClientAuthVerifier {
    pub(crate) inner: Arc<dyn ClientCertVerifier>,
    /// OTP's `depth` for clients' chains.
    pub(crate) max_depth: Option<usize>,
}

/// A chain with more intermediate CAs than OTP's `depth` allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "the certificate chain has {intermediates} intermediate CA certificates, more than the {limit} the depth option allows"
)]
pub(crate) struct ChainTooDeep {
    pub(crate) intermediates: usize,
    pub(crate) limit: usize,
}

/// Refuses a verified chain that holds more intermediate CAs than `max_depth`.
/// As OTP's `depth`, self-issued certificates (a root sent along) do not count.
fn check_depth(intermediates: &[CertificateDer<'_>], max_depth: Option<usize>) -> Result<(), Error> {
    let Some(limit) = max_depth else { return Ok(()) };
    let counted = intermediates
        .iter()
        .filter(|der| CertInfo::from_der(der.as_ref()).map_or(true, |info| info.subject != info.issuer))
        .count();
    if counted > limit {
        let reason = ChainTooDeep { intermediates: counted, limit };
        return Err(Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(reason)))));
    }
    Ok(())
}

impl ClientCertVerifier for ClientAuthVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .and_then(|verified| check_depth(intermediates, self.max_depth).map(|()| verified))
            .inspect_err(|e| record(PeerRole::Client, end_entity, None, e))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Verifies server certificates (connecting side).
#[derive(Debug)]
pub(crate) struct ServerAuthVerifier {
    /// rustls' webpki verifier: chain, validity, serverAuth, revocation, name.
    pub(crate) inner: Arc<WebPkiServerVerifier>,
    /// OTP's `depth` for dialled servers' chains.
    pub(crate) max_depth: Option<usize>,
}

impl ServerAuthVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // webpki checks the chain (and revocation) before the name, so a name
        // error means everything else passed; only then is an IP-literal host
        // matched the OTP way. A unit test below guards that order.
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, &[], now) {
            Ok(verified) => Ok(verified),
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if matches!(server_name, ServerName::IpAddress(ip) if names_ip_as_dns(end_entity, IpAddr::from(*ip))) => {
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether the certificate has a dNSName spelled as `ip` (what OTP's client
/// matches an IP-literal host against).
fn names_ip_as_dns(end_entity: &CertificateDer<'_>, ip: IpAddr) -> bool {
    CertInfo::from_der(end_entity.as_ref())
        .is_ok_and(|info| info.dns_names.iter().any(|dns| dns.parse::<IpAddr>().is_ok_and(|d| d == ip)))
}

impl ServerCertVerifier for ServerAuthVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.check(end_entity, intermediates, server_name, now)
            .and_then(|verified| check_depth(intermediates, self.max_depth).map(|()| verified))
            .inspect_err(|e| record(PeerRole::Server, end_entity, Some(server_name.to_str().into_owned()), e))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(all(test, feature = "certs"))]
mod tests {
    use std::time::{Duration, SystemTime};

    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
    };
    use rustls::pki_types::CertificateRevocationListDer;
    use rustls::{CertificateError, RootCertStore};
    use time::OffsetDateTime;

    use super::*;

    /// A CA, a server certificate whose only SAN is the dNSName "127.0.0.1"
    /// (the OTP spelling of an IP host), and a CRL revoking it (or not).
    fn material(
        ca_name: &str,
        revoke: bool,
    ) -> (RootCertStore, CertificateDer<'static>, CertificateRevocationListDer<'static>) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, ca_name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::DnsName("127.0.0.1".try_into().unwrap())];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(SerialNumber::from_slice(&[0x42]));
        let leaf = params.signed_by(&key, &issuer).unwrap();

        let now = OffsetDateTime::now_utc();
        let crl = CertificateRevocationListParams {
            this_update: now - Duration::from_secs(60),
            next_update: now + Duration::from_secs(86_400),
            crl_number: SerialNumber::from_slice(&[1]),
            issuing_distribution_point: None,
            revoked_certs: if revoke {
                vec![RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&[0x42]),
                    revocation_time: now - Duration::from_secs(30),
                    reason_code: None,
                    invalidity_date: None,
                }]
            } else {
                Vec::new()
            },
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        (roots, leaf.der().clone(), crl.der().clone())
    }

    fn verifier(roots: RootCertStore, crls: &[CertificateRevocationListDer<'static>]) -> ServerAuthVerifier {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .with_crls(crls.iter().cloned())
            .only_check_end_entity_revocation()
            .build()
            .unwrap();
        ServerAuthVerifier { inner, max_depth: None }
    }

    fn verify(v: &ServerAuthVerifier, leaf: &CertificateDer<'_>) -> Result<ServerCertVerified, Error> {
        let name = ServerName::IpAddress("127.0.0.1".parse::<IpAddr>().unwrap().into());
        v.verify_server_cert(
            leaf,
            &[],
            &name,
            &[],
            UnixTime::since_unix_epoch(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap()),
        )
    }

    #[test]
    fn the_ip_host_fallback_never_skips_the_revocation_check() {
        // webpki refuses the name (no iPAddress SAN); the OTP-style dNSName lets it in.
        let (roots, leaf, crl) = material("CA one", false);
        assert!(verify(&verifier(roots.clone(), &[]), &leaf).is_ok(), "no CRL: accepted by the fallback");
        assert!(verify(&verifier(roots, &[crl]), &leaf).is_ok(), "a CRL not listing it: accepted");

        // Revoked: refused as revoked, not let in through the name fallback.
        let (roots, leaf, crl) = material("CA one", true);
        let err = verify(&verifier(roots, &[crl]), &leaf).unwrap_err();
        assert_eq!(err, Error::InvalidCertificate(CertificateError::Revoked));

        // A CRL from another CA leaves the status unknown, which is refused.
        let (roots, leaf, _) = material("CA one", false);
        let (_, _, other_crl) = material("CA two", true);
        let err = verify(&verifier(roots.clone(), &[other_crl]), &leaf).unwrap_err();
        assert_eq!(err, Error::InvalidCertificate(CertificateError::UnknownRevocationStatus));

        // A CRL from another CA of the same name fails its signature check.
        let (_, _, namesake_crl) = material("CA one", false);
        let err = verify(&verifier(roots, &[namesake_crl]), &leaf).unwrap_err();
        assert_eq!(err, Error::InvalidCertRevocationList(rustls::CertRevocationListError::BadSignature));
    }

    /// A root, an intermediate CA under it, and a server certificate for
    /// `localhost` under the intermediate.
    fn chain_through_an_intermediate() -> (RootCertStore, [CertificateDer<'static>; 3]) {
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params
        };
        let root_key = KeyPair::generate().unwrap();
        let root = ca("depth root").self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(ca("depth root"), root_key);
        let sub_key = KeyPair::generate().unwrap();
        let sub = ca("depth intermediate").signed_by(&sub_key, &root_issuer).unwrap();
        let sub_issuer = Issuer::new(ca("depth intermediate"), sub_key);
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params.signed_by(&KeyPair::generate().unwrap(), &sub_issuer).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(root.der().clone()).unwrap();
        (roots, [leaf.der().clone(), sub.der().clone(), root.der().clone()])
    }

    #[test]
    fn the_depth_option_limits_intermediates_and_does_not_count_a_root_sent_along() {
        let (roots, [leaf, sub, root]) = chain_through_an_intermediate();
        let name = ServerName::try_from("localhost").unwrap();
        let now = UnixTime::now();
        let with_depth = |max_depth| ServerAuthVerifier { max_depth, ..verifier(roots.clone(), &[]) };
        for (depth, presented, accepted) in [
            (None, vec![sub.clone()], true),
            (Some(1), vec![sub.clone()], true),
            (Some(1), vec![sub.clone(), root.clone()], true),
            (Some(0), vec![sub.clone()], false),
            (Some(0), vec![sub.clone(), root.clone()], false),
        ] {
            let verdict = with_depth(depth).verify_server_cert(&leaf, &presented, &name, &[], now);
            assert_eq!(verdict.is_ok(), accepted, "depth {depth:?}, {} presented: {verdict:?}", presented.len());
            if let Err(e) = verdict {
                assert!(format!("{e:?}").contains("ChainTooDeep { intermediates: 1, limit: 0 }"), "{e:?}");
            }
        }
    }
}
