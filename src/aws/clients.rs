//! AWS clients from the standard credential and region chain, honouring `AWS_ENDPOINT_URL` so the
//! whole product can point at a local emulator. Owns client construction only.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, SdkConfig};

use crate::aws::faults::{FaultInjector, FaultSpecError};

/// Every client a worker needs.
#[derive(Clone, Debug)]
pub struct Clients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub s3control: aws_sdk_s3control::Client,
    pub sns: aws_sdk_sns::Client,
    /// Who the credentials belong to (GetCallerIdentity needs no permission).
    pub sts: aws_sdk_sts::Client,
    pub endpoint: Option<String>,
}

/// Marks bucketwarden's own calls in CloudTrail's userAgent, so its events are recognisable.
pub const APP_NAME: &str = "bucketwarden";

/// S3 Control puts the account id in the host name (`{AccountId}.s3-control…`); an emulator on
/// a loopback address has no such host names, so with a custom endpoint send every call to it as is.
#[derive(Debug)]
struct PlainEndpoint(String);

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for PlainEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        _params: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
        aws_sdk_s3control::config::endpoint::EndpointFuture::ready(Ok(
            aws_smithy_types::endpoint::Endpoint::builder()
                .url(self.0.clone())
                .build(),
        ))
    }
}

/// S3 and S3 Control clients for `config` (path-style and a plain S3 Control endpoint when an
/// emulator's endpoint is set, as [`Clients`] builds them).
pub fn s3_pair(config: &SdkConfig) -> (aws_sdk_s3::Client, aws_sdk_s3control::Client) {
    let endpoint = config.endpoint_url().map(str::to_owned);
    let s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(endpoint.is_some());
    let mut s3c = aws_sdk_s3control::config::Builder::from(config);
    if let Some(url) = endpoint {
        s3c = s3c.endpoint_resolver(PlainEndpoint(url));
    }
    (
        aws_sdk_s3::Client::from_conf(s3.build()),
        aws_sdk_s3control::Client::from_conf(s3c.build()),
    )
}

/// Caps one attempt of any AWS call (`BUCKETWARDEN_AWS_ATTEMPT_TIMEOUT_MS`, default 10 s). Without
/// it a connection that never answers would hang a shard forever while its lease is still renewed
/// by another task: the worst failure for a guardrail, because nothing looks wrong. The SDK
/// retries a timed-out attempt like any transient error.
pub const ATTEMPT_TIMEOUT_ENV: &str = "BUCKETWARDEN_AWS_ATTEMPT_TIMEOUT_MS";
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The SDK's own default connect timeout, kept when the attempt timeout is set.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

fn attempt_timeout() -> Duration {
    std::env::var(ATTEMPT_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT)
}

/// The least attempt timeout of an SNS call. `Publish` to a standard topic is not idempotent: an
/// attempt cut off after SNS took the message is not "not sent", and the SDK's retry of it sends
/// the incident a second time, which no subscriber can tell from a new one. So SNS never gets the
/// short attempt timeout meant to abandon hung connections (a loaded endpoint answering in 1–2 s
/// is not hung); a retry follows only an attempt that failed, or that hung this long. A FIFO
/// topic deduplicates by incident and needs no such care, but gets the same bound.
pub const PUBLISH_MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The attempt timeout of SNS calls: the configured one, never below
/// [`PUBLISH_MIN_ATTEMPT_TIMEOUT`].
pub fn publish_attempt_timeout() -> Duration {
    attempt_timeout().max(PUBLISH_MIN_ATTEMPT_TIMEOUT)
}

fn timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .build()
}

pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .app_name(AppName::new(APP_NAME).expect("valid app name"))
        .timeout_config(timeouts(attempt_timeout()))
        .load()
        .await
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients::with_faults(config, None)
    }

    /// Clients with an optional fault injector (`BUCKETWARDEN_FAULTS`) on every service.
    pub fn with_faults(config: &SdkConfig, faults: Option<FaultInjector>) -> Clients {
        let endpoint = config.endpoint_url().map(str::to_owned);
        let mut s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(endpoint.is_some());
        let mut s3c = aws_sdk_s3control::config::Builder::from(config);
        if let Some(url) = &endpoint {
            s3c = s3c.endpoint_resolver(PlainEndpoint(url.clone()));
        }
        // GetRecords bodies are read by a cursor over the body instead of the SDK's byte-by-byte
        // reader (src/aws/kinesis_json.rs); every other call is the SDK's protocol unchanged.
        let mut kinesis = aws_sdk_kinesis::config::Builder::from(config)
            .protocol(crate::aws::kinesis_json::KinesisProtocol::new());
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config);
        let mut sns = aws_sdk_sns::config::Builder::from(config)
            .timeout_config(timeouts(publish_attempt_timeout()));
        if let Some(f) = faults {
            s3 = s3.interceptor(f.clone());
            s3c = s3c.interceptor(f.clone());
            kinesis = kinesis.interceptor(f.clone());
            dynamodb = dynamodb.interceptor(f.clone());
            sns = sns.interceptor(f);
        }
        Clients {
            kinesis: aws_sdk_kinesis::Client::from_conf(kinesis.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            s3control: aws_sdk_s3control::Client::from_conf(s3c.build()),
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
            sts: aws_sdk_sts::Client::new(config),
            endpoint,
        }
    }

    /// The account the credentials belong to (STS GetCallerIdentity, which needs no permission).
    pub async fn caller_account(&self) -> Result<String, crate::aws::error::AwsError> {
        let r = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| crate::aws::error::from_sdk("sts", "GetCallerIdentity", e))?;
        Ok(r.account().unwrap_or_default().to_owned())
    }

    /// Clients from the environment, with fault injection when `BUCKETWARDEN_FAULTS` is set.
    pub async fn from_env() -> Result<Clients, FaultSpecError> {
        let faults = FaultInjector::from_env()?;
        if faults.is_some() {
            tracing::warn!(
                "fault injection is ON ({}): for tests and drills only",
                crate::aws::faults::ENV
            );
        }
        Ok(Clients::with_faults(&load_config().await, faults))
    }
}
