//! `Content-Encoding: deflate` for the phones' fast path, where on a 2G line every byte is
//! time, and for the standard sync endpoint's requests. HTTP's "deflate" is the zlib format (RFC 1950). A request body so encoded is inflated,
//! to no more than the body limit; the reply is deflated when the request accepts it
//! (`Accept-Encoding: deflate`). Any other content coding is refused (415).

use std::io::{Read, Write};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use crate::error::{AppError, AppResult};

/// The request body as sent, inflated when it is deflated; `limit` bounds the inflated size.
pub fn request_body(headers: &HeaderMap, body: Bytes, limit: usize) -> AppResult<Bytes> {
    let Some(coding) = headers.get(header::CONTENT_ENCODING) else { return Ok(body) };
    let coding = coding.to_str().unwrap_or("").trim();
    if coding.eq_ignore_ascii_case("identity") {
        return Ok(body);
    }
    if !coding.eq_ignore_ascii_case("deflate") {
        return Err(AppError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("不支持的内容编码 {coding}，应为 deflate 或不编码"),
        ));
    }
    let mut out = Vec::new();
    let mut reader = ZlibDecoder::new(&body[..]).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| AppError::bad_request(format!("无法解压请求内容：{e}")))?;
    if out.len() > limit {
        return Err(AppError::client(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "请求内容解压后太大"));
    }
    Ok(Bytes::from(out))
}

/// Whether the request accepts a deflated reply.
pub fn accepted(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|c| {
            let mut parts = c.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("deflate") && !refused
        })
    })
}

/// A reply of `content_type`, deflated when `deflate` says the request accepts it.
pub fn reply(deflate: bool, content_type: &'static str, body: Vec<u8>) -> Response {
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if !deflate {
        return ([content_type, vary], body).into_response();
    }
    let mut e = ZlibEncoder::new(Vec::with_capacity(body.len() / 2), Compression::default());
    e.write_all(&body).expect("writing to memory");
    let body = e.finish().expect("writing to memory");
    ([content_type, vary, (header::CONTENT_ENCODING, HeaderValue::from_static("deflate"))], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn zlib(bytes: &[u8]) -> Bytes {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).expect("write");
        Bytes::from(e.finish().expect("finish"))
    }

    #[test]
    fn a_deflated_body_is_inflated_and_a_plain_one_left_alone() {
        let h = headers(&[(header::CONTENT_ENCODING, "deflate")]);
        assert_eq!(request_body(&h, zlib(b"hello"), 100).expect("inflates"), Bytes::from_static(b"hello"));
        assert_eq!(request_body(&HeaderMap::new(), Bytes::from_static(b"x"), 100).expect("as is"), "x");
    }

    #[test]
    fn a_body_that_inflates_past_the_limit_is_refused() {
        let h = headers(&[(header::CONTENT_ENCODING, "deflate")]);
        let bomb = zlib(&vec![0u8; 1_000_000]);
        assert!(bomb.len() < 10_000);
        let Err(AppError::Client { status, .. }) = request_body(&h, bomb, 100_000) else { panic!("refused") };
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn garbage_and_unknown_codings_are_refused() {
        let h = headers(&[(header::CONTENT_ENCODING, "deflate")]);
        let Err(AppError::Client { status, .. }) = request_body(&h, Bytes::from_static(b"not zlib"), 100) else {
            panic!("refused")
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let h = headers(&[(header::CONTENT_ENCODING, "br")]);
        let Err(AppError::Client { status, .. }) = request_body(&h, Bytes::from_static(b"x"), 100) else {
            panic!("refused")
        };
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn deflate_is_accepted_unless_refused_with_q_zero() {
        assert!(accepted(&headers(&[(header::ACCEPT_ENCODING, "gzip, deflate")])));
        assert!(!accepted(&headers(&[(header::ACCEPT_ENCODING, "gzip, deflate;q=0")])));
        assert!(!accepted(&HeaderMap::new()));
    }
}
