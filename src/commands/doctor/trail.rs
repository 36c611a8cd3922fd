//! The CloudTrail checks, pure: given the trails an account sees (as `aws::trail_read` read
//! them), is one logging, and do the logging trails' selectors record every watched management
//! call and the S3 data events object ACLs need. Makes no call.

use crate::aws::error::AwsError;
use crate::aws::trail_read::{AdvancedSelector, BasicSelector, FieldSelector, TrailFacts};
use crate::core::event_name::EventName;

use super::check::{unreadable, Item, Status};
use super::watched::{data_events, is_data_event, management_events};

/// How a trail's selectors cover one watched call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// Every such call is logged.
    Full,
    /// Logged only where a further condition holds (listed buckets, an ARN prefix, …).
    Narrowed(String),
    None,
}

impl Coverage {
    fn rank(&self) -> u8 {
        match self {
            Coverage::Full => 2,
            Coverage::Narrowed(_) => 1,
            Coverage::None => 0,
        }
    }
    fn best(self, other: Coverage) -> Coverage {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// The S3 data resource values that mean "every object of every bucket". AWS (DataResource):
/// "To log data events for all objects in all S3 buckets in your Amazon Web Services account,
/// specify the prefix as `arn:aws:s3`."
fn is_all_objects(value: &str) -> bool {
    let v = value.trim_end_matches(":::").trim_end_matches("::");
    v.starts_with("arn:") && v.ends_with(":s3") && v.matches(':').count() == 2
}

fn writes(read_write_type: &str) -> bool {
    read_write_type == "All" || read_write_type == "WriteOnly"
}

/// A basic selector's coverage of a watched call (a write: none of them is read-only).
pub fn basic_covers(s: &BasicSelector, e: EventName) -> Coverage {
    if !writes(&s.read_write_type) {
        return Coverage::None;
    }
    if !is_data_event(e) {
        return if s.include_management_events {
            Coverage::Full
        } else {
            Coverage::None
        };
    }
    let mut narrowed: Vec<&str> = Vec::new();
    for (kind, values) in &s.data_resources {
        if kind != "AWS::S3::Object" {
            continue;
        }
        if values.iter().any(|v| is_all_objects(v)) {
            return Coverage::Full;
        }
        narrowed.extend(values.iter().map(String::as_str));
    }
    if narrowed.is_empty() {
        Coverage::None
    } else {
        Coverage::Narrowed(format!("only objects under {}", narrowed.join(", ")))
    }
}

fn admits(f: &FieldSelector, value: &str) -> bool {
    (f.equals.is_empty() || f.equals.iter().any(|v| v == value))
        && (f.starts_with.is_empty() || f.starts_with.iter().any(|p| value.starts_with(p.as_str())))
        && (f.ends_with.is_empty() || f.ends_with.iter().any(|p| value.ends_with(p.as_str())))
        && !f.not_equals.iter().any(|v| v == value)
        && !f
            .not_starts_with
            .iter()
            .any(|p| value.starts_with(p.as_str()))
        && !f.not_ends_with.iter().any(|p| value.ends_with(p.as_str()))
}

/// The value of a field for a watched call, when the call alone determines it.
fn field_value(field: &str, e: EventName) -> Option<&'static str> {
    let data = is_data_event(e);
    match field {
        "eventCategory" => Some(if data { "Data" } else { "Management" }),
        "eventName" => Some(e.as_str()),
        "readOnly" => Some("false"),
        "eventSource" => Some("s3.amazonaws.com"),
        "resources.type" if data => Some("AWS::S3::Object"),
        _ => None,
    }
}

/// An advanced selector's coverage of a watched call: every field condition must admit it; a
/// condition on a field the call alone does not determine (a bucket ARN, an identity) narrows.
pub fn advanced_covers(s: &AdvancedSelector, e: EventName) -> Coverage {
    let mut narrowed = Vec::new();
    for f in &s.fields {
        match field_value(&f.field, e) {
            Some(v) => {
                if !admits(f, v) {
                    return Coverage::None;
                }
            }
            None => narrowed.push(f.field.clone()),
        }
    }
    if narrowed.is_empty() {
        Coverage::Full
    } else {
        Coverage::Narrowed(format!("only where {} match", narrowed.join(", ")))
    }
}

/// The best coverage of `e` by any of the trails' selectors.
fn coverage(trails: &[&TrailFacts], e: EventName) -> Coverage {
    let mut best = Coverage::None;
    for t in trails {
        let Ok(s) = &t.selectors else { continue };
        for b in &s.basic {
            best = best.best(basic_covers(b, e));
        }
        for a in &s.advanced {
            best = best.best(advanced_covers(a, e));
        }
    }
    best
}

const SELECTOR_FIX: &str = "aws cloudtrail put-event-selectors --trail-name TRAIL --advanced-event-selectors \
'[{\"Name\":\"Management events\",\"FieldSelectors\":[{\"Field\":\"eventCategory\",\"Equals\":[\"Management\"]}]},\
{\"Name\":\"S3 object ACL changes\",\"FieldSelectors\":[{\"Field\":\"eventCategory\",\"Equals\":[\"Data\"]},\
{\"Field\":\"resources.type\",\"Equals\":[\"AWS::S3::Object\"]},{\"Field\":\"readOnly\",\"Equals\":[\"false\"]},\
{\"Field\":\"eventName\",\"Equals\":[\"PutObjectAcl\",\"PutObject\",\"CopyObject\",\"CreateMultipartUpload\"]}]}]' \
(the deploy template's selectors; or redeploy with S3DataEvents=all)";

/// The CloudTrail items of one account. `data_events_optional`: the deployment deliberately logs
/// no S3 data events (`S3DataEvents=none`), so missing ones are a warning, not a failure.
pub fn judge(
    account: &str,
    trails: &Result<Vec<TrailFacts>, AwsError>,
    data_events_optional: bool,
) -> Vec<Item> {
    let trails = match trails {
        Ok(t) => t,
        Err(e) => {
            return vec![unreadable(
                account,
                "cloudtrail.logging",
                e,
                "cloudtrail:DescribeTrails",
            )]
        }
    };
    if trails.is_empty() {
        return vec![Item::new(
            account,
            "cloudtrail.logging",
            Status::Fail,
            "no trail: no S3 call of this account reaches EventBridge as a CloudTrail event",
        )
        .fix("deploy deploy/bucketwarden.yaml (its Trail), or create a multi-region trail and start it")];
    }
    let mut items = Vec::new();
    let logging: Vec<&TrailFacts> = trails
        .iter()
        .filter(|t| matches!(t.logging, Ok(true)))
        .collect();
    let unread: Vec<&TrailFacts> = trails.iter().filter(|t| t.logging.is_err()).collect();
    if logging.is_empty() {
        if let Some(t) = unread.first() {
            let e = t.logging.as_ref().err().expect("unread");
            items.push(unreadable(
                account,
                "cloudtrail.logging",
                e,
                "cloudtrail:GetTrailStatus",
            ));
        } else {
            let names: Vec<&str> = trails.iter().map(|t| t.name.as_str()).collect();
            items.push(
                Item::new(
                    account,
                    "cloudtrail.logging",
                    Status::Fail,
                    format!(
                        "no trail is logging ({} stopped): the fleet is blind to this account",
                        names.join(", ")
                    ),
                )
                .fix(format!("aws cloudtrail start-logging --name {}", names[0])),
            );
        }
        return items;
    }
    let names: Vec<&str> = logging.iter().map(|t| t.name.as_str()).collect();
    if logging.iter().any(|t| t.multi_region) {
        items.push(Item::ok(
            account,
            "cloudtrail.logging",
            format!("logging: {}", names.join(", ")),
        ));
    } else {
        items.push(
            Item::new(
                account,
                "cloudtrail.logging",
                Status::Warn,
                format!(
                    "logging, but only in their home region ({}): calls in other regions are not recorded",
                    logging.iter().map(|t| format!("{} in {}", t.name, t.home_region)).collect::<Vec<_>>().join(", ")
                ),
            )
            .fix(format!("aws cloudtrail update-trail --name {} --is-multi-region-trail", names[0])),
        );
    }
    let read: Vec<&TrailFacts> = logging
        .iter()
        .copied()
        .filter(|t| t.selectors.is_ok())
        .collect();
    if read.is_empty() {
        let e = logging[0].selectors.as_ref().err().expect("unread");
        items.push(unreadable(
            account,
            "cloudtrail.management-events",
            e,
            "cloudtrail:GetEventSelectors",
        ));
        items.push(unreadable(
            account,
            "cloudtrail.data-events",
            e,
            "cloudtrail:GetEventSelectors",
        ));
        return items;
    }
    items.push(selector_item(
        account,
        "cloudtrail.management-events",
        &read,
        &management_events(),
        Status::Fail,
        "S3 management events",
    ));
    items.push(selector_item(
        account,
        "cloudtrail.data-events",
        &read,
        &data_events(),
        if data_events_optional {
            Status::Warn
        } else {
            Status::Fail
        },
        "S3 data events (object ACLs and uploads with an ACL)",
    ));
    items
}

fn selector_item(
    account: &str,
    check: &str,
    trails: &[&TrailFacts],
    events: &[EventName],
    missing_status: Status,
    what: &str,
) -> Item {
    let mut missing = Vec::new();
    let mut narrowed = Vec::new();
    for e in events {
        match coverage(trails, *e) {
            Coverage::Full => {}
            Coverage::Narrowed(why) => narrowed.push(format!("{} ({why})", e.as_str())),
            Coverage::None => missing.push(e.as_str()),
        }
    }
    let names: Vec<&str> = trails.iter().map(|t| t.name.as_str()).collect();
    if !missing.is_empty() {
        Item::new(
            account,
            check,
            missing_status,
            format!(
                "{what}: the logging trails' selectors do not record {}",
                missing.join(", ")
            ),
        )
        .fix(SELECTOR_FIX.replace("TRAIL", names[0]))
    } else if !narrowed.is_empty() {
        Item::new(
            account,
            check,
            Status::Warn,
            format!("{what}: recorded only in part: {}", narrowed.join("; ")),
        )
        .fix("check the selectors' conditions cover every bucket you want guarded")
    } else {
        Item::ok(
            account,
            check,
            format!(
                "{what}: all {} watched calls recorded ({})",
                events.len(),
                names.join(", ")
            ),
        )
    }
}
