//! A loopback HTTP proxy in front of moto that injects network and service faults into a worker's
//! AWS calls: throttling answers, 5xx, attempts that never answer, connections dropped before the
//! request reaches moto, and DynamoDB writes that reach moto but whose response is lost. It also
//! runs one-shot hooks (e.g. SIGKILL the worker) just before or just after a matching call reaches
//! moto. The proxy never answers for AWS: every answer it does not fabricate as an error is moto's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy can do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// ProvisionedThroughputExceededException / ThrottlingException / SlowDown / Throttling,
    /// answered by the proxy; moto never sees the request.
    Throttle,
    /// 500 InternalError answered by the proxy; moto never sees the request.
    ServerError,
    /// Connection closed without an answer; moto never sees the request.
    Drop,
    /// No answer for `hold`, then the connection is closed; moto never sees the request.
    Timeout,
    /// DynamoDB writes only: moto applies the write, the worker never hears back.
    LostResponse,
}

/// Per-service probabilities (0.0–1.0) of each fault, rolled once per request in this order.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    pub throttle: f64,
    pub server_error: f64,
    pub drop: f64,
    pub timeout: f64,
    /// Applied to DynamoDB PutItem/UpdateItem/DeleteItem/BatchWriteItem/TransactWriteItems only
    /// (a group write that landed unreported is retried with its token, or redone item by item).
    pub lost_response: f64,
}

/// What the proxy answers to the S3 reads (GET and HEAD) that name one bucket: the faults moto
/// cannot make, such as a bucket policy's explicit Deny (moto does not enforce bucket policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketFault {
    /// An S3 error document with this status and code, e.g. `403 AccessDenied`; moto never sees
    /// the request.
    Error { status: u16, code: &'static str },
    /// No answer at all (the connection is held open for an hour): a bucket whose reads never
    /// answer. Moto never sees the request.
    Hang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The request is not forwarded; the connection is dropped after the action.
    Before,
    /// The request reaches moto and is applied; the response is dropped after the action.
    After,
    /// The request reaches moto and is applied; the action runs, and moto's own answer is then
    /// held back this long before it is delivered (a slow service that did its work: a client
    /// whose attempt timeout is shorter gives up and retries a call that already landed).
    Late(Duration),
    /// The request reaches moto changed by the hook's rewrite (moto answers the changed request
    /// itself: the proxy still never answers for AWS); the action runs, and moto's answer is
    /// delivered and kept (`rewritten_answers`).
    Rewritten,
}

/// A hook's change to a request body before moto sees it.
type Rewrite = Box<dyn FnOnce(&[u8]) -> Vec<u8> + Send>;

struct Hook {
    service: String,
    operation: String,
    /// Fires only on a request whose body contains this (e.g. a table name).
    body_contains: Option<String>,
    when: When,
    action: Box<dyn FnOnce() + Send>,
    rewrite: Option<Rewrite>,
}

#[derive(Default)]
struct State {
    rates: BTreeMap<String, Rates>,
    hooks: Vec<Hook>,
    rng: u64,
    /// (service, fault) → count.
    injected: BTreeMap<(String, Fault), u64>,
    /// service → requests seen.
    requests: BTreeMap<String, u64>,
    /// (service, operation) → requests seen.
    operations: BTreeMap<(String, String), u64>,
    hooks_fired: Vec<String>,
    /// Moto's answers to requests a `When::Rewritten` hook changed, in order.
    rewritten_answers: Vec<String>,
    /// Every request as `<service> <METHOD> <path?query>`, in arrival order.
    log: Vec<String>,
    /// Bucket → the fault answered to every S3 read naming it.
    bucket_faults: BTreeMap<String, BucketFault>,
    /// Bucket → S3 reads answered with its fault.
    bucket_faults_answered: BTreeMap<String, u64>,
    /// Refusals of requests by their content (`refuse_requests_containing`).
    refusals: Vec<Refusal>,
    /// Kinesis shard → GetRecords calls still to answer with an empty page (`empty_pages`).
    empty_pages: BTreeMap<String, u32>,
    /// Kinesis shard → empty pages served.
    empty_pages_served: BTreeMap<String, u32>,
    /// Kinesis shard iterator → its shard, learnt from moto's answers to GetShardIterator and
    /// GetRecords (iterators are opaque: the proxy follows them instead of decoding them).
    iterators: BTreeMap<String, String>,
}

