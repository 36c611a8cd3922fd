//! Fault injection for tests and chaos drills, through the AWS SDK's interceptors (never a fake
//! AWS): `BUCKETWARDEN_FAULTS="kinesis.GetRecords=ExpiredIteratorException@4,s3.PutPublicAccessBlock=AccessDenied@1"`
//! makes every 4th GetRecords answer ExpiredIteratorException and every PutPublicAccessBlock answer
//! AccessDenied. A faulted call is turned into a harmless read before it is sent (so the emulator
//! is not changed behind the worker's back) and its response is replaced by the error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

pub const ENV: &str = "BUCKETWARDEN_FAULTS";

#[derive(Debug)]
struct Rule {
    service: String,
    operation: String,
    code: String,
    every: u64,
    calls: AtomicU64,
}

#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    rules: Arc<Vec<Rule>>,
}

#[derive(Debug, Clone)]
struct Injected(String);

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {ENV} entry {0:?}: expected service.Operation=ErrorCode[@N]")]
pub struct FaultSpecError(String);

impl FaultInjector {
    pub fn parse(spec: &str) -> Result<FaultInjector, FaultSpecError> {
        let mut rules = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || FaultSpecError(entry.to_owned());
            let (target, rest) = entry.split_once('=').ok_or_else(bad)?;
            let (service, operation) = target.split_once('.').ok_or_else(bad)?;
            let (code, every) = match rest.split_once('@') {
                Some((c, n)) => (c, n.parse::<u64>().map_err(|_| bad())?),
                None => (rest, 1),
            };
            if service.is_empty() || operation.is_empty() || code.is_empty() || every == 0 {
                return Err(bad());
            }
            rules.push(Rule {
                service: service.to_ascii_lowercase(),
                operation: operation.to_owned(),
                code: code.to_owned(),
                every,
                calls: AtomicU64::new(0),
            });
        }
        Ok(FaultInjector {
            rules: Arc::new(rules),
        })
    }

    /// The injector configured by the environment, if any.
    pub fn from_env() -> Result<Option<FaultInjector>, FaultSpecError> {
        match std::env::var(ENV) {
            Ok(spec) if !spec.trim().is_empty() => FaultInjector::parse(&spec).map(Some),
            _ => Ok(None),
        }
    }

    fn pick(&self, service: &str, operation: &str) -> Option<String> {
        let service = service.to_ascii_lowercase();
        self.rules.iter().find_map(|r| {
            let matches = (service.contains(&r.service) || r.service == "*")
                && (r.operation == operation || r.operation == "*");
            if !matches {
                return None;
            }
            let n = r.calls.fetch_add(1, Ordering::Relaxed) + 1;
            (n % r.every == 0).then(|| r.code.clone())
        })
    }
}

fn status_for(code: &str) -> u16 {
    match code {
        "AccessDenied" | "AccessDeniedException" => 403,
        "SlowDown" | "ServiceUnavailable" => 503,
        "InternalError" => 500,
        _ => 400,
    }
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "bucketwarden-fault-injector"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let (service, operation) = (meta.service().to_owned(), meta.name().to_owned());
        let Some(code) = self.pick(&service, &operation) else {
            return Ok(());
        };
        let req = context.request_mut();
        // Make the faulted call harmless: a read in place of a write. The headers that describe the
        // original body must go with it, or the server waits for bytes that never come.
        if let Some(target) = req.headers().get("x-amz-target").map(str::to_owned) {
            let harmless = if target.starts_with("DynamoDB") {
                "DynamoDB_20120810.ListTables"
            } else {
                "Kinesis_20131202.ListStreams"
            };
            req.headers_mut().insert("x-amz-target", harmless);
            req.headers_mut().insert("content-length", "2");
            *req.body_mut() = SdkBody::from("{}");
        } else if req.method() != "GET" {
            req.set_method("GET")?;
            for h in [
                "content-length",
                "content-md5",
                "content-type",
                "transfer-encoding",
                "content-encoding",
                "x-amz-decoded-content-length",
            ] {
                req.headers_mut().remove(h);
            }
            let checksums: Vec<String> = req
                .headers()
                .iter()
                .map(|(k, _)| k.to_owned())
                .filter(|k| k.starts_with("x-amz-checksum-") || k == "x-amz-sdk-checksum-algorithm")
                .collect();
            for h in checksums {
                req.headers_mut().remove(h);
            }
            *req.body_mut() = SdkBody::empty();
        }
        cfg.interceptor_state().store_put(Injected(code));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Injected(code)) = cfg.load::<Injected>().cloned() else {
            return Ok(());
        };
        let json = context
            .response()
            .headers()
            .get("content-type")
            .is_some_and(|c| c.contains("json"));
        let resp = context.response_mut();
        *resp.status_mut() = StatusCode::try_from(status_for(&code))?;
        let body = if json {
            format!(r#"{{"__type":"{code}","message":"injected by {ENV}"}}"#)
        } else {
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by {ENV}</Message><RequestId>injected</RequestId></Error>")
        };
        resp.headers_mut().remove("content-length");
        resp.headers_mut()
            .insert("content-length", body.len().to_string());
        *resp.body_mut() = SdkBody::from(body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_counts() {
        let f = FaultInjector::parse(
            "kinesis.GetRecords=ExpiredIteratorException@3, s3.PutPublicAccessBlock=AccessDenied",
        )
        .unwrap();
        let picks: Vec<bool> = (0..6)
            .map(|_| f.pick("Kinesis", "GetRecords").is_some())
            .collect();
        assert_eq!(picks, vec![false, false, true, false, false, true]);
        assert_eq!(
            f.pick("s3", "PutPublicAccessBlock").as_deref(),
            Some("AccessDenied")
        );
        assert_eq!(f.pick("s3", "GetBucketAcl"), None);
    }

    #[test]
    fn rejects_nonsense() {
        assert!(FaultInjector::parse("GetRecords").is_err());
        assert!(FaultInjector::parse("kinesis.GetRecords=X@0").is_err());
        assert!(FaultInjector::parse("kinesis.GetRecords=X@two").is_err());
    }
}
