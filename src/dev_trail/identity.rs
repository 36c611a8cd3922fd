//! Who is behind an access key, for dev-trail's events: STS `GetCallerIdentity` asked of the
//! emulator with the request's access key, once per key (cached for the proxy's life; a failed
//! lookup is retried after a pause, never per request). Owns the lookup and its cache; how the
//! caller shows in an event is `core::trail_event`'s.
//!
//! The proxy holds no secret key: it signs the lookup with the request's access key id and a
//! placeholder secret. That works against emulators that do not verify signatures (moto by
//! default, which answers with an assumed role's session ARN and the role's account: "The ARN
//! can point to another account, providing an opportunity to switch accounts") and never against
//! AWS, where the lookup fails and the event keeps the default attribution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::core::trail_event::Caller;

/// A failed lookup is not retried for this long (the key keeps the default attribution).
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Access keys remembered at once; beyond, the cache starts afresh (a laptop uses a handful).
const MAX_KEYS: usize = 4096;

type Slot = Arc<OnceCell<Option<Caller>>>;

/// The callers of access keys seen so far.
pub struct Identities {
    base: SdkConfig,
    /// The account the emulator answers with for keys it does not know.
    default_account: String,
    known: Mutex<HashMap<String, Slot>>,
    failed: Mutex<HashMap<String, Instant>>,
    lookups: std::sync::atomic::AtomicU64,
}

impl Identities {
    pub fn new(base: &SdkConfig, default_account: &str) -> Identities {
        Identities {
            base: base.clone(),
            default_account: default_account.to_owned(),
            known: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            lookups: Default::default(),
        }
    }

    /// STS calls made so far (one per access key, plus retries after failures).
    pub fn lookups(&self) -> u64 {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The caller behind `access_key`, when it is someone the default attribution would get
    /// wrong: a role session, or a caller in another account than the default. `None` otherwise
    /// (and when the lookup failed), so plain keys keep the synthetic `user/<key>` identity.
    pub async fn caller(&self, access_key: &str) -> Option<Caller> {
        if let Some(at) = self.failed.lock().expect("failed lock").get(access_key) {
            if at.elapsed() < RETRY_AFTER {
                return None;
            }
        }
        let slot = {
            let mut known = self.known.lock().expect("known lock");
            if known.len() >= MAX_KEYS && !known.contains_key(access_key) {
                known.clear();
            }
            known.entry(access_key.to_owned()).or_default().clone()
        };
        let found = slot
            .get_or_try_init(|| async {
                match self.lookup(access_key).await {
                    Ok(c) => {
                        self.failed.lock().expect("failed lock").remove(access_key);
                        Ok(c)
                    }
                    Err(e) => {
                        warn!(access_key, error = %e,
                            "GetCallerIdentity for the access key failed: its calls keep the default account");
                        self.failed
                            .lock()
                            .expect("failed lock")
                            .insert(access_key.to_owned(), Instant::now());
                        Err(())
                    }
                }
            })
            .await;
        found.ok().cloned().flatten()
    }

    async fn lookup(&self, access_key: &str) -> Result<Option<Caller>, String> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let conf = aws_sdk_sts::config::Builder::from(&self.base)
            .credentials_provider(Credentials::new(
                access_key,
                "dev-trail-holds-no-secret",
                None,
                None,
                "dev-trail",
            ))
            .build();
        let me = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| format!("{}", aws_sdk_sts::error::DisplayErrorContext(e)))?;
        let caller = Caller {
            account: me.account().unwrap_or_default().to_owned(),
            arn: me.arn().unwrap_or_default().to_owned(),
            principal_id: me.user_id().unwrap_or_default().to_owned(),
        };
        let adopt = crate::config::is_account_id(&caller.account)
            && (caller.arn.contains(":assumed-role/") || caller.account != self.default_account);
        info!(access_key, account = %caller.account, arn = %caller.arn, adopted = adopt,
            "dev-trail: caller of an access key");
        Ok(adopt.then_some(caller))
    }
}
