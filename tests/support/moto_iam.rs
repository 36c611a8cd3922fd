//! IAM set-up on moto for the tests of denials: unsigned Query-protocol calls as any account
//! (moto's `x-moto-account-id`), made while moto's authorization is still off. Nothing here
//! imitates AWS; every call goes to moto.

/// One Query-protocol call (IAM) to moto, as `account` (moto's `x-moto-account-id`). Only while
/// moto's authorization is off: the request is not signed.
pub async fn moto_query(
    endpoint: &str,
    account: &str,
    service: &str,
    params: &[(&str, &str)],
) -> String {
    use http_body_util::{BodyExt, Full};
    let body: String = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let req = hyper::Request::post(format!("{endpoint}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-moto-account-id", account)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"),
        )
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client.request(req).await.unwrap();
    let status = resp.status();
    let text =
        String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned();
    assert!(status.is_success(), "{service} {params:?}: {status} {text}");
    text
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn xml_field<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("{name} in {xml}")) + open.len();
    let end = start + xml[start..].find('<').unwrap();
    &xml[start..end]
}