/// A JSON-protocol error answered to every request of a service whose body contains all of
/// `needles`, for as long as it is set.
struct Refusal {
    service: String,
    needles: Vec<String>,
    status: u16,
    error_type: String,
    answered: u64,
}

pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The request's service from its SigV4 credential scope (`…/<date>/<region>/<service>/aws4_request`).
fn service_of(req: &hyper::http::request::Parts) -> String {
    req.headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| {
            let cred = auth.split("Credential=").nth(1)?;
            let scope: Vec<&str> = cred.split([',', ' ']).next()?.split('/').collect();
            scope.get(3).map(|s| (*s).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The operation: the JSON protocols' `X-Amz-Target` suffix, SNS's `Action`, or for S3
/// `<METHOD> <first query key>` (e.g. `PUT publicAccessBlock`).
fn operation_of(service: &str, req: &hyper::http::request::Parts, body: &[u8]) -> String {
    if let Some(t) = req
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return t.rsplit('.').next().unwrap_or(t).to_owned();
    }
    if service == "sns" || service == "sts" {
        let text = String::from_utf8_lossy(body);
        if let Some(a) = text
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .map(str::to_owned)
        {
            return a;
        }
    }
    let query_key = req
        .uri
        .query()
        .and_then(|q| q.split('&').next())
        .map(|kv| kv.split('=').next().unwrap_or(kv).to_owned())
        .unwrap_or_default();
    format!("{} {}", req.method, query_key).trim().to_owned()
}

/// The bucket an S3 request names: the host's first label (virtual-hosted style) or the path's
/// first segment (path style, as the workers address moto).
fn bucket_of(req: &hyper::http::request::Parts) -> Option<String> {
    let host = req
        .headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let hostname = host.split(':').next().unwrap_or("");
    if hostname.parse::<std::net::IpAddr>().is_err() && hostname != "localhost" {
        if let Some((first, _)) = hostname.split_once('.') {
            return Some(first.to_owned());
        }
    }
    req.uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
}

fn is_dynamodb_write(service: &str, op: &str) -> bool {
    service == "dynamodb"
        && matches!(
            op,
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
        )
}

fn error_response(service: &str, fault: Fault, nth: u64) -> Response<Full<Bytes>> {
    let json = |status: u16, ty: &str, msg: &str, ct: &str| {
        Response::builder()
            .status(status)
            .header("content-type", ct)
            .header("x-amzn-requestid", format!("fault-{nth}"))
            .body(Full::new(Bytes::from(format!(
                "{{\"__type\":\"{ty}\",\"message\":\"{msg}\"}}"
            ))))
            .unwrap()
    };
    let xml = |status: u16, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "text/xml")
            .header("x-amz-request-id", format!("fault-{nth}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let throttle = fault == Fault::Throttle;
    match service {
        "kinesis" if throttle => json(
            400,
            "ProvisionedThroughputExceededException",
            "Rate exceeded for shard (injected)",
            "application/x-amz-json-1.1",
        ),
        "kinesis" => json(
            500,
            "InternalFailure",
            "injected",
            "application/x-amz-json-1.1",
        ),
        "dynamodb" if throttle => json(
            400,
            if nth.is_multiple_of(2) {
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            } else {
                "com.amazonaws.dynamodb.v20120810#ThrottlingException"
            },
            "Rate of requests exceeds the allowed throughput (injected)",
            "application/x-amz-json-1.0",
        ),
        "dynamodb" => json(
            500,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "injected",
            "application/x-amz-json-1.0",
        ),
        "sns" | "sts" => {
            let (status, code) = if throttle {
                (400, "Throttling")
            } else {
                (500, "InternalFailure")
            };
            xml(status, format!("<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>injected</Message></Error><RequestId>fault-{nth}</RequestId></ErrorResponse>", if throttle { "Sender" } else { "Receiver" }))
        }
        _ => {
            let (status, code) = if throttle {
                (503, "SlowDown")
            } else {
                (500, "InternalError")
            };
            xml(status, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected</Message><RequestId>fault-{nth}</RequestId></Error>"))
        }
    }
}

/// The answer to one request; `Err` makes hyper close the connection without a response.
type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn dropped(what: &str) -> Answer {
    Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        format!("fault proxy: {what}"),
    ))
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 forwarding to `upstream` (e.g. moto's `http://127.0.0.1:5000`).
    /// `seed` makes the fault sequence repeatable; `hold` is how long a timed-out attempt hangs.
    pub async fn start(upstream: &str, seed: u64, hold: Duration) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            rng: seed.max(1),
            ..State::default()
        }));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let upstream: hyper::Uri = upstream.parse().unwrap();
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                let client = client.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(req, st.clone(), client.clone(), upstream.clone(), hold)
                    });
                    // Errors here are the faults we injected (or a client going away).
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://{addr}"),
            state,
            task,
        }
    }

    pub fn set_rates(&self, service: &str, rates: Rates) {
        self.state
            .lock()
            .unwrap()
            .rates
            .insert(service.to_owned(), rates);
    }

    /// Answers every S3 read (GET, HEAD) naming `bucket` with `fault` until cleared; writes to it
    /// still reach moto.
    pub fn fail_bucket_reads(&self, bucket: &str, fault: BucketFault) {
        self.state
            .lock()
            .unwrap()
            .bucket_faults
            .insert(bucket.to_owned(), fault);
    }

    /// Answers every `service` request (a JSON protocol: DynamoDB, Kinesis) whose body contains
    /// all of `needles` with `status` and the error `error_type` (e.g. 400
    /// `com.amazonaws.dynamodb.v20120810#ValidationException`, as DynamoDB refuses an item over
    /// its size limit): one item that the service refuses on its merits, every time.
    pub fn refuse_requests_containing(
        &self,
        service: &str,
        needles: &[&str],
        status: u16,
        error_type: &str,
    ) {
        self.state.lock().unwrap().refusals.push(Refusal {
            service: service.to_owned(),
            needles: needles.iter().map(|n| (*n).to_owned()).collect(),
            status,
            error_type: error_type.to_owned(),
            answered: 0,
        });
    }

    /// Requests answered by `refuse_requests_containing` rules.
    pub fn refused(&self) -> u64 {
        self.state
            .lock()
            .unwrap()
            .refusals
            .iter()
            .map(|r| r.answered)
            .sum()
    }

    pub fn clear_bucket_reads(&self, bucket: &str) {
        self.state.lock().unwrap().bucket_faults.remove(bucket);
    }

    /// S3 reads of `bucket` the proxy answered with its fault (or is holding).
    pub fn bucket_reads_failed(&self, bucket: &str) -> u64 {
        let st = self.state.lock().unwrap();
        st.bucket_faults_answered.get(bucket).copied().unwrap_or(0)
    }

    pub fn clear_rates(&self) {
        self.state.lock().unwrap().rates.clear();
    }

    /// Runs `action` once, on the first request for `service`/`operation`, before or after it
    /// reaches moto; that request's connection is then dropped (`Before`, `After`), or its answer
    /// delivered late (`Late`).
    pub fn hook(
        &self,
        service: &str,
        operation: &str,
        when: When,
        action: impl FnOnce() + Send + 'static,
    ) {
        self.hook_where(service, operation, None, when, action);
    }

    /// `hook`, firing only on a request whose body contains `body_contains`: which group write
    /// of a `TransactWriteItems`, for instance, by the tables it names.
    pub fn hook_where(
        &self,
        service: &str,
        operation: &str,
        body_contains: Option<&str>,
        when: When,
        action: impl FnOnce() + Send + 'static,
    ) {
        self.state.lock().unwrap().hooks.push(Hook {
            service: service.to_owned(),
            operation: operation.to_owned(),
            body_contains: body_contains.map(str::to_owned),
            when,
            action: Box::new(action),
            rewrite: None,
        });
    }

    /// A one-shot hook that changes the first matching request (its body contains
    /// `body_contains`) with `rewrite` before moto sees it; moto answers the changed request, and
    /// its answer is kept for `rewritten_answers`. For a request moto should refuse in part (one
    /// entry of a batch made invalid), which the proxy cannot fabricate without answering for AWS.
    pub fn rewrite_where(
        &self,
        service: &str,
        operation: &str,
        body_contains: Option<&str>,
        rewrite: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static,
    ) {
        self.state.lock().unwrap().hooks.push(Hook {
            service: service.to_owned(),
            operation: operation.to_owned(),
            body_contains: body_contains.map(str::to_owned),
            when: When::Rewritten,
            action: Box::new(|| {}),
            rewrite: Some(Box::new(rewrite)),
        });
    }

    /// Moto's answers (bodies) to the requests `rewrite_where` changed.
    pub fn rewritten_answers(&self) -> Vec<String> {
        self.state.lock().unwrap().rewritten_answers.clone()
    }

    pub fn injected(&self) -> BTreeMap<(String, Fault), u64> {
        self.state.lock().unwrap().injected.clone()
    }

    pub fn injected_total(&self, fault: Fault) -> u64 {
        self.injected()
            .iter()
            .filter(|((_, f), _)| *f == fault)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Every request seen, as `<service> <METHOD> <path?query>` (e.g. to count S3 listings).
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Requests seen for `service`'s `operation` (as `operation_of` names it, e.g. `AssumeRole`).
    pub fn operation_count(&self, service: &str, operation: &str) -> u64 {
        let st = self.state.lock().unwrap();
        st.operations
            .get(&(service.to_owned(), operation.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Answers the next `n` GetRecords calls on Kinesis shard `shard` with an empty page: moto's
    /// own answer with its `Records` emptied and `NextShardIterator` set to the iterator of the
    /// request, so the reader is told nothing and asks again from the same place. AWS documents
    /// such pages: "If there are no records available in the portion of the shard that the
    /// iterator points to, GetRecords returns an empty list. It might take multiple calls to get
    /// to a portion of the shard that contains records." Set it before the reader's first
    /// GetShardIterator on that shard: the shard of a GetRecords call is known by following
    /// iterators from there.
    pub fn empty_pages(&self, shard: &str, n: u32) {
        self.state
            .lock()
            .unwrap()
            .empty_pages
            .insert(shard.to_owned(), n);
    }

    /// Empty pages served on `shard` so far.
    pub fn empty_pages_served(&self, shard: &str) -> u32 {
        let st = self.state.lock().unwrap();
        st.empty_pages_served.get(shard).copied().unwrap_or(0)
    }

    pub fn hooks_fired(&self) -> Vec<String> {
        self.state.lock().unwrap().hooks_fired.clone()
    }

    /// One line for the test log: requests per service and faults injected.
    pub fn report(&self) -> String {
        let st = self.state.lock().unwrap();
        let faults: Vec<String> = st
            .injected
            .iter()
            .map(|((svc, f), n)| format!("{svc}.{f:?}={n}"))
            .collect();
        format!("requests {:?}; faults [{}]", st.requests, faults.join(", "))
    }
}

fn roll(rng: &mut u64) -> f64 {
    // xorshift64*: repeatable per seed, good enough to spread faults.
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: hyper::Uri,
    hold: Duration,
) -> Answer {
    let (mut parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return dropped("request body not received"),
    };
    let service = service_of(&parts);
    let op = operation_of(&service, &parts, &body);
    if let Some(answer) = bucket_fault(&service, &parts, &state).await {
        return answer;
    }
    if let Some(answer) = refusal(&service, &body, &state) {
        return answer;
    }
    let (fault, hook, nth, follow_iterators) = {
        let mut st = state.lock().unwrap();
        let follow_iterators = service == "kinesis"
            && (op == "GetShardIterator" || op == "GetRecords")
            && !st.empty_pages.is_empty();
        st.log.push(format!(
            "{service} {} {}",
            parts.method,
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        ));
        let nth = {
            let n = st.requests.entry(service.clone()).or_default();
            *n += 1;
            *n
        };
        *st.operations
            .entry((service.clone(), op.clone()))
            .or_default() += 1;
        let hook = st
            .hooks
            .iter()
            .position(|h| {
                h.service == service
                    && h.operation == op
                    && h.body_contains.as_deref().is_none_or(|needle| {
                        body.windows(needle.len()).any(|w| w == needle.as_bytes())
                    })
            })
            .map(|i| st.hooks.remove(i));
        let mut fault = None;
        if hook.is_none() {
            if let Some(r) = st.rates.get(&service).cloned() {
                let mut x = roll(&mut st.rng);
                for (p, f) in [
                    (r.throttle, Fault::Throttle),
                    (r.server_error, Fault::ServerError),
                    (r.drop, Fault::Drop),
                    (r.timeout, Fault::Timeout),
                    (
                        if is_dynamodb_write(&service, &op) {
                            r.lost_response
                        } else {
                            0.0
                        },
                        Fault::LostResponse,
                    ),
                ] {
                    if x < p {
                        fault = Some(f);
                        break;
                    }
                    x -= p;
                }
            }
            if let Some(f) = fault {
                *st.injected.entry((service.clone(), f)).or_default() += 1;
            }
        } else {
            st.hooks_fired.push(format!("{service} {op}"));
        }
        (fault, hook, nth, follow_iterators)
    };
    if let Some(h) = hook {
        match h.when {
            When::Before => {
                (h.action)();
                return dropped("hook before forwarding");
            }
            When::After => {
                let _ = forward(&client, &upstream, &parts, body).await;
                (h.action)();
                return dropped("hook after forwarding");
            }
            When::Late(hold) => {
                let answer = forward(&client, &upstream, &parts, body).await;
                (h.action)();
                tokio::time::sleep(hold).await;
                return match answer {
                    Ok(r) => Ok(r),
                    Err(_) => dropped("hook: upstream error"),
                };
            }
            When::Rewritten => {
                let changed = Bytes::from((h.rewrite.expect("a rewrite hook"))(&body));
                parts
                    .headers
                    .insert(hyper::header::CONTENT_LENGTH, changed.len().into());
                let answer = forward(&client, &upstream, &parts, changed).await;
                (h.action)();
                return match answer {
                    Ok(r) => {
                        let (rparts, rbody) = r.into_parts();
                        let bytes = rbody
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        state
                            .lock()
                            .unwrap()
                            .rewritten_answers
                            .push(String::from_utf8_lossy(&bytes).into_owned());
                        Ok(Response::from_parts(rparts, Full::new(bytes)))
                    }
                    Err(_) => dropped("hook: upstream error"),
                };
            }
        }
    }
    if fault.is_none() && follow_iterators {
        return kinesis_page(&state, &client, &upstream, &parts, body, &op).await;
    }
    match fault {
        Some(f @ (Fault::Throttle | Fault::ServerError)) => Ok(error_response(&service, f, nth)),
        Some(Fault::Drop) => dropped("connection dropped"),
        Some(Fault::Timeout) => {
            tokio::time::sleep(hold).await;
            dropped("attempt timed out")
        }
        Some(Fault::LostResponse) => {
            let _ = forward(&client, &upstream, &parts, body).await;
            dropped("response lost after the write")
        }
        None => match forward(&client, &upstream, &parts, body).await {
            Ok(r) => Ok(r),
            Err(e) => Ok(Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Full::new(Bytes::from(format!(
                    "fault proxy upstream error: {e}"
                ))))
                .unwrap()),
        },
    }
}

/// The answer of a `refuse_requests_containing` rule, if one matches.
fn refusal(service: &str, body: &[u8], state: &Mutex<State>) -> Option<Answer> {
    let mut st = state.lock().unwrap();
    let r = st.refusals.iter_mut().find(|r| {
        r.service == service
            && r.needles
                .iter()
                .all(|n| body.windows(n.len()).any(|w| w == n.as_bytes()))
    })?;
    r.answered += 1;
    Some(Ok(Response::builder()
        .status(r.status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", format!("refused-{}", r.answered))
        .body(Full::new(Bytes::from(format!(
            "{{\"__type\":\"{}\",\"message\":\"refused (injected)\"}}",
            r.error_type
        ))))
        .unwrap()))
}

/// The answer to an S3 read naming a bucket given a `BucketFault`, if this request is one.
async fn bucket_fault(
    service: &str,
    parts: &hyper::http::request::Parts,
    state: &Mutex<State>,
) -> Option<Answer> {
    if service != "s3" || !matches!(parts.method, hyper::Method::GET | hyper::Method::HEAD) {
        return None;
    }
    let bucket = bucket_of(parts)?;
    let (fault, nth) = {
        let mut st = state.lock().unwrap();
        let fault = st.bucket_faults.get(&bucket).copied()?;
        let n = st.bucket_faults_answered.entry(bucket).or_default();
        *n += 1;
        (fault, *n)
    };
    Some(match fault {
        BucketFault::Error { status, code } => Ok(Response::builder()
            .status(status)
            .header("content-type", "application/xml")
            .header("x-amz-request-id", format!("bucket-fault-{nth}"))
            .body(Full::new(Bytes::from(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected for this bucket</Message><RequestId>bucket-fault-{nth}</RequestId></Error>"
            ))))
            .unwrap()),
        BucketFault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            dropped("bucket read never answered")
        }
    })
}

/// A Kinesis GetShardIterator or GetRecords call while `empty_pages` is set: forwarded to moto;
/// the iterators of moto's answer are mapped to their shard; a GetRecords answer on a shard with
/// empty pages still due has its records taken out and its next iterator set back to the
/// request's.
async fn kinesis_page(
    state: &Arc<Mutex<State>>,
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &hyper::Uri,
    parts: &hyper::http::request::Parts,
    body: Bytes,
    op: &str,
) -> Answer {
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let answer = match forward(client, upstream, parts, body).await {
        Ok(r) => r,
        Err(_) => return dropped("upstream error"),
    };
    let (mut rparts, rbody) = answer.into_parts();
    let bytes = rbody
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let pass = |rparts, bytes| Ok(Response::from_parts(rparts, Full::new(bytes)));
    let Ok(mut page) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return pass(rparts, bytes);
    };
    if !rparts.status.is_success() {
        return pass(rparts, bytes);
    }
    let mut st = state.lock().unwrap();
    if op == "GetShardIterator" {
        if let (Some(shard), Some(it)) =
            (request["ShardId"].as_str(), page["ShardIterator"].as_str())
        {
            st.iterators.insert(it.to_owned(), shard.to_owned());
        }
        return pass(rparts, bytes);
    }
    let asked = request["ShardIterator"].as_str().unwrap_or_default();
    let Some(shard) = st.iterators.get(asked).cloned() else {
        return pass(rparts, bytes);
    };
    let due = st.empty_pages.get_mut(&shard).filter(|n| **n > 0);
    if let Some(n) = due {
        *n -= 1;
        *st.empty_pages_served.entry(shard).or_default() += 1;
        page["Records"] = serde_json::json!([]);
        page["NextShardIterator"] = serde_json::json!(asked);
        let changed = Bytes::from(serde_json::to_vec(&page).unwrap());
        rparts
            .headers
            .insert(hyper::header::CONTENT_LENGTH, changed.len().into());
        return Ok(Response::from_parts(rparts, Full::new(changed)));
    }
    if let Some(next) = page["NextShardIterator"].as_str() {
        st.iterators.insert(next.to_owned(), shard);
    }
    pass(rparts, bytes)
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &hyper::Uri,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri: hyper::Uri = format!(
        "{}://{}{}",
        upstream.scheme_str().unwrap_or("http"),
        upstream.authority().unwrap(),
        path
    )
    .parse()?;
    let mut req = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in &parts.headers {
        req = req.header(k, v);
    }
    let resp = client.request(req.body(Full::new(body))?).await?;
    let (rparts, rbody) = resp.into_parts();
    let bytes = rbody.collect().await?.to_bytes();
    Ok(Response::from_parts(rparts, Full::new(bytes)))
}
