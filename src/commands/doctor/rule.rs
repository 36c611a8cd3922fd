//! The EventBridge checks, pure: given the forwarding rule as `aws::rule_read` read it, is it
//! enabled, does its pattern match every watched call (the code's own `EventName::ALL`), and
//! does it target the stream (or, in a member account, the central bus). Makes no call.

use serde_json::Value;

use crate::aws::error::AwsError;
use crate::aws::rule_read::RuleFacts;
use crate::core::event_name::EventName;

use super::check::{unreadable, Item, Status};

/// Where the rule must send events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The fleet's stream (the fleet's own account): its ARN.
    Stream(String),
    /// An event bus of the fleet's account (a member account forwards there): that account.
    CentralBus(String),
}

/// Whether a pattern matches one watched call, as EventBridge would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Yes,
    No,
    /// The pattern also tests something the call alone does not determine (an account, a
    /// bucket, an operator doctor does not evaluate): matches only where that holds.
    Depends(String),
}

/// The fields of the event EventBridge builds from a CloudTrail record of `e` that the call
/// alone determines. AWS: such events have `"source": "aws.s3"` and `"detail-type": "AWS API Call
/// via CloudTrail"`, with the CloudTrail record as `detail`.
fn known_value(path: &str, e: EventName) -> Option<&'static str> {
    match path {
        "source" => Some("aws.s3"),
        "detail-type" => Some("AWS API Call via CloudTrail"),
        "detail.eventName" => Some(e.as_str()),
        "detail.eventSource" => Some("s3.amazonaws.com"),
        _ => None,
    }
}

/// One content filter of a pattern array on a string value; `None` for an operator doctor does
/// not evaluate. AWS (Content filtering in Amazon EventBridge event patterns): prefix, suffix,
/// anything-but, equals-ignore-case, wildcard, exists.
fn filter_matches(filter: &Value, v: &str) -> Option<bool> {
    match filter {
        Value::String(s) => Some(s == v),
        Value::Object(o) if o.len() == 1 => {
            let (op, arg) = o.iter().next().expect("one");
            match (op.as_str(), arg) {
                ("prefix", Value::String(p)) => Some(v.starts_with(p.as_str())),
                ("suffix", Value::String(p)) => Some(v.ends_with(p.as_str())),
                ("equals-ignore-case", Value::String(p)) => Some(v.eq_ignore_ascii_case(p)),
                ("exists", Value::Bool(b)) => Some(*b),
                ("wildcard", Value::String(p)) => Some(wildcard(p, v)),
                ("anything-but", Value::String(s)) => Some(s != v),
                ("anything-but", Value::Array(a)) => Some(!a.iter().any(|x| x.as_str() == Some(v))),
                ("anything-but", inner @ Value::Object(_)) => filter_matches(inner, v).map(|m| !m),
                _ => None,
            }
        }
        _ => Some(false),
    }
}

