//! One-call mutual TLS for a node (feature `tls`).

use super::NodeBuilder;
use crate::transport::tls::{TlsConfig, TlsError, TlsTransport};

impl NodeBuilder {
    /// Carries distribution over mutual TLS configured by `config` (see
    /// [`crate::transport::tls`]). Fails when a certificate, key or CA file
    /// cannot be used. To reload certificates later, build the
    /// [`TlsTransport`] yourself, keep a clone, and pass it to
    /// [`NodeBuilder::transport`].
    ///
    /// ```no_run
    /// use beamlink::node::Node;
    /// use beamlink::transport::tls::TlsConfig;
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let node = Node::builder("alice@localhost")
    ///     .cookie("secret")
    ///     .tls(TlsConfig::from_files("pki/ca.pem", "pki/alice@localhost.pem", "pki/alice@localhost.key"))?
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn tls(self, config: TlsConfig) -> Result<NodeBuilder, TlsError> {
        Ok(self.transport(TlsTransport::new(config)?))
    }
}
