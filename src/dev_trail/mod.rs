//! `bucketwarden dev-trail`: a loopback proxy in front of an emulator's S3 that forwards every
//! request unchanged and, for each watched call, puts on the Kinesis stream the EventBridge event
//! CloudTrail would have delivered. Owns the proxy, its body handling and the ordered event
//! sender; what a request means and how its event looks belong to `trail_event`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::aws::backoff::Backoff;
use crate::core::trail_event::{self, CallContext, RequestHead, WatchedCall};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// Largest request document read to describe a call (S3 caps policies at 20 KiB and ACL bodies
/// are smaller still); larger bodies are forwarded without being read.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Largest error response read to find S3's error code.
const MAX_ERROR_BYTES: usize = 1 << 20;
/// Events waiting for Kinesis; when full, requests wait (backpressure) rather than lose events.
const QUEUE_DEPTH: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// The emulator's base URL, e.g. `http://127.0.0.1:5000`.
    pub upstream: String,
    pub stream: String,
    /// Host suffixes for virtual-host-style requests (`<bucket>.<suffix>`).
    pub vhost_suffixes: Vec<String>,
    /// Account recorded when the request's access key names none.
    pub account_id: String,
    /// Region recorded when the request's credential scope names none.
    pub region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DevTrailError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("upstream {0:?} is not an http:// URL with a host (e.g. http://127.0.0.1:5000)")]
    BadUpstream(String),
}

impl DevTrailError {
    /// A busy port may free up; a bad URL will not.
    pub fn retryable(&self) -> bool {
        matches!(self, DevTrailError::Bind { .. })
    }
}

/// Counters for the summary printed at exit.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub events_queued: AtomicU64,
    pub events_put: AtomicU64,
    pub put_retries: AtomicU64,
    pub events_undelivered: AtomicU64,
}

/// What `run` returns when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub requests: u64,
    pub upstream_failures: u64,
    pub events_put: u64,
    pub events_undelivered: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dev-trail: {} requests forwarded ({} upstream failures), {} events put on the stream, {} undelivered",
            self.requests, self.upstream_failures, self.events_put, self.events_undelivered
        )
    }
}

struct Queued {
    partition_key: String,
    data: Vec<u8>,
    name: &'static str,
    bucket: Option<String>,
    key: Option<String>,
    error_code: Option<String>,
}

struct Shared {
    opts: Options,
    upstream: Uri,
    client: Client<HttpConnector, ProxyBody>,
    events: mpsc::Sender<Queued>,
    stats: Arc<Stats>,
}

/// A bound proxy, ready to run.
pub struct DevTrail {
    listener: TcpListener,
    opts: Options,
    upstream: Uri,
}

impl DevTrail {
    pub async fn bind(opts: Options) -> Result<DevTrail, DevTrailError> {
        let upstream: Uri = opts
            .upstream
            .trim_end_matches('/')
            .parse()
            .ok()
            .filter(|u: &Uri| u.scheme_str() == Some("http") && u.host().is_some())
            .ok_or_else(|| DevTrailError::BadUpstream(opts.upstream.clone()))?;
        let listener =
            TcpListener::bind(opts.listen)
                .await
                .map_err(|source| DevTrailError::Bind {
                    addr: opts.listen,
                    source,
                })?;
        Ok(DevTrail {
            listener,
            opts,
            upstream,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.opts.listen)
    }

    /// Serves until `shutdown`, then delivers the events already queued and returns the summary.
    pub async fn run(
        self,
        kinesis: aws_sdk_kinesis::Client,
        shutdown: CancellationToken,
    ) -> Summary {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let closing = CancellationToken::new();
        let sender = tokio::spawn(send_loop(
            rx,
            kinesis,
            self.opts.stream.clone(),
            stats.clone(),
            closing.clone(),
        ));
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let shared = Arc::new(Shared {
            client: Client::builder(TokioExecutor::new()).build(connector),
            upstream: self.upstream,
            opts: self.opts,
            events: tx,
            stats: stats.clone(),
        });
        loop {
            let (stream, remote) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(&shared, remote, req).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    debug!(error = %e, %remote, "connection ended with an error");
                }
            });
        }
        drop(shared);
        // Requests in flight get a moment to finish and queue their events.
        tokio::time::sleep(Duration::from_millis(500)).await;
        closing.cancel();
        let _ = sender.await;
        Summary {
            requests: stats.requests.load(Ordering::Relaxed),
            upstream_failures: stats.upstream_failures.load(Ordering::Relaxed),
            events_put: stats.events_put.load(Ordering::Relaxed),
            // Anything queued and not put (given up on, or refused while stopping) is lost.
            events_undelivered: stats
                .events_queued
                .load(Ordering::Relaxed)
                .saturating_sub(stats.events_put.load(Ordering::Relaxed)),
        }
    }
}

