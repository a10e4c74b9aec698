//! The certificate checks each side of a TLS connection runs, and a record of
//! why a peer's certificate was refused (for the log line that tells the
//! operator what to fix).
//!
//! - Accepting side ([`ClientAuthVerifier`]): rustls' webpki client verifier
//!   (chain to the trust roots, validity, clientAuth usage; a certificate is
//!   mandatory), unchanged.
//! - Connecting side ([`ServerAuthVerifier`]): the chain as webpki checks it
//!   (serverAuth usage), then the host part of the dialled node name, as
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

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme};

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
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

impl ServerAuthVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(&cert, &self.roots, intermediates, now, self.algorithms.all)?;
        match verify_server_name(&cert, server_name) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
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
            .inspect_err(|e| record(PeerRole::Server, end_entity, Some(server_name.to_str().into_owned()), e))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
