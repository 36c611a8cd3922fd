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
            let e = t.logging.as_ref().expect_err("unread");
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
        let e = logging[0].selectors.as_ref().expect_err("unread");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::trail_read::Selectors;

    fn basic(rw: &str, mgmt: bool, objects: &[&str]) -> BasicSelector {
        BasicSelector {
            read_write_type: rw.into(),
            include_management_events: mgmt,
            data_resources: if objects.is_empty() {
                vec![]
            } else {
                vec![(
                    "AWS::S3::Object".into(),
                    objects.iter().map(|s| s.to_string()).collect(),
                )]
            },
        }
    }

    fn field(name: &str, equals: &[&str]) -> FieldSelector {
        FieldSelector {
            field: name.into(),
            equals: equals.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// AWS (DataResource): "To log data events for all objects in all S3 buckets in your Amazon
    /// Web Services account, specify the prefix as arn:aws:s3", and "To log data events for all
    /// objects in an S3 bucket, specify the bucket and an empty object prefix such as
    /// arn:aws:s3:::amzn-s3-demo-bucket1/" (only that bucket: narrowed).
    #[test]
    fn basic_selectors_cover_all_buckets_only_with_the_account_wide_prefix() {
        let e = EventName::PutObjectAcl;
        assert_eq!(
            basic_covers(&basic("All", true, &["arn:aws:s3"]), e),
            Coverage::Full
        );
        assert_eq!(
            basic_covers(&basic("WriteOnly", false, &["arn:aws:s3:::"]), e),
            Coverage::Full
        );
        assert!(
            matches!(basic_covers(&basic("All", true, &["arn:aws:s3:::b1/"]), e), Coverage::Narrowed(w) if w.contains("b1"))
        );
        // A read-only selector records no write, management or data.
        assert_eq!(
            basic_covers(&basic("ReadOnly", true, &["arn:aws:s3"]), e),
            Coverage::None
        );
        assert_eq!(
            basic_covers(&basic("ReadOnly", true, &[]), EventName::PutBucketAcl),
            Coverage::None
        );
        // AWS: "By default, trails created without specific event selectors are configured to log
        // all read and write management events, and no data events."
        assert_eq!(
            basic_covers(&basic("All", true, &[]), EventName::PutBucketAcl),
            Coverage::Full
        );
        assert_eq!(basic_covers(&basic("All", true, &[]), e), Coverage::None);
        assert_eq!(
            basic_covers(
                &basic("All", false, &["arn:aws:s3"]),
                EventName::PutBucketPolicy
            ),
            Coverage::None
        );
    }

    /// AWS (Filtering data events by using advanced event selectors): "readOnly … A value of true
    /// logs only read events. A value of false logs only write events. If you do not add this
    /// field, CloudTrail logs both read and write events."
    #[test]
    fn advanced_selectors_are_evaluated_field_by_field() {
        let data = AdvancedSelector {
            name: "objects".into(),
            fields: vec![
                field("eventCategory", &["Data"]),
                field("resources.type", &["AWS::S3::Object"]),
                field("readOnly", &["false"]),
                field("eventName", &["PutObjectAcl", "PutObject"]),
            ],
        };
        assert_eq!(
            advanced_covers(&data, EventName::PutObjectAcl),
            Coverage::Full
        );
        assert_eq!(
            advanced_covers(&data, EventName::CopyObject),
            Coverage::None
        );
        assert_eq!(
            advanced_covers(&data, EventName::PutBucketAcl),
            Coverage::None
        );
        let reads = AdvancedSelector {
            name: "r".into(),
            fields: vec![
                field("eventCategory", &["Data"]),
                field("readOnly", &["true"]),
            ],
        };
        assert_eq!(
            advanced_covers(&reads, EventName::PutObjectAcl),
            Coverage::None
        );
        let mut listed = data.clone();
        listed.fields.push(FieldSelector {
            field: "resources.ARN".into(),
            starts_with: vec!["arn:aws:s3:::b1/".into()],
            ..Default::default()
        });
        assert!(
            matches!(advanced_covers(&listed, EventName::PutObjectAcl), Coverage::Narrowed(w) if w.contains("resources.ARN"))
        );
        let excluded = AdvancedSelector {
            name: "no acl".into(),
            fields: vec![
                field("eventCategory", &["Data"]),
                FieldSelector {
                    field: "eventName".into(),
                    not_equals: vec!["PutObjectAcl".into()],
                    ..Default::default()
                },
            ],
        };
        assert_eq!(
            advanced_covers(&excluded, EventName::PutObjectAcl),
            Coverage::None
        );
        assert_eq!(
            advanced_covers(&excluded, EventName::PutObject),
            Coverage::Full
        );
        let management = AdvancedSelector {
            name: "m".into(),
            fields: vec![field("eventCategory", &["Management"])],
        };
        assert_eq!(
            advanced_covers(&management, EventName::PutBucketAcl),
            Coverage::Full
        );
        assert_eq!(
            advanced_covers(&management, EventName::PutObjectAcl),
            Coverage::None
        );
    }

    fn trail(name: &str, logging: bool, selectors: Selectors) -> TrailFacts {
        TrailFacts {
            name: name.into(),
            arn: format!("arn:aws:cloudtrail:us-east-1:1:trail/{name}"),
            home_region: "us-east-1".into(),
            multi_region: true,
            logging: Ok(logging),
            selectors: Ok(selectors),
        }
    }

    #[test]
    fn only_logging_trails_count_and_a_failed_read_is_unknown_not_ok() {
        let everything = Selectors {
            basic: vec![basic("All", true, &["arn:aws:s3"])],
            advanced: vec![],
        };
        let stopped = trail("stopped", false, everything.clone());
        let mgmt_only = trail(
            "mgmt",
            true,
            Selectors {
                basic: vec![basic("All", true, &[])],
                advanced: vec![],
            },
        );
        let items = judge("1", &Ok(vec![stopped, mgmt_only]), false);
        let by = |c: &str| items.iter().find(|i| i.check == c).unwrap().status;
        assert_eq!(by("cloudtrail.logging"), Status::Ok);
        assert_eq!(by("cloudtrail.management-events"), Status::Ok);
        // The stopped trail's data selectors do not count.
        assert_eq!(by("cloudtrail.data-events"), Status::Fail);

        let denied = AwsError::other("cloudtrail", "GetTrailStatus", "denied");
        let mut t = trail("t", true, everything);
        t.logging = Err(denied);
        let items = judge("1", &Ok(vec![t]), false);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].status, Status::Unknown);
        assert!(items[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("cloudtrail:GetTrailStatus"));
        assert_eq!(judge("1", &Ok(vec![]), false)[0].status, Status::Fail);
    }
}
