//! Sign-in with an OpenID Provider: the authorization code flow with PKCE (S256), `state` and
//! `nonce` (OIDC Core §3.1), through the `openidconnect` crate (discovery, JWKS, ID-token checks:
//! `iss`, `aud`, `azp`, `exp`, `nonce`, and the algorithm against the provider's keys), calling
//! providers through our own bounded client ([`http`]). The routes are in
//! `handlers/oidc.rs`; the account a provider identity signs in to is decided by [`link`], the
//! one home of the linking rule.

pub mod http;
pub mod link;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse as _,
};

pub use settings::{OidcSettings, Provider};

/// How long a provider's discovery document and keys are reused before they are read again.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);

/// A provider could not be reached, or answered nonsense (logged where detected).
#[derive(Debug)]
pub struct Unavailable;

/// The providers and what was learnt of them: discovery documents and keys, per provider, for
/// [`METADATA_TTL`]. One per execution environment.
#[derive(Default)]
pub struct Registry {
    client: http::HttpClient,
    metadata: Mutex<HashMap<String, (Instant, Arc<CoreProviderMetadata>)>>,
}

/// Why the callback failed after its `state` was known: the OAuth error code the frontend reads at
/// its return URL (`?error=`), and what to tell the user.
#[derive(Debug)]
pub struct Refused {
    pub error: &'static str,
    pub description: String,
}

impl Refused {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    fn unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            "The identity provider is not reachable; try again shortly",
        )
    }
}

/// What a provider vouched for, from a verified ID token.
#[derive(Debug)]
pub struct Asserted {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

impl Registry {
    /// The provider's discovery document with its keys: cached, or read again when `fresh`.
    pub async fn metadata(
        &self,
        provider: &Provider,
        fresh: bool,
    ) -> Result<Arc<CoreProviderMetadata>, Unavailable> {
        if !fresh {
            let cache = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, metadata)) = cache.get(&provider.name) {
                if at.elapsed() < METADATA_TTL {
                    return Ok(metadata.clone());
                }
            }
        }
        let issuer = IssuerUrl::new(provider.issuer.clone()).map_err(|_| Unavailable)?;
        // Checks that the document names the configured issuer, and reads the keys it points to.
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.client)
            .await
            .map_err(|error| {
                tracing::warn!(provider = %provider.name, error = %error, "identity provider discovery failed");
                Unavailable
            })?;
        let metadata = Arc::new(metadata);
        self.metadata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(provider.name.clone(), (Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        metadata: &CoreProviderMetadata,
        provider: &Provider,
        redirect_uri: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        Refused,
    > {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| Refused::new("server_error", "Our redirect URL is not a URL"))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(provider.client_id.clone()),
            Some(ClientSecret::new(provider.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for a new sign-in: (URL, nonce, PKCE verifier), with
    /// `state` as given.
    pub async fn authorization_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        state: &str,
    ) -> Result<(String, String, String), Unavailable> {
        let metadata = self.metadata(provider, false).await?;
        let client = Self::client(&metadata, provider, redirect_uri).map_err(|_| Unavailable)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let (url, _, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            nonce.secret().clone(),
            verifier.secret().clone(),
        ))
    }

    /// Exchanges `code` at the provider's token endpoint (with the PKCE verifier) and verifies the
    /// ID token it answers (signature with the provider's keys, `iss`, `aud`, `azp`, `exp`,
    /// `nonce`); the keys are read again once when the token names a key we do not know.
    pub async fn redeem(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Asserted, Refused> {
        let metadata = self
            .metadata(provider, false)
            .await
            .map_err(|_| Refused::unavailable())?;
        let client = Self::client(&metadata, provider, redirect_uri)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| Refused::new("server_error", "The provider names no token endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.client)
            .await
            .map_err(|error| {
                tracing::warn!(provider = %provider.name, error = %error, "code exchange failed");
                match error {
                    RequestTokenError::ServerResponse(answer) => Refused::new(
                        "invalid_grant",
                        format!(
                            "The provider refused the sign-in: {}",
                            answer.error().as_ref()
                        ),
                    ),
                    RequestTokenError::Request(_) => Refused::unavailable(),
                    _ => Refused::new("server_error", "The provider's answer was not understood"),
                }
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| Refused::new("server_error", "The provider sent no ID token"))?;
        let nonce = Nonce::new(nonce.to_owned());
        let verify = |metadata: &CoreProviderMetadata| -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
            let client = Self::client(metadata, provider, redirect_uri)
                .map_err(|error| ClaimsVerificationError::Other(error.description))?;
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(allowed_algs(metadata));
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&metadata) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key rotated since we read the set: read it once more.
                let fresh = self
                    .metadata(provider, true)
                    .await
                    .map_err(|_| Refused::unavailable())?;
                verify(&fresh)
            }
            other => other,
        }
        .map_err(|error| {
            tracing::warn!(provider = %provider.name, error = %error, "ID token refused");
            Refused::new(
                "invalid_token",
                "The provider's ID token failed verification",
            )
        })?;
        // OIDC Core §3.1.3.7 (5): an `azp` must be us. openidconnect checks it only when `aud`
        // names several parties; a token issued to another client of the provider, with us as
        // its only audience, is refused here.
        if claims
            .authorized_party()
            .is_some_and(|azp| azp.as_str() != provider.client_id)
        {
            tracing::warn!(provider = %provider.name, "ID token refused: azp is another client");
            return Err(Refused::new(
                "invalid_token",
                "The provider's ID token failed verification",
            ));
        }
        if let Some(email) = claims.email() {
            return Ok(Asserted {
                subject: claims.subject().as_str().to_owned(),
                email: Some(email.as_str().to_owned()),
                email_verified: claims.email_verified() == Some(true),
            });
        }
        // A provider that conforms strictly (OIDC Core §5.4) puts the `email` scope's claims in
        // its UserInfo answer, not in the ID token, when it also issues an access token: ask there,
        // for the same `sub` (openidconnect checks it).
        let Ok(request) = client.user_info(
            response.access_token().clone(),
            Some(claims.subject().clone()),
        ) else {
            return Ok(Asserted {
                subject: claims.subject().as_str().to_owned(),
                email: None,
                email_verified: false,
            });
        };
        let info: CoreUserInfoClaims = request.request_async(&self.client).await.map_err(|error| {
            tracing::warn!(provider = %provider.name, error = %error, "UserInfo request failed");
            Refused::unavailable()
        })?;
        Ok(Asserted {
            subject: claims.subject().as_str().to_owned(),
            email: info.email().map(|email| email.as_str().to_owned()),
            email_verified: info.email_verified() == Some(true),
        })
    }
}

/// The algorithms an ID token of this provider may be signed with: those its discovery document
/// lists, but never `none` nor a shared-secret one (`HS256` with the client secret: a secret that
/// sits in our configuration is no proof the provider signed), and RS256 when it lists none.
fn allowed_algs(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    use openidconnect::JwsSigningAlgorithm as _;
    let algs: Vec<_> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| **alg != CoreJwsSigningAlgorithm::None && !alg.uses_shared_secret())
        .cloned()
        .collect();
    if algs.is_empty() {
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    } else {
        algs
    }
}