/// Headers that belong to one hop, not to the request (RFC 9110 §7.6.1); `expect` is answered
/// by this proxy itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "expect"
    )
}

fn text_response(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut resp = Response::new(full(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn request_head(req: &hyper::http::request::Parts) -> RequestHead {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if req.headers.get(HOST).is_none() {
        if let Some(a) = req.uri.authority() {
            headers.push(("host".into(), a.as_str().to_owned()));
        }
    }
    RequestHead {
        method: req.method.as_str().to_owned(),
        path: req.uri.path().to_owned(),
        query: req.uri.query().map(str::to_owned),
        headers,
    }
}

async fn handle(
    shared: &Shared,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let head = request_head(&parts);
    let call = trail_event::classify(&head, &shared.opts.vhost_suffixes);

    // Only small documents are read; uploads stream through untouched.
    let declared_len = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let read_document = call.as_ref().is_some_and(|c| c.needs_body)
        && declared_len.is_none_or(|n| n <= MAX_DOCUMENT_BYTES);
    let (body, document) = if read_document {
        match Limited::new(body, MAX_DOCUMENT_BYTES).collect().await {
            Ok(c) => {
                let bytes = c.to_bytes();
                (full(bytes.clone()), Some(bytes))
            }
            Err(e) => {
                warn!(error = %e, "request document unreadable or over 1 MiB");
                return text_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "EntityTooLarge",
                    "dev-trail reads request documents up to 1 MiB",
                );
            }
        }
    } else {
        (body.map_err(BoxError::from).boxed(), None)
    };

    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut uri = shared.upstream.clone().into_parts();
    uri.path_and_query = path_and_query.parse().ok();
    let Ok(uri) = Uri::from_parts(uri) else {
        return text_response(
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            "unparseable request path",
        );
    };
    let mut out = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter().filter(|(k, _)| !is_hop_by_hop(k)) {
        out = out.header(k, v);
    }
    if parts.headers.get(HOST).is_none() {
        if let Some(a) = parts.uri.authority().or(shared.upstream.authority()) {
            out = out.header(HOST, a.as_str());
        }
    }
    let Ok(out) = out.body(body) else {
        return text_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "unforwardable request",
        );
    };

    let resp = match shared.client.request(out).await {
        Ok(r) => r,
        Err(e) => {
            shared
                .stats
                .upstream_failures
                .fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, upstream = %shared.upstream, "upstream request failed; no event (the call did not happen)");
            return text_response(
                StatusCode::BAD_GATEWAY,
                "ServiceUnavailable",
                "dev-trail could not reach the upstream S3 endpoint",
            );
        }
    };
    let (mut rparts, rbody) = resp.into_parts();
    let hop: Vec<HeaderName> = rparts
        .headers
        .keys()
        .filter(|k| is_hop_by_hop(k))
        .cloned()
        .collect();
    for k in hop {
        rparts.headers.remove(k);
    }

    let Some(call) = call else {
        return Response::from_parts(rparts, rbody.map_err(BoxError::from).boxed());
    };
    let (rbody, error) = if rparts.status.is_client_error() || rparts.status.is_server_error() {
        // Error bodies are small; read one to record S3's errorCode as CloudTrail does.
        match Limited::new(rbody, MAX_ERROR_BYTES).collect().await {
            Ok(c) => {
                let bytes = c.to_bytes();
                let error = trail_event::s3_error(&bytes).unwrap_or_else(|| {
                    (
                        rparts
                            .status
                            .canonical_reason()
                            .unwrap_or("Error")
                            .replace(' ', ""),
                        String::new(),
                    )
                });
                (full(bytes), Some(error))
            }
            Err(e) => {
                warn!(error = %e, "upstream error body unreadable");
                let code = format!("Http{}", rparts.status.as_u16());
                (full(Bytes::new()), Some((code, String::new())))
            }
        }
    } else {
        (rbody.map_err(BoxError::from).boxed(), None)
    };
    // CloudTrail always records a request id; the emulator does not always send one.
    let request_id = ["x-amz-request-id", "x-amzn-requestid"]
        .iter()
        .find_map(|h| rparts.headers.get(*h)?.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase());
    queue_event(
        shared,
        &call,
        &head,
        document.as_deref(),
        remote,
        Some(request_id),
        error,
    )
    .await;
    Response::from_parts(rparts, rbody)
}

