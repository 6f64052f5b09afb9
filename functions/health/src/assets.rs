//! Swagger UI's and ReDoc's files, from the npm packages pinned in `scripts/vendor-docs-assets.sh`,
//! embedded gzip-compressed so the docs need nothing beyond the API's own origin. Each URL carries
//! the package version, so browsers may keep a file forever (`immutable`); a new version is a new URL.

use std::io::Read;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use shared::error::ApiError;

/// The versions of the vendored packages: the asset folders, and so the URLs, are named after them.
macro_rules! swagger_ui_version {
    () => {
        "5.35.0"
    };
}
macro_rules! redoc_version {
    () => {
        "2.5.4"
    };
}

/// One embedded file: the name it is served under (below `/docs/assets/`) and its gzip bytes.
pub struct Asset {
    pub name: &'static str,
    content_type: &'static str,
    gzip: &'static [u8],
}

pub const SWAGGER_UI_JS: Asset = Asset {
    name: concat!("swagger-ui-bundle-", swagger_ui_version!(), ".js"),
    content_type: "text/javascript; charset=utf-8",
    gzip: include_bytes!(concat!(
        "../assets/swagger-ui-dist-",
        swagger_ui_version!(),
        "/swagger-ui-bundle.js.gz"
    )),
};

pub const SWAGGER_UI_CSS: Asset = Asset {
    name: concat!("swagger-ui-", swagger_ui_version!(), ".css"),
    content_type: "text/css; charset=utf-8",
    gzip: include_bytes!(concat!(
        "../assets/swagger-ui-dist-",
        swagger_ui_version!(),
        "/swagger-ui.css.gz"
    )),
};

pub const REDOC_JS: Asset = Asset {
    name: concat!("redoc.standalone-", redoc_version!(), ".js"),
    content_type: "text/javascript; charset=utf-8",
    gzip: include_bytes!(concat!(
        "../assets/redoc-",
        redoc_version!(),
        "/redoc.standalone.js.gz"
    )),
};

pub const ALL: [&Asset; 3] = [&SWAGGER_UI_JS, &SWAGGER_UI_CSS, &REDOC_JS];

impl Asset {
    /// Where a page links it from.
    pub fn url(&self) -> String {
        format!("/docs/assets/{}", self.name)
    }

    /// The file as the package ships it (for the rare client that does not take gzip).
    pub fn decompressed(&self) -> std::io::Result<Vec<u8>> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(self.gzip).read_to_end(&mut plain)?;
        Ok(plain)
    }
}

/// `GET /docs/assets/{file}`: the embedded bytes as they are when the client takes gzip (every
/// browser does), else decompressed. Unknown names are 404.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let asset = ALL
        .into_iter()
        .find(|asset| asset.name == file)
        .ok_or_else(|| ApiError::NotFound("No such documentation asset".to_owned()))?;
    let gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(accepts_gzip);
    let mut response = if gzip {
        (
            [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))],
            asset.gzip,
        )
            .into_response()
    } else {
        asset
            .decompressed()
            .map_err(|error| ApiError::Internal(error.into()))?
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    // Caches between us and the browser must keep the two encodings apart.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(response)
}

/// Whether one `Accept-Encoding` value admits gzip (RFC 9110 §12.5.3): `gzip`, `x-gzip` or `*`
/// with a non-zero weight, unless gzip itself is given weight 0.
pub fn accepts_gzip(value: &str) -> bool {
    let mut wildcard = false;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return weight > 0.0,
            "*" => wildcard = weight > 0.0,
            _ => {}
        }
    }
    wildcard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_when_named_or_wildcarded_with_weight() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("gzip, deflate, br, zstd"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("x-gzip"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("*, gzip;q=0"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(!accepts_gzip(""));
    }

    #[test]
    fn every_asset_is_a_whole_gzip_stream_of_its_kind() {
        for asset in ALL {
            let plain = asset.decompressed().unwrap();
            assert!(plain.len() > 10_000, "{} is too small", asset.name);
            assert!(
                plain.len() > 2 * asset.gzip.len(),
                "{} is not compressed well",
                asset.name
            );
        }
    }
}
