//! The HTTP client every Slack call is made with.

/// A `reqwest` client builder on rustls with ring, the one crypto library in the functions: the
/// workspace builds rustls without a default provider (Cargo.toml, `reqwest`), so ring is
/// installed as the process's provider first.
pub fn client_builder() -> reqwest::ClientBuilder {
    // Err only when a provider is already installed (by this or another client): nothing to do.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