/// EventBridge's `wildcard`: `*` matches any run of characters.
fn wildcard(pattern: &str, v: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == v;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !v.starts_with(first) || v.len() < first.len() + last.len() || !v.ends_with(last) {
        return false;
    }
    let mut rest = &v[first.len()..v.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

fn walk(pattern: &Value, path: &str, e: EventName, depends: &mut Vec<String>) -> bool {
    let Value::Object(fields) = pattern else {
        depends.push(format!("{path} (not an object)"));
        return true;
    };
    for (k, v) in fields {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match v {
            // `$or` alternatives are not evaluated: the call matches only where one holds.
            _ if k == "$or" => depends.push(p),
            Value::Object(_) => {
                if !walk(v, &p, e, depends) {
                    return false;
                }
            }
            Value::Array(filters) => match known_value(&p, e) {
                Some(value) => {
                    let mut any = false;
                    let mut unsure = false;
                    for f in filters {
                        match filter_matches(f, value) {
                            Some(true) => any = true,
                            Some(false) => {}
                            None => unsure = true,
                        }
                    }
                    if !any {
                        if unsure {
                            depends.push(p);
                        } else {
                            return false;
                        }
                    }
                }
                None => depends.push(p),
            },
            _ => depends.push(p),
        }
    }
    true
}

/// Whether the pattern (JSON text) matches the event of watched call `e`.
pub fn pattern_matches(pattern: &Value, e: EventName) -> Match {
    let mut depends = Vec::new();
    if !walk(pattern, "", e, &mut depends) {
        return Match::No;
    }
    if depends.is_empty() {
        Match::Yes
    } else {
        Match::Depends(depends.join(", "))
    }
}

/// The EventBridge items of one rule: state, pattern, target.
pub fn judge(
    account: &str,
    name: &str,
    rule: &Result<Option<RuleFacts>, AwsError>,
    dest: &Destination,
) -> Vec<Item> {
    let rule = match rule {
        Ok(Some(r)) => r,
        Ok(None) => {
            return vec![Item::new(
                account,
                "eventbridge.rule",
                Status::Fail,
                format!("no rule {name} on the default bus: no S3 call reaches the fleet"),
            )
            .fix("deploy deploy/bucketwarden.yaml (S3CallsRule) or deploy/member-account.yaml (ForwardS3CallsRule)")]
        }
        Err(e) => {
            return vec![unreadable(
                account,
                "eventbridge.rule",
                e,
                "events:DescribeRule and events:ListTargetsByRule",
            )]
        }
    };
    let mut items = Vec::new();
    if rule.state.starts_with("ENABLED") {
        items.push(Item::ok(
            account,
            "eventbridge.rule",
            format!("rule {name} is {}", rule.state),
        ));
    } else {
        items.push(
            Item::new(
                account,
                "eventbridge.rule",
                Status::Fail,
                format!(
                    "rule {name} is {}: no S3 call reaches the fleet",
                    rule.state
                ),
            )
            .fix(format!("aws events enable-rule --name {name}")),
        );
    }
    items.push(pattern_item(account, name, rule.pattern.as_deref()));
    items.push(target_item(account, name, &rule.targets, dest));
    items
}

const PATTERN_FIX: &str =
    "aws events put-rule --name RULE --event-pattern file://pattern.json, with the \
EventPattern of deploy/bucketwarden.yaml's S3CallsRule (or redeploy the stack)";

fn pattern_item(account: &str, name: &str, pattern: Option<&str>) -> Item {
    let check = "eventbridge.pattern";
    let fix = PATTERN_FIX.replace("RULE", name);
    let parsed: Option<Value> = pattern.and_then(|p| serde_json::from_str(p).ok());
    let Some(pattern) = parsed else {
        return Item::new(
            account,
            check,
            Status::Fail,
            format!("rule {name} has no readable event pattern"),
        )
        .fix(fix);
    };
    let mut missing = Vec::new();
    let mut depends = Vec::new();
    for e in EventName::ALL {
        match pattern_matches(&pattern, e) {
            Match::Yes => {}
            Match::No => missing.push(e.as_str()),
            Match::Depends(why) => depends.push(format!("{} (on {why})", e.as_str())),
        }
    }
    if !missing.is_empty() {
        Item::new(
            account,
            check,
            Status::Fail,
            format!(
                "the pattern of {name} does not match {} of the {} watched calls: {}",
                missing.len(),
                EventName::ALL.len(),
                missing.join(", ")
            ),
        )
        .fix(fix)
    } else if !depends.is_empty() {
        Item::new(
            account,
            check,
            Status::Warn,
            format!(
                "the pattern of {name} matches watched calls only conditionally: {}",
                depends.join("; ")
            ),
        )
        .fix(fix)
    } else {
        Item::ok(
            account,
            check,
            format!(
                "the pattern matches all {} watched calls",
                EventName::ALL.len()
            ),
        )
    }
}

fn target_item(account: &str, name: &str, targets: &[String], dest: &Destination) -> Item {
    let check = "eventbridge.target";
    let (hit, want) = match dest {
        Destination::Stream(arn) => (
            targets.iter().find(|t| *t == arn),
            format!("the stream {arn}"),
        ),
        Destination::CentralBus(central) => (
            targets.iter().find(|t| {
                let parts: Vec<&str> = t.splitn(6, ':').collect();
                parts.len() == 6
                    && parts[2] == "events"
                    && parts[4] == central
                    && parts[5].starts_with("event-bus/")
            }),
            format!("an event bus of account {central}"),
        ),
    };
    match hit {
        Some(t) => Item::ok(account, check, format!("rule {name} targets {t}")),
        None => Item::new(
            account,
            check,
            Status::Fail,
            format!(
                "rule {name} targets {}, not {want}: events go elsewhere",
                if targets.is_empty() { "nothing".to_owned() } else { targets.join(", ") }
            ),
        )
        .fix(match dest {
            Destination::Stream(arn) => format!(
                "aws events put-targets --rule {name} --targets 'Id=bucketwarden-stream,Arn={arn},RoleArn=<EventsToStreamRole ARN>,KinesisParameters={{PartitionKeyPath=$.detail.requestParameters.bucketName}}' (or redeploy the stack)"
            ),
            Destination::CentralBus(_) => "redeploy deploy/member-account.yaml with the central stack's CentralEventBusArn".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all_match(p: &Value) -> Vec<Match> {
        EventName::ALL
            .iter()
            .map(|e| pattern_matches(p, *e))
            .collect()
    }

    #[test]
    fn content_filters_are_evaluated_as_eventbridge_does() {
        let p = json!({"source": ["aws.s3"], "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventName": [{"prefix": "Put"}, {"prefix": "Delete"}, {"suffix": "Bucket"},
                {"wildcard": "Co*Object"}, {"equals-ignore-case": "createmultipartupload"},
                {"prefix": "CreateAccess"}]}});
        assert!(
            all_match(&p).iter().all(|m| *m == Match::Yes),
            "{:?}",
            all_match(&p)
        );
        let but = json!({"source": ["aws.s3"], "detail": {"eventName": [{"anything-but": ["PutObjectAcl"]}]}});
        assert_eq!(pattern_matches(&but, EventName::PutObjectAcl), Match::No);
        assert_eq!(pattern_matches(&but, EventName::PutObject), Match::Yes);
        // Another source: nothing matches.
        let other = json!({"source": ["aws.ec2"], "detail": {"eventName": ["PutBucketAcl"]}});
        assert_eq!(pattern_matches(&other, EventName::PutBucketAcl), Match::No);
        // A filter on something the call does not determine only narrows.
        let acct = json!({"source": ["aws.s3"], "account": ["111122223333"]});
        assert!(
            matches!(pattern_matches(&acct, EventName::PutBucketAcl), Match::Depends(w) if w == "account")
        );
        let or =
            json!({"source": ["aws.s3"], "$or": [{"detail": {"eventName": ["PutBucketAcl"]}}]});
        assert!(matches!(
            pattern_matches(&or, EventName::PutBucketAcl),
            Match::Depends(_)
        ));
    }

    fn rule(state: &str, targets: &[&str]) -> RuleFacts {
        RuleFacts {
            name: "r".into(),
            state: state.into(),
            pattern: Some(json!({"source": ["aws.s3"], "detail": {"eventName": EventName::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>()}}).to_string()),
            targets: targets.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_member_rule_must_target_an_event_bus_of_the_fleet_account() {
        let dest = Destination::CentralBus("111122223333".into());
        let ok = judge(
            "2",
            "r",
            &Ok(Some(rule(
                "ENABLED",
                &["arn:aws:events:us-east-1:111122223333:event-bus/central"],
            ))),
            &dest,
        );
        assert!(ok.iter().all(|i| i.status == Status::Ok), "{ok:?}");
        let foreign = judge(
            "2",
            "r",
            &Ok(Some(rule(
                "ENABLED",
                &["arn:aws:events:us-east-1:999999999999:event-bus/central"],
            ))),
            &dest,
        );
        assert_eq!(
            foreign
                .iter()
                .find(|i| i.check == "eventbridge.target")
                .unwrap()
                .status,
            Status::Fail
        );
        let stream = Destination::Stream("arn:aws:kinesis:us-east-1:1:stream/s".into());
        let items = judge(
            "1",
            "r",
            &Ok(Some(rule(
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
                &["arn:aws:kinesis:us-east-1:1:stream/s"],
            ))),
            &stream,
        );
        assert!(items.iter().all(|i| i.status == Status::Ok), "{items:?}");
    }
}
