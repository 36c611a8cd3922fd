//! Reading EventBridge for `bucketwarden doctor`: a rule's state, pattern and targets, and the
//! rules that target a given ARN. Owns the reads only; whether the rule forwards every watched
//! call to the stream is judged in `commands::doctor::rule`.

use crate::aws::error::{from_sdk, AwsError};

/// One rule as EventBridge describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFacts {
    pub name: String,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    /// The event pattern as JSON text (absent for a scheduled rule).
    pub pattern: Option<String>,
    /// The ARNs of its targets.
    pub targets: Vec<String>,
}

/// The rule `name` on the default bus with its targets; `Ok(None)` when it does not exist.
pub async fn read_rule(
    client: &aws_sdk_eventbridge::Client,
    name: &str,
) -> Result<Option<RuleFacts>, AwsError> {
    let r = match client.describe_rule().name(name).send().await {
        Ok(r) => r,
        Err(e) => {
            let e = from_sdk("events", "DescribeRule", e);
            if e.code == "ResourceNotFoundException" {
                return Ok(None);
            }
            return Err(e);
        }
    };
    let mut targets = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_targets_by_rule()
            .rule(name)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| from_sdk("events", "ListTargetsByRule", e))?;
        targets.extend(page.targets().iter().map(|t| t.arn().to_owned()));
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(Some(RuleFacts {
        name: name.to_owned(),
        state: r.state().map_or(String::new(), |s| s.as_str().to_owned()),
        pattern: r.event_pattern().map(str::to_owned),
        targets,
    }))
}

/// The names of the default bus's rules that target `arn`.
pub async fn rules_targeting(
    client: &aws_sdk_eventbridge::Client,
    arn: &str,
) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_rule_names_by_target()
            .target_arn(arn)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| from_sdk("events", "ListRuleNamesByTarget", e))?;
        out.extend(page.rule_names().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}