async fn queue_event(
    shared: &Shared,
    call: &WatchedCall,
    head: &RequestHead,
    document: Option<&[u8]>,
    remote: SocketAddr,
    request_id: Option<String>,
    error: Option<(String, String)>,
) {
    let now = crate::clock::now_ms();
    let ctx = CallContext {
        event_id: uuid::Uuid::new_v4().to_string(),
        event_time: crate::core::time::format_millis(now),
        request_id,
        source_ip: remote.ip().to_string(),
        default_account: shared.opts.account_id.clone(),
        default_region: shared.opts.region.clone(),
        error: error.clone(),
    };
    let event = trail_event::eventbridge_event(call, head, document, &ctx);
    let queued = Queued {
        partition_key: trail_event::partition_key(&event),
        data: serde_json::to_vec(&event).unwrap_or_default(),
        name: call.name.as_str(),
        bucket: call.bucket.clone().or_else(|| call.access_point.clone()),
        key: call.key.clone(),
        error_code: error.map(|e| e.0),
    };
    shared.stats.events_queued.fetch_add(1, Ordering::Relaxed);
    if shared.events.send(queued).await.is_err() {
        shared
            .stats
            .events_undelivered
            .fetch_add(1, Ordering::Relaxed);
        error!(event_id = %ctx.event_id, event = %event, "dev-trail is stopping: event not delivered");
    }
}

/// One sender, one record at a time: events reach the stream in the order the calls completed,
/// which keeps each bucket's events ordered as EventBridge's partition key does on AWS.
async fn send_loop(
    mut rx: mpsc::Receiver<Queued>,
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    stats: Arc<Stats>,
    closing: CancellationToken,
) {
    let mut closed = false;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 7);
    loop {
        let next = tokio::select! {
            biased;
            q = rx.recv() => q,
            _ = closing.cancelled(), if !closed => {
                rx.close();
                closed = true;
                continue;
            }
        };
        let Some(q) = next else { break };
        backoff.reset();
        loop {
            let result = kinesis
                .put_record()
                .stream_name(&stream)
                .partition_key(&q.partition_key)
                .data(aws_sdk_kinesis::primitives::Blob::new(q.data.clone()))
                .send()
                .await;
            match result {
                Ok(out) => {
                    stats.events_put.fetch_add(1, Ordering::Relaxed);
                    info!(
                        event_name = q.name,
                        bucket = q.bucket.as_deref().unwrap_or(""),
                        key = q.key.as_deref().unwrap_or(""),
                        error_code = q.error_code.as_deref().unwrap_or(""),
                        shard_id = out.shard_id(),
                        "event on the stream"
                    );
                    break;
                }
                Err(e) => {
                    let e = aws_sdk_kinesis::error::DisplayErrorContext(e);
                    // Keep trying while serving; once stopping, give up after a few attempts
                    // and print the event so it can be put by hand.
                    if closed && backoff.attempts() >= 5 {
                        stats.events_undelivered.fetch_add(1, Ordering::Relaxed);
                        error!(error = %e, event = %String::from_utf8_lossy(&q.data), "event not delivered to the stream");
                        break;
                    }
                    stats.put_retries.fetch_add(1, Ordering::Relaxed);
                    warn!(error = %e, stream = %stream, "PutRecord failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        for h in ["connection", "transfer-encoding", "expect", "te", "upgrade"] {
            assert!(is_hop_by_hop(&HeaderName::from_static(h)), "{h}");
        }
        for h in [
            "host",
            "authorization",
            "x-amz-acl",
            "content-length",
            "content-md5",
        ] {
            assert!(!is_hop_by_hop(&HeaderName::from_static(h)), "{h}");
        }
    }

    #[tokio::test]
    async fn bind_rejects_upstreams_that_are_not_http_urls() {
        for bad in ["", "127.0.0.1:5000", "https://127.0.0.1:5000", "http://"] {
            let opts = Options {
                listen: "127.0.0.1:0".parse().unwrap(),
                upstream: bad.into(),
                stream: "s".into(),
                vhost_suffixes: vec![],
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
            };
            match DevTrail::bind(opts).await {
                Err(e @ DevTrailError::BadUpstream(_)) => assert!(!e.retryable()),
                Err(e) => panic!("{bad:?}: {e}"),
                Ok(_) => panic!("{bad:?} accepted"),
            }
        }
    }
}
